"""Writes a vocabulary-only GGUF as llama.cpp's converters lay one out
(tokens, token types, scores or merges, special ids, and llama
hyperparameters so that llama.cpp loads it), with gguf-py's GGUFWriter.

Usage: vocab_gguf.py llama2c TOKENIZER.bin OUT.gguf
       vocab_gguf.py spm DIR OUT.gguf
       vocab_gguf.py bpe DIR PRE OUT.gguf

llama2c: a SentencePiece ("llama") vocabulary from llama2.c's tokenizer export
  (scores as SentencePiece gave them; the exporter wrote spaces for U+2581 and
  "\\n<s>\\n" for the BOS text).
spm: a SentencePiece vocabulary from a Hugging Face folder whose tokenizer.json
  is a converted SentencePiece BPE model (byte fallback). Its merges are ranked
  by SentencePiece score, so a token's score is minus the rank of the first
  merge that makes it.
bpe: a byte-level BPE ("gpt2") vocabulary with pre-tokenizer PRE from a Hugging
  Face folder, as convert_hf_to_gguf.py writes one: added tokens are control
  tokens when special, user-defined otherwise; BOS/EOS/padding ids and
  add_bos_token from tokenizer_config.json when it sets them.
"""
import json
import struct
import sys

import gguf

T = gguf.TokenType


def from_llama2c(path):
    data = open(path, "rb").read()
    off, tokens, scores = 4, [], []
    while off < len(data):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        tokens.append(data[off:off + n].decode("utf-8").replace(" ", "\u2581"))
        scores.append(score)
        off += n
    tokens[1], tokens[2] = "<s>", "</s>"
    return tokens, scores


def hf_tokens(folder):
    doc = json.load(open(folder + "/tokenizer.json"))
    vocab = dict(doc["model"]["vocab"])
    for a in doc["added_tokens"]:
        vocab[a["content"]] = a["id"]
    tokens = [None] * (max(vocab.values()) + 1)
    for tok, i in vocab.items():
        tokens[i] = tok
    merges = [m if isinstance(m, str) else " ".join(m) for m in doc["model"]["merges"]]
    return tokens, merges, doc["added_tokens"]


def spm_type(i, tok):
    if i == 0:
        return T.UNKNOWN
    if i in (1, 2):
        return T.CONTROL
    if len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
        return T.BYTE
    return T.NORMAL


def writer(out):
    w = gguf.GGUFWriter(out, "llama")
    w.add_context_length(512)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(8)
    w.add_head_count_kv(4)
    w.add_rope_dimension_count(8)
    w.add_layer_norm_rms_eps(1e-5)
    return w


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_spm(out, tokens, scores):
    w = writer(out)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types([spm_type(i, t) for i, t in enumerate(tokens)])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    finish(w)


def write_bpe(folder, pre, out):
    tokens, merges, added = hf_tokens(folder)
    types = [T.NORMAL] * len(tokens)
    for a in added:
        types[a["id"]] = T.CONTROL if a["special"] else T.USER_DEFINED
    cfg = json.load(open(folder + "/tokenizer_config.json"))
    w = writer(out)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    ids = {t: i for i, t in enumerate(tokens)}
    for key, add in (("bos_token", w.add_bos_token_id), ("eos_token", w.add_eos_token_id),
                     ("pad_token", w.add_pad_token_id)):
        if isinstance(cfg.get(key), str):
            add(ids[cfg[key]])
    if cfg.get("add_bos_token") is not None:
        w.add_add_bos_token(cfg["add_bos_token"])
    finish(w)


def main():
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "llama2c":
        write_spm(args[1], *from_llama2c(args[0]))
    elif kind == "spm":
        tokens, merges, _ = hf_tokens(args[0])
        first_rank = {}
        for rank, m in enumerate(merges):
            left, right = m.split(" ", 1)
            first_rank.setdefault(left + right, rank)
        write_spm(args[1], tokens, [-float(first_rank[t] + 1) if t in first_rank else 0.0 for t in tokens])
    elif kind == "bpe":
        write_bpe(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
