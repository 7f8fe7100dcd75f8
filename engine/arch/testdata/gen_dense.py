"""Fixtures of the dense decoders of issue 14: SmolLM3, OLMo 3, Ministral 3
and Mistral 3 (text-only). Loaded by gen_fixtures.py, which sets VOCAB and
STD in this module before it runs; each function returns (model, config).

    python3 engine/arch/testdata/gen_fixtures.py --out engine/arch/testdata/models \
        smollm3_h80 smollm3_h64 olmo3_h72 olmo3_h64 ministral3_h96 mistral3_h64
"""

VOCAB = 384  # replaced by gen_fixtures.py
STD = 0.2


def smollm3_h80(dtype):
    """SmolLM3, hidden 80 (no power of two), 5 query heads over 1 KV head of
    head_dim 16, four layers of which the third has no rope (from
    no_rope_layer_interval 3, saved as the expanded no_rope_layers list),
    tied embeddings and rope base 2e6 (transformers' default)."""
    from transformers import SmolLM3Config, SmolLM3ForCausalLM

    cfg = SmolLM3Config(
        vocab_size=VOCAB,
        hidden_size=80,
        intermediate_size=112,
        num_hidden_layers=4,
        num_attention_heads=5,
        num_key_value_heads=1,
        no_rope_layer_interval=3,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return SmolLM3ForCausalLM(cfg), cfg


def smollm3_h64(dtype):
    """SmolLM3, hidden 64 (every width a multiple of 64, so the quantized
    comparisons with mlx_lm cover every module): 4 query heads over 1 KV head
    of head_dim 16, NoPE in the first and last of four layers (an explicit
    no_rope_layers list), untied head, rope base 1e4."""
    from transformers import SmolLM3Config, SmolLM3ForCausalLM

    cfg = SmolLM3Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=1,
        no_rope_layers=[0, 1, 1, 0],
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return SmolLM3ForCausalLM(cfg), cfg


def olmo3_h64(dtype):
    """OLMo 3, hidden 64 (quantizable at groups 32 and 64): 4 query heads
    over 4 KV heads (no grouping) of head_dim 16, layers sliding / full /
    sliding with window 5, plain rope of base 5e5 on both kinds, intermediate
    192, tied embeddings."""
    from transformers import Olmo3Config, Olmo3ForCausalLM

    cfg = Olmo3Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        sliding_window=5,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Olmo3ForCausalLM(cfg), cfg


def olmo3_h72(dtype):
    """OLMo 3, hidden 72: 6 query heads over 2 KV heads (head_dim 12), q/k
    RMSNorms over the whole projections, post-norms only, three sliding
    layers (window 6, crossed by every prompt but the first) then a full one
    whose rope is YaRN (factor 4 over 16 original positions) while the
    sliding ones keep plain rope, untied head."""
    from transformers import Olmo3Config, Olmo3ForCausalLM

    cfg = Olmo3Config(
        vocab_size=VOCAB,
        hidden_size=72,
        intermediate_size=136,
        num_hidden_layers=4,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=64,
        sliding_window=6,
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            "full_attention": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                               "original_max_position_embeddings": 16},
        },
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Olmo3ForCausalLM(cfg), cfg


def _ministral3_rope(orig, factor):
    return {
        "rope_type": "yarn",
        "rope_theta": 1000000.0,
        "factor": factor,
        "original_max_position_embeddings": orig,
        "max_position_embeddings": orig * int(factor),
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "mscale": 1.0,
        "mscale_all_dim": 1.0,
        "llama_4_scaling_beta": 0.1,
    }


def ministral3_h96(dtype):
    """Ministral 3, hidden 96: 4 query heads over 1 KV head of head_dim 32
    (not hidden/heads), YaRN rope and the llama-4 query temperature over 8
    original positions, so the 23-token prompt and the greedy decode cross
    two of its steps; three layers, untied head."""
    from transformers import Ministral3Config, Ministral3ForCausalLM

    cfg = Ministral3Config(
        vocab_size=VOCAB,
        hidden_size=96,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=32,
        rope_parameters=_ministral3_rope(8, 4.0),
        sliding_window=None,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Ministral3ForCausalLM(cfg), cfg


def mistral3_h64(dtype):
    """Mistral 3 vision-language checkpoint with a tiny Pixtral tower, run on
    text alone: the language model is Ministral 3 (hidden 64, 4 query heads
    over 2 KV heads of head_dim 16, two layers, temperature steps every 16
    positions), its weights under model.language_model."""
    from transformers import Ministral3Config, Mistral3Config, Mistral3ForConditionalGeneration, PixtralVisionConfig

    text = Ministral3Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=64,
        rope_parameters=_ministral3_rope(16, 4.0),
        sliding_window=None,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    vision = PixtralVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        head_dim=8, patch_size=4, image_size=16, num_channels=3,
    )
    cfg = Mistral3Config(
        text_config=text, vision_config=vision, image_token_index=0, spatial_merge_size=2,
        tie_word_embeddings=False, attn_implementation="eager",
    )
    model = Mistral3ForConditionalGeneration(cfg)
    if getattr(model.config, "vocab_size", None) is None:
        model.config.vocab_size = VOCAB
    return model, cfg


FIXTURES = {
    "smollm3_h80": smollm3_h80,
    "smollm3_h64": smollm3_h64,
    "olmo3_h72": olmo3_h72,
    "olmo3_h64": olmo3_h64,
    "ministral3_h96": ministral3_h96,
    "mistral3_h64": mistral3_h64,
}
