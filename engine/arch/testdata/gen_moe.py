"""Fixtures of the large MoE architectures (issue 14): glm4_moe and
deepseek_v3 (multi-head latent attention). Loaded by gen_fixtures.py, which
sets VOCAB and STD before this module runs.

Both routers are DeepSeek's noaux_tc: sigmoid scores plus a per-expert
e_score_correction_bias (a buffer transformers leaves at zero, so it is drawn
here: a zero bias would not test that it is added for the choice and left out
of the weights), grouped top-k (n_group / topk_group), routed_scaling_factor,
shared experts, and the first_k_dense_replace layers dense.
"""

def _bias(model, std=0.1):
    """Draw every router's e_score_correction_bias (a buffer, not a parameter)."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            b = getattr(m, "e_score_correction_bias", None)
            if isinstance(b, torch.Tensor):
                b.normal_(0.0, std)
    return model


def glm4_moe_h72(dtype):
    """GLM-4.5 MoE, hidden 72: 3 query heads over 1 KV head of head_dim 32
    with half of it rotated (partial_rotary_factor 0.5), q/k norms, q/k/v
    biases (no o bias); layer 0 dense, layers 1-2 with 8 experts of width 12
    in 4 groups (top-2 groups, then top-3 experts, normalized, scaled by 2.5)
    and one shared expert."""
    from transformers import Glm4MoeConfig, Glm4MoeForCausalLM

    cfg = Glm4MoeConfig(
        vocab_size=VOCAB,
        hidden_size=72,
        intermediate_size=64,
        moe_intermediate_size=12,
        num_hidden_layers=3,
        num_attention_heads=3,
        num_key_value_heads=1,
        head_dim=32,
        partial_rotary_factor=0.5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
        use_qk_norm=True,
        attention_bias=True,
        n_routed_experts=8,
        n_shared_experts=1,
        num_experts_per_tok=3,
        n_group=4,
        topk_group=2,
        norm_topk_prob=True,
        routed_scaling_factor=2.5,
        first_k_dense_replace=1,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return _bias(Glm4MoeForCausalLM(cfg)), cfg


def glm4_moe_h60(dtype):
    """GLM-4 MoE, hidden 60: 4 query heads over 2 KV heads of head_dim 20
    (8 rotated: partial_rotary_factor 0.4), no q/k norm and no biases; every
    layer sparse (first_k_dense_replace 0), 6 experts of width 8 in one
    group, top-2 without normalization, scale 1, and two shared experts.
    (transformers' grouped expert matmul wants rows of 16-byte multiples:
    widths here are multiples of 4.)"""
    from transformers import Glm4MoeConfig, Glm4MoeForCausalLM

    cfg = Glm4MoeConfig(
        vocab_size=VOCAB,
        hidden_size=60,
        intermediate_size=48,
        moe_intermediate_size=8,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=20,
        partial_rotary_factor=0.4,
        rope_parameters={"rope_type": "default", "rope_theta": 5000.0, "partial_rotary_factor": 0.4},
        use_qk_norm=False,
        attention_bias=False,
        n_routed_experts=6,
        n_shared_experts=2,
        num_experts_per_tok=2,
        n_group=1,
        topk_group=1,
        norm_topk_prob=False,
        routed_scaling_factor=1.0,
        first_k_dense_replace=0,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return _bias(Glm4MoeForCausalLM(cfg)), cfg


def deepseek_v3_h64(dtype):
    """DeepSeek-V3, hidden 64: MLA with 4 heads, q_lora_rank 24, kv_lora_rank
    32, qk_nope 16 + qk_rope 8 (interleaved), v_head_dim 12; yarn rope (factor
    4 over an original 16 positions, mscale 0.8 / mscale_all_dim 1: both the
    rope's and the softmax's scale differ from 1); layer 0 dense, layers 1-2
    with 8 experts of width 16 in 4 groups (top-2 groups, top-2 experts,
    normalized, scale 2.5) and one shared expert."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    cfg = DeepseekV3Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=80,
        moe_intermediate_size=16,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=4,
        q_lora_rank=24,
        kv_lora_rank=32,
        qk_nope_head_dim=16,
        qk_rope_head_dim=8,
        v_head_dim=12,
        n_routed_experts=8,
        n_shared_experts=1,
        num_experts_per_tok=2,
        n_group=4,
        topk_group=2,
        norm_topk_prob=True,
        routed_scaling_factor=2.5,
        first_k_dense_replace=1,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                         "original_max_position_embeddings": 16, "beta_fast": 32.0, "beta_slow": 1.0,
                         "mscale": 0.8, "mscale_all_dim": 1.0},
        max_position_embeddings=64,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return _bias(DeepseekV3ForCausalLM(cfg)), cfg


def deepseek_v3_h48(dtype):
    """DeepSeek-V3 / Kimi-K2 shape without q LoRA (q_proj), hidden 48: 3
    heads, kv_lora_rank 20, qk_nope 8 + qk_rope 16, v_head_dim 16, plain
    rope (theta 50000); every layer sparse, 6 experts of width 8 in one group,
    top-3 normalized, scale 1.5, two shared experts."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    cfg = DeepseekV3Config(
        vocab_size=VOCAB,
        hidden_size=48,
        intermediate_size=64,
        moe_intermediate_size=8,
        num_hidden_layers=2,
        num_attention_heads=3,
        num_key_value_heads=3,
        q_lora_rank=None,
        kv_lora_rank=20,
        qk_nope_head_dim=8,
        qk_rope_head_dim=16,
        v_head_dim=16,
        n_routed_experts=6,
        n_shared_experts=2,
        num_experts_per_tok=3,
        n_group=1,
        topk_group=1,
        norm_topk_prob=True,
        routed_scaling_factor=1.5,
        first_k_dense_replace=0,
        rope_parameters={"rope_type": "default", "rope_theta": 50000.0},
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return _bias(DeepseekV3ForCausalLM(cfg)), cfg


FIXTURES = {
    "glm4_moe_h72": glm4_moe_h72,
    "glm4_moe_h60": glm4_moe_h60,
    "deepseek_v3_h64": deepseek_v3_h64,
    "deepseek_v3_h48": deepseek_v3_h48,
}
