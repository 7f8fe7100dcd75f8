"""Reference data from llama.cpp's gguf-py for the GGUF reader's tests.

Usage:
  gguf_ref.py dequant OUTDIR
      For each ggml type, random blocks in OUTDIR/TYPE.raw and gguf-py's
      dequantization of them (gguf.quants.dequantize) in OUTDIR/TYPE.f32.
  gguf_ref.py write SPEC.json OUT.gguf
      A GGUF written by gguf.GGUFWriter with the metadata SPEC lists
      ([{"key", "type", "sub", "value"}]) and a few tensors at alignment 64;
      prints what gguf.GGUFReader reads back of the tensors as JSON
      ([{"name", "type", "dims", "offset", "sha256"}]).
"""
import hashlib
import json
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q

# Offsets of each block type's float16 fields (scales, mins), which random
# bytes could turn into NaN or infinity.
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}
N_BLOCKS = 96


def random_f16(rng, n):
    """Finite float16 values over many magnitudes, subnormals and zero included."""
    v = rng.standard_normal(n) * 10.0 ** rng.uniform(-7, 2, n)
    v[:4] = [0.0, -0.0, 3e-7, -5e-8]  # zero, negative zero, float16 subnormals
    return v.astype(np.float16)


def dequant(outdir):
    rng = np.random.default_rng(20240601)
    for name, fields in F16_FIELDS.items():
        qtype = Q[name]
        _, type_size = gguf.GGML_QUANT_SIZES[qtype]
        blocks = rng.integers(0, 256, (N_BLOCKS, type_size), dtype=np.uint8)
        for off in fields:
            blocks[:, off:off + 2] = random_f16(rng, N_BLOCKS).view(np.uint8).reshape(N_BLOCKS, 2)
        save(outdir, name, blocks, qtype)
    floats = rng.standard_normal(512).astype(np.float32) * 10.0 ** rng.uniform(-30, 30, 512).astype(np.float32)
    save(outdir, "F32", floats.view(np.uint8), Q.F32)
    save(outdir, "F16", random_f16(rng, 512).view(np.uint8), Q.F16)
    save(outdir, "BF16", gguf.quants.quantize(floats, Q.BF16), Q.BF16)


def save(outdir, name, raw, qtype):
    raw = np.ascontiguousarray(raw).reshape(-1)
    ref = gguf.quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
    raw.tofile(f"{outdir}/{name}.raw")
    ref.tofile(f"{outdir}/{name}.f32")


def write(spec_path, out):
    spec = json.load(open(spec_path))
    w = gguf.GGUFWriter(out, "llama")
    w.add_custom_alignment(64)
    for kv in spec:
        sub = gguf.GGUFValueType[kv["sub"]] if kv.get("sub") else None
        w.add_key_value(kv["key"], kv["value"], gguf.GGUFValueType[kv["type"]], sub_type=sub)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    w.add_tensor("a.f32", x)
    w.add_tensor("b.f16", rng.standard_normal((5,)).astype(np.float16))
    w.add_tensor("c.q8_0", gguf.quants.quantize(x, Q.Q8_0), raw_dtype=Q.Q8_0)
    w.add_tensor("d.q4_k", rng.integers(0, 256, (2, 144), dtype=np.uint8), raw_dtype=Q.Q4_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = gguf.GGUFReader(out)
    data_start = min(t.data_offset for t in r.tensors)
    print(json.dumps([{
        "name": t.name, "type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
        "offset": int(t.data_offset - data_start),
        "sha256": hashlib.sha256(np.ascontiguousarray(t.data).tobytes()).hexdigest(),
    } for t in r.tensors]))


if __name__ == "__main__":
    {"dequant": lambda: dequant(sys.argv[2]), "write": lambda: write(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
