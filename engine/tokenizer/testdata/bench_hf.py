"""Print the tokens/s of the Hugging Face tokenizers library encoding a text.

Usage: python bench_hf.py TOKENIZER_JSON TEXT_FILE  (run by BenchmarkPythonTokenizers)
"""
import sys
import time

from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
text = open(sys.argv[2], encoding="utf-8").read()
n = len(tok.encode(text, add_special_tokens=False).ids)
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    tok.encode(text, add_special_tokens=False)
    best = min(best, time.perf_counter() - start)
print(n / best)
