"""Encode and decode texts with the Hugging Face tokenizers library.

Usage: python reference.py JOB_JSON  (run by TestMatchesTokenizersLibrary)
JOB_JSON: {"tokenizers": {name: tokenizer.json path}, "texts": [text, ...]}
Prints {name: [{"ids", "ids_with_special", "decoded"}, ...]} as JSON.
"""
import json
import sys

from tokenizers import Tokenizer

job = json.load(open(sys.argv[1], encoding="utf-8"))
out = {}
for name, path in job["tokenizers"].items():
    tok = Tokenizer.from_file(path)
    rows = []
    for text in job["texts"]:
        ids = tok.encode(text, add_special_tokens=False).ids
        rows.append({
            "ids": ids,
            "ids_with_special": tok.encode(text, add_special_tokens=True).ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
        })
    out[name] = rows
json.dump(out, sys.stdout)
