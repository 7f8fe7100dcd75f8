# Quantizes a fixture model with mlx-lm (4-bit, with 8-bit per-layer
# overrides for the embedding and head) and prints, as JSON, mlx-lm's own
# parameter counts of the float and quantized models.
import json
import sys
from pathlib import Path

from mlx_lm.utils import get_total_parameters, load_model, quantize_model, save_config, save_model


def main(src, dst):
    model, config = load_model(Path(src))
    counts = {"float": get_total_parameters(model)}
    wide = lambda path, _: {"bits": 8, "group_size": 32} if "embed" in path or "lm_head" in path else True
    model, config = quantize_model(model, config, group_size=32, bits=4, quant_predicate=wide)
    save_model(dst, model)
    save_config(config, config_path=Path(dst) / "config.json")
    reloaded, _ = load_model(Path(dst))
    counts["quantized"] = get_total_parameters(reloaded)
    print(json.dumps(counts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
