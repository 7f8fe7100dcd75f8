# Layout compatibility checks with huggingface_hub, driven by compat_test.go.
#   scan CACHE REPO      -> JSON of scan_cache_dir(CACHE) plus the snapshot
#                           path snapshot_download resolves offline for REPO
#   download CACHE REPO  -> snapshot_download(REPO) from $HF_ENDPOINT with
#                           mlx-lm's allow patterns; prints the snapshot path
import json
import sys

from huggingface_hub import scan_cache_dir, snapshot_download

MLX_LM_PATTERNS = ["*.json", "model*.safetensors", "*.py", "tokenizer.model", "*.tiktoken",
                   "tiktoken.model", "*.txt", "*.jsonl", "*.jinja"]


def scan(cache, repo):
    info = scan_cache_dir(cache)
    out = {
        "warnings": [str(w) for w in info.warnings],
        "repos": [
            {
                "repo_id": r.repo_id,
                "size_on_disk": r.size_on_disk,
                "revisions": [
                    {"commit_hash": rev.commit_hash, "refs": sorted(rev.refs),
                     "files": sorted(f.file_name for f in rev.files)}
                    for rev in r.revisions
                ],
            }
            for r in info.repos
        ],
        "offline_snapshot": snapshot_download(repo, cache_dir=cache, local_files_only=True),
    }
    print(json.dumps(out))


def download(cache, repo):
    print(json.dumps({"snapshot": snapshot_download(repo, cache_dir=cache, allow_patterns=MLX_LM_PATTERNS)}))


if __name__ == "__main__":
    {"scan": scan, "download": download}[sys.argv[1]](sys.argv[2], sys.argv[3])
