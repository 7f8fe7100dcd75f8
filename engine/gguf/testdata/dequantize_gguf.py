"""A float32 copy of a GGUF file, for the greedy parity test's reference.

Usage:
  dequantize_gguf.py IN.gguf OUT.gguf
      Writes OUT.gguf with IN.gguf's metadata (general.file_type set to
      ALL_F32) and every tensor dequantized to float32 by gguf-py
      (gguf.quants.dequantize): the values LMX's import computes with. With
      float32 weights llama.cpp does not round the activations of its
      matrix products to 8 bits, as it does for quantized weights (Q8_1
      for Q4_1), so the comparison sees only the two implementations.
"""
import sys

import numpy as np

import gguf

ALL_F32 = 0


def main(src, dst):
    reader = gguf.GGUFReader(src, "r")
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for field in reader.fields.values():
        # The architecture and the GGUF.* header fields the writer adds itself.
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = ALL_F32 if field.name == gguf.Keys.General.FILE_TYPE else field.contents()
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    data = []
    for t in reader.tensors:
        d = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        writer.add_tensor_info(t.name, d.shape, d.dtype, d.nbytes, gguf.GGMLQuantizationType.F32)
        data.append(d)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for d in data:
        writer.write_tensor_data(d)
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
