"""Hybrid-model fixtures (issue 14): LFM2 (gated short convolutions beside
attention) and Qwen3-Next / Qwen3.5 (Gated DeltaNet linear attention beside
gated full attention). Loaded by gen_fixtures.py, which injects VOCAB and STD.

Shapes differ from the shared fixtures on purpose: hidden sizes that are no
power of two, GQA ratios other than 1 and 2, convolution windows of 3 and 4,
attention at the first layer or only in the middle, MoE with a shared expert.
"""


def lfm2_h80(dtype):
    """LFM2, hidden 80: 5 query heads over 1 KV head (head_dim 16), conv
    window 3 without bias, layers conv, attention, conv, conv (the first conv
    layer is layer 0), feed-forward auto-adjusted (2/3 · 160 · 1.5 rounded
    up to a multiple of 16 = 160), tied embeddings."""
    from transformers import Lfm2Config, Lfm2ForCausalLM

    cfg = Lfm2Config(
        vocab_size=VOCAB,
        hidden_size=80,
        intermediate_size=160,
        num_hidden_layers=4,
        num_attention_heads=5,
        num_key_value_heads=1,
        max_position_embeddings=256,
        norm_eps=1e-5,
        conv_bias=False,
        conv_L_cache=3,
        block_multiple_of=16,
        block_ffn_dim_multiplier=1.5,
        block_auto_adjust_ff_dim=True,
        layer_types=["conv", "full_attention", "conv", "conv"],
        rope_theta=10000.0,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Lfm2ForCausalLM(cfg), cfg


def lfm2_h48_bias(dtype):
    """LFM2, hidden 48: 6 query heads over 2 KV heads (head_dim 8), conv
    window 4 with biases (in/out projections and the convolution), layers
    attention, conv, conv, attention, conv (the first layer is attention, so
    the conv mask comes from layer 1), feed-forward width 72 used as is."""
    from transformers import Lfm2Config, Lfm2ForCausalLM

    cfg = Lfm2Config(
        vocab_size=VOCAB,
        hidden_size=48,
        intermediate_size=72,
        num_hidden_layers=5,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=256,
        norm_eps=1e-5,
        conv_bias=True,
        conv_L_cache=4,
        block_multiple_of=8,
        block_ffn_dim_multiplier=1.0,  # unused without auto-adjust (transformers wants a float)
        block_auto_adjust_ff_dim=False,
        layer_types=["full_attention", "conv", "conv", "full_attention", "conv"],
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Lfm2ForCausalLM(cfg), cfg


def _qwen3_next_cfg(cls, **over):
    kw = dict(
        vocab_size=VOCAB,
        hidden_size=72,
        intermediate_size=96,
        num_hidden_layers=4,
        num_attention_heads=3,
        num_key_value_heads=1,
        head_dim=32,
        partial_rotary_factor=0.25,
        rope_theta=10000.0,
        linear_conv_kernel_dim=4,
        linear_key_head_dim=16,
        linear_value_head_dim=24,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        num_experts=4,
        num_experts_per_tok=2,
        moe_intermediate_size=16,
        shared_expert_intermediate_size=24,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        norm_topk_prob=True,
        full_attention_interval=2,
        layer_types=["linear_attention", "full_attention", "linear_attention", "full_attention"],
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    kw.update(over)
    return cls(**kw)


def qwen3_next_h72(dtype):
    """Qwen3-Next, hidden 72: Gated DeltaNet layers (2 key heads of 16, 4
    value heads of 24, conv 4) alternating with gated full attention (3
    query heads over 1 KV head of 32, partial rope 0.25), MoE in every layer
    (4 experts of 16, top-2, normalized) with a gated shared expert of 24."""
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    cfg = _qwen3_next_cfg(Qwen3NextConfig)
    return Qwen3NextForCausalLM(cfg), cfg


def qwen3_next_h64_dense(dtype):
    """Qwen3-Next, hidden 64, 3 layers (linear, linear, full), the middle
    layer dense (mlp_only_layers), 1 key head over 2 value heads, conv 3."""
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    cfg = _qwen3_next_cfg(
        Qwen3NextConfig, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, partial_rotary_factor=0.5,
        linear_conv_kernel_dim=3, linear_key_head_dim=16, linear_value_head_dim=16,
        linear_num_key_heads=1, linear_num_value_heads=2, mlp_only_layers=[1],
        full_attention_interval=3,
        layer_types=["linear_attention", "linear_attention", "full_attention"])
    return Qwen3NextForCausalLM(cfg), cfg


def qwen3_5_h64(dtype):
    """Qwen3.5 text (dense), hidden 64, 4 layers (linear x3, full), 2 key
    heads of 16 over 4 value heads of 16, conv 4, 4 query heads over 2 KV
    heads of 16, partial rope 0.25."""
    import transformers

    cfg_cls = getattr(transformers, "Qwen3_5TextConfig")
    model_cls = getattr(transformers, "Qwen3_5ForCausalLM")
    cfg = _qwen3_next_cfg(
        cfg_cls, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, linear_key_head_dim=16,
        linear_value_head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4,
        full_attention_interval=4, num_experts=0, num_experts_per_tok=0,
        layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"])
    return model_cls(cfg), cfg


def qwen3_5_moe_h128(dtype):
    """Qwen3.5-MoE text, hidden 128, 3 layers (linear x2, full), 1 key head of
    16 over 3 value heads of 20, conv 4, 5 query heads over 1 KV head of 16,
    partial rope 0.25; every layer sparse: 6 fused experts of 24 (top-3,
    normalized) with a gated shared expert of 16."""
    import transformers

    names = [n for n in dir(transformers) if n.startswith("Qwen3_5Moe")]
    cfg_cls = getattr(transformers, "Qwen3_5MoeTextConfig", None)
    model_cls = getattr(transformers, "Qwen3_5MoeForCausalLM", None)
    if cfg_cls is None or model_cls is None:
        raise SystemExit(f"qwen3_5_moe_h128: transformers has {names}")
    cfg = _qwen3_next_cfg(
        cfg_cls, hidden_size=128, num_hidden_layers=3, num_attention_heads=5,
        num_key_value_heads=1, head_dim=16, linear_key_head_dim=16,
        linear_value_head_dim=20, linear_num_key_heads=1, linear_num_value_heads=3,
        full_attention_interval=3, num_experts=6, num_experts_per_tok=3,
        moe_intermediate_size=24, shared_expert_intermediate_size=16,
        layer_types=["linear_attention", "linear_attention", "full_attention"])
    return model_cls(cfg), cfg


FIXTURES = {
    "qwen3_5_h64": qwen3_5_h64,
    "qwen3_5_moe_h128": qwen3_5_moe_h128,
    "lfm2_h80": lfm2_h80,
    "lfm2_h48_bias": lfm2_h48_bias,
    "qwen3_next_h72": qwen3_next_h72,
    "qwen3_next_h64_dense": qwen3_next_h64_dense,
}
