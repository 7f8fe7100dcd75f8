"""Gemma 4 text fixtures (issue 14): per-layer input embeddings, K/V shared
by the last layers, proportional (partial) rope on full layers with their own
head dim, value norm, k = v attention, the MoE block beside the dense MLP,
double-wide MLPs on shared layers, per-layer scalars and logit softcapping.
Loaded by gen_fixtures.py, which injects VOCAB and STD.
"""


def _config(**kw):
    from transformers import Gemma4TextConfig

    rope = {
        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
    }
    return Gemma4TextConfig(
        vocab_size=VOCAB,
        vocab_size_per_layer_input=VOCAB,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        hidden_activation="gelu_pytorch_tanh",
        rope_parameters=rope,
        sliding_window=6,
        final_logit_softcapping=3.0,
        tie_word_embeddings=False,
        attention_bias=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
        **kw,
    )


def _flat(cfg, global_head_dim, num_global_key_value_heads=None):
    """transformers 5.15+ folds the full layers' head_dim (and k = v KV heads)
    into per_layer_config; the published checkpoints carry the flat
    global_head_dim / num_global_key_value_heads that mlx-lm reads. Write
    both, so mlx-lm can load the fixture too (same geometry)."""
    cfg.global_head_dim = global_head_dim
    if num_global_key_value_heads is not None:
        cfg.num_global_key_value_heads = num_global_key_value_heads
    return cfg


def _scalars(model, seed):
    """layer_scalar is a buffer (build() only randomizes parameters): give
    each layer its own so a port that ignores it fails."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.layer_scalar.copy_(0.5 + torch.rand(1, generator=g))
    return model


def gemma4_text_h64(dtype):
    """Gemma 4 text (the 2B/4B shape), hidden 64: 3 query heads over 1 KV
    head, head_dim 16 on sliding layers and 32 on full ones (proportional
    rope rotating a quarter), window 6, per-layer inputs of width 32, the
    last 2 of 5 layers sharing K/V (one sliding, one full: each takes the
    last earlier layer of its type) with double-wide MLPs, untied head and
    softcap 3."""
    from transformers import Gemma4ForCausalLM

    cfg = _config(
        hidden_size=64,
        intermediate_size=32,
        num_hidden_layers=5,
        num_attention_heads=3,
        num_key_value_heads=1,
        head_dim=16,
        global_head_dim=32,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"],
        num_kv_shared_layers=2,
        hidden_size_per_layer_input=32,
        use_double_wide_mlp=True,
        attention_k_eq_v=False,
        enable_moe_block=False,
    )
    _flat(cfg, 32)
    return _scalars(Gemma4ForCausalLM(cfg), 7), cfg


def gemma4_text_moe_h96(dtype):
    """Gemma 4 text (the 26B shape), hidden 96: 4 query heads over 2 KV heads
    on the sliding layer (head_dim 16) and 1 KV head on the full layer, whose
    values are its keys (attention_k_eq_v, head_dim 32), no per-layer inputs,
    no K/V sharing, and the MoE block (4 experts of width 32, top-2) beside
    the dense MLP of width 64. transformers forces the last layer to be full."""
    from transformers import Gemma4ForCausalLM

    cfg = _config(
        hidden_size=96,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_global_key_value_heads=1,
        head_dim=16,
        global_head_dim=32,
        layer_types=["sliding_attention", "full_attention"],
        num_kv_shared_layers=0,
        hidden_size_per_layer_input=0,
        use_double_wide_mlp=False,
        attention_k_eq_v=True,
        enable_moe_block=True,
        num_experts=4,
        top_k_experts=2,
        moe_intermediate_size=32,
    )
    _flat(cfg, 32, 1)
    return _scalars(Gemma4ForCausalLM(cfg), 8), cfg


FIXTURES = {
    "gemma4_text_h64": gemma4_text_h64,
    "gemma4_text_moe_h96": gemma4_text_moe_h96,
}
