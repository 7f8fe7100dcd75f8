"""Decode ceilings on this machine's MLX device: the memory bandwidth (a large
device copy) and the bandwidth MLX's own 4-bit quantized mat-vec reaches (the
kernel every quantized decode step runs), and for each model folder given the
decode tokens/s each ceiling allows (its weight bytes, all read once per step,
divided by the bandwidth).

usage: python engine/bench/ceilings.py [MODEL_DIR ...]
"""

import json
import sys
import time
from pathlib import Path

import mlx.core as mx


def timed(fn, runs=20):
    fn()
    mx.synchronize()
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        mx.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def copy_bandwidth():
    a = mx.random.uniform(shape=(1 << 28,)).astype(mx.float16)  # 512 MiB
    mx.eval(a)
    t = timed(lambda: mx.eval(a + 1))
    return 2 * a.nbytes / t  # read and write


def qmv_bandwidth(n=16384, k=16384, bits=4, group=64):
    w = mx.random.normal(shape=(n, k)).astype(mx.float16)
    wq, scales, biases = mx.quantize(w, group_size=group, bits=bits)
    x = mx.random.normal(shape=(1, k)).astype(mx.float16)
    mx.eval(wq, scales, biases, x)
    nbytes = wq.nbytes + scales.nbytes + biases.nbytes
    t = timed(lambda: mx.eval(mx.quantized_matmul(x, wq, scales, biases, transpose=True, group_size=group, bits=bits)))
    return nbytes / t


def weight_bytes(model):
    total = 0
    for f in Path(model).glob("*.safetensors"):
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        for name, t in header.items():
            if name != "__metadata__":
                total += t["data_offsets"][1] - t["data_offsets"][0]
    return total


def main():
    dev = mx.default_device()
    bw = copy_bandwidth()
    qbw = qmv_bandwidth()
    print(f"device {dev}: copy bandwidth {bw / 1e9:.0f} GB/s; MLX 4-bit mat-vec {qbw / 1e9:.0f} GB/s")
    for model in sys.argv[1:]:
        b = weight_bytes(model)
        print(f"{Path(model).name}: {b / 1e9:.3f} GB of weights read per decode step; "
              f"ceilings: memory {bw / b:.0f} tok/s, MLX kernel {qbw / b:.0f} tok/s")


if __name__ == "__main__":
    main()
