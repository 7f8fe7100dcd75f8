"""gpt-oss fixtures (issue 14): attention sinks, alternating sliding / full
layers, YaRN rope (truncate false, as openai/gpt-oss ships it), a mixture of
experts with biases, the clamped SwiGLU and softmax after the top-k router.
Loaded by gen_fixtures.py, which injects VOCAB and STD.
"""

import transformers


def _config(**kw):
    """GptOssConfig with the YaRN settings of the real models (factor 32 over
    4096 positions, beta 32 / 1, no truncation of the correction range),
    written as transformers 4 (rope_scaling) or 5 (rope_parameters) expects."""
    from transformers import GptOssConfig

    yarn = {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
            "original_max_position_embeddings": 4096, "truncate": False}
    theta = 150000.0
    if int(transformers.__version__.split(".")[0]) >= 5:
        kw["rope_parameters"] = dict(yarn, rope_theta=theta)
    else:
        kw["rope_scaling"] = yarn
        kw["rope_theta"] = theta
    return GptOssConfig(
        vocab_size=VOCAB,
        # 32 · 4096 as in the real models: transformers derives YaRN's factor
        # from max_position_embeddings / original_max_position_embeddings.
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        attention_bias=True,
        swiglu_limit=7.0,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
        **kw,
    )


def gpt_oss_h96(dtype):
    """gpt-oss, hidden 96: 4 query heads over 2 KV heads of head_dim 16
    (attention width 64 ≠ hidden), layers sliding (window 6, which the 23-token
    prompt crosses) then full, 4 experts of width 32, top-2."""
    from transformers import GptOssForCausalLM

    cfg = _config(
        hidden_size=96,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        sliding_window=6,
        layer_types=["sliding_attention", "full_attention"],
        num_local_experts=4,
        num_experts_per_tok=2,
    )
    return GptOssForCausalLM(cfg), cfg


def gpt_oss_l3(dtype):
    """gpt-oss, hidden 64, three layers full, sliding, sliding (window 4):
    6 query heads over 2 KV heads (GQA 3) of head_dim 16, 8 experts of width
    16, top-3 (69 token-expert pairs on the 23-token prompt: the sorted
    expert path)."""
    from transformers import GptOssForCausalLM

    cfg = _config(
        hidden_size=64,
        intermediate_size=16,
        num_hidden_layers=3,
        num_attention_heads=6,
        num_key_value_heads=2,
        head_dim=16,
        sliding_window=4,
        layer_types=["full_attention", "sliding_attention", "sliding_attention"],
        num_local_experts=8,
        num_experts_per_tok=3,
    )
    return GptOssForCausalLM(cfg), cfg


FIXTURES = {
    "gpt_oss_h96": gpt_oss_h96,
    "gpt_oss_l3": gpt_oss_l3,
}
