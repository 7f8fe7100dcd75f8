"""Write a random-weight model folder with real dimensions, exactly as mlx-lm writes one.

Usage:
    python engine/bench/make_model.py --config qwen3-0.6b --out DIR \
        [--bits 4 --group-size 64] [--dtype bfloat16] [--seed 0] [--tokenizer DIR] \
        [--layers N]
    python engine/bench/make_model.py --config NAME --dry-run [--layers N]   # parameter count
    python engine/bench/make_model.py --config NAME --print tokenizer|layers  # for bench_arch.sh

The model class comes from mlx_lm (the same lookup ``mlx_lm.utils.load_model``
uses), every matrix is drawn from a seeded normal distribution (std 0.02),
1-D parameters keep the module's own initialisation (norm weights at identity)
except biases, which are zero. With ``--bits`` the model is quantized by
``mlx_lm.utils.quantize_model`` (affine mode) and saved by
``mlx_lm.utils.save_model`` / ``save_config``, so the folder holds
``config.json`` (with the ``quantization`` block), ``model.safetensors`` and
``model.safetensors.index.json``, plus ``generation_config.json`` and the
tokenizer files copied from ``--tokenizer``.

Shapes live in CONFIGS: adding an architecture is one entry.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.utils import _get_classes, quantize_model, save_config, save_model

QWEN3_0_6B = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 40960,
    "hidden_act": "silu",
    "attention_bias": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}

QWEN3_GENERATION = {
    "bos_token_id": 151643,
    "eos_token_id": [151645, 151643],
    "pad_token_id": 151643,
}

LLAMA_1B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "vocab_size": 128256,
    "tie_word_embeddings": True,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
    },
    "rms_norm_eps": 1e-5,
    "max_position_embeddings": 131072,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
}

LLAMA3_GENERATION = {
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
}

# SmolLM2-135M's body (a llama) with the Llama 3 vocabulary and special ids,
# since the fixtures hold the Llama 3.1 tokenizer but not SmolLM2's: a real
# small shape for CPU runs in float32 (about 180M parameters, 0.7 GB).
SMOLLM2_135M = {
    **LLAMA_1B,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "rope_theta": 100000.0,
    "max_position_embeddings": 8192,
}
del SMOLLM2_135M["rope_scaling"]

# The architectures of issue 14 at their public configs' dimensions (the
# Hugging Face config.json of the model named). Fields that only matter for
# long contexts (YaRN scaling on OLMo 3) or for vision towers are left out.
# BENCH_TOKENIZER names the fixture tokenizer each is benchmarked with
# (engine/bench/bench_arch.sh): the model's own when the fixtures hold it or
# one whose ids fit the vocabulary, else stories260k's 512-token one, which
# fits any vocabulary (the benchmark's prompt ids are then drawn below 512;
# every matrix keeps its real size). BENCH_LAYERS cuts num_hidden_layers of
# the very large ones (--layers) so the folder fits and builds in a minute.

# HuggingFaceTB/SmolLM3-3B: a llama with no RoPE on every 4th layer.
SMOLLM3_3B = {
    **LLAMA_1B,
    "architectures": ["SmolLM3ForCausalLM"],
    "model_type": "smollm3",
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 4,
    "head_dim": 128,
    "vocab_size": 128256,
    "tie_word_embeddings": True,
    "rope_theta": 5000000.0,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 65536,
    "no_rope_layer_interval": 4,
    "bos_token_id": 128000,
    "eos_token_id": 128012,
}
del SMOLLM3_3B["rope_scaling"]

# allenai/Olmo-3-1025-7B: post-norm, q/k norm over all heads, 3 sliding (4096)
# layers then 1 full.
OLMO3_7B = {
    "architectures": ["Olmo3ForCausalLM"],
    "model_type": "olmo3",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 100278,
    "max_position_embeddings": 65536,
    "rope_theta": 500000.0,
    "rms_norm_eps": 1e-6,
    "sliding_window": 4096,
    "layer_types": [
        "full_attention" if (i + 1) % 4 == 0 else "sliding_attention"
        for i in range(32)
    ],
    "attention_bias": False,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "bos_token_id": 100257,
    "eos_token_id": 100257,
}

# mistralai/Ministral-3-8B-Instruct-2512's text model, in the mistral3 wrapper
# it ships in (vision tower left out).
MINISTRAL3_8B = {
    "architectures": ["Mistral3ForConditionalGeneration"],
    "model_type": "mistral3",
    "text_config": {
        "model_type": "ministral3",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 34,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 131072,
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False,
        "hidden_act": "silu",
        "rope_parameters": {
            "rope_type": "yarn",
            "rope_theta": 1000000.0,
            "factor": 16.0,
            "original_max_position_embeddings": 16384,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "llama_4_scaling_beta": 0.1,
        },
    },
    "bos_token_id": 1,
    "eos_token_id": 2,
}

# LiquidAI/LFM2-1.2B: 10 gated short-convolution blocks and 6 attention
# blocks (at 2, 5, 8, 10, 12, 14); feed-forward 12288 auto-adjusted to 8192.
LFM2_1_2B = {
    "architectures": ["Lfm2ForCausalLM"],
    "model_type": "lfm2",
    "vocab_size": 65536,
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 128000,
    "norm_eps": 1e-5,
    "conv_bias": False,
    "conv_L_cache": 3,
    "block_dim": 2048,
    "block_ff_dim": 12288,
    "block_multiple_of": 256,
    "block_ffn_dim_multiplier": 1.0,
    "block_auto_adjust_ff_dim": True,
    "rope_theta": 1000000.0,
    "full_attn_idxs": [2, 5, 8, 10, 12, 14],
    "layer_types": [
        "full_attention" if i in (2, 5, 8, 10, 12, 14) else "conv"
        for i in range(16)
    ],
    "tie_embedding": True,
    "tie_word_embeddings": True,
    "bos_token_id": 1,
    "eos_token_id": 7,
}

# openai/gpt-oss-20b: 32 experts (4 active), attention sinks, alternating
# sliding (128) and full layers. Quantized here as 4-bit affine throughout
# (router 8-bit, mlx_lm's predicate), not mxfp4 as mlx-community ships it.
GPT_OSS_20B = {
    "architectures": ["GptOssForCausalLM"],
    "model_type": "gpt_oss",
    "num_hidden_layers": 24,
    "num_local_experts": 32,
    "num_experts_per_tok": 4,
    "vocab_size": 201088,
    "rms_norm_eps": 1e-5,
    "hidden_size": 2880,
    "intermediate_size": 2880,
    "head_dim": 64,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "sliding_window": 128,
    "rope_theta": 150000,
    "rope_scaling": {
        "rope_type": "yarn",
        "factor": 32.0,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "truncate": False,
        "original_max_position_embeddings": 4096,
    },
    "layer_types": [
        "sliding_attention" if i % 2 == 0 else "full_attention" for i in range(24)
    ],
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
    "bos_token_id": 199998,
    "eos_token_id": 200002,
}

# Qwen/Qwen3-Next-80B-A3B-Instruct: 3 gated-delta-net layers then 1 gated
# attention layer; 512 experts (10 active) of 512 plus a shared one.
QWEN3_NEXT_80B = {
    "architectures": ["Qwen3NextForCausalLM"],
    "model_type": "qwen3_next",
    "hidden_size": 2048,
    "num_hidden_layers": 48,
    "intermediate_size": 5120,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "head_dim": 256,
    "linear_num_value_heads": 32,
    "linear_num_key_heads": 16,
    "linear_key_head_dim": 128,
    "linear_value_head_dim": 128,
    "linear_conv_kernel_dim": 4,
    "num_experts": 512,
    "num_experts_per_tok": 10,
    "decoder_sparse_step": 1,
    "shared_expert_intermediate_size": 512,
    "mlp_only_layers": [],
    "moe_intermediate_size": 512,
    "norm_topk_prob": True,
    "rms_norm_eps": 1e-6,
    "vocab_size": 151936,
    "rope_theta": 10000000.0,
    "partial_rotary_factor": 0.25,
    "max_position_embeddings": 262144,
    "full_attention_interval": 4,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}

# zai-org/GLM-4.5-Air: layer 0 dense, then 128 routed experts (8 active) of
# 1408 plus one shared; 96/8 heads, half-rotary, q/k/v biases.
GLM45_AIR = {
    "architectures": ["Glm4MoeForCausalLM"],
    "model_type": "glm4_moe",
    "vocab_size": 151552,
    "hidden_size": 4096,
    "intermediate_size": 10944,
    "max_position_embeddings": 131072,
    "moe_intermediate_size": 1408,
    "norm_topk_prob": True,
    "num_attention_heads": 96,
    "n_group": 1,
    "head_dim": 128,
    "topk_group": 1,
    "n_shared_experts": 1,
    "n_routed_experts": 128,
    "routed_scaling_factor": 1.0,
    "num_experts_per_tok": 8,
    "first_k_dense_replace": 1,
    "num_hidden_layers": 46,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-5,
    "rope_theta": 1000000,
    "rope_scaling": None,
    "use_qk_norm": False,
    "tie_word_embeddings": False,
    "attention_bias": True,
    "partial_rotary_factor": 0.5,
    "bos_token_id": 151329,
    "eos_token_id": [151329, 151336, 151338],
}

# deepseek-ai/DeepSeek-V3: MLA (q LoRA 1536, kv LoRA 512), 3 dense layers,
# then 256 routed experts (8 active, 8 groups, top 4) of 2048 plus a shared one.
DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "model_type": "deepseek_v3",
    "vocab_size": 129280,
    "hidden_size": 7168,
    "intermediate_size": 18432,
    "moe_intermediate_size": 2048,
    "num_hidden_layers": 61,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "n_shared_experts": 1,
    "n_routed_experts": 256,
    "routed_scaling_factor": 2.5,
    "kv_lora_rank": 512,
    "q_lora_rank": 1536,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
    "qk_nope_head_dim": 128,
    "topk_method": "noaux_tc",
    "scoring_func": "sigmoid",
    "norm_topk_prob": True,
    "n_group": 8,
    "topk_group": 4,
    "num_experts_per_tok": 8,
    "moe_layer_freq": 1,
    "first_k_dense_replace": 3,
    "max_position_embeddings": 163840,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000,
    "rope_scaling": {
        "type": "yarn",
        "factor": 40,
        "beta_fast": 32,
        "beta_slow": 1,
        "mscale": 1.0,
        "mscale_all_dim": 1.0,
        "original_max_position_embeddings": 4096,
    },
    "attention_bias": False,
    "tie_word_embeddings": False,
    "bos_token_id": 0,
    "eos_token_id": 1,
}

QWEN3_5_ROPE = {
    "rope_type": "default",
    "rope_theta": 10000000,
    "partial_rotary_factor": 0.25,
    "mrope_section": [11, 11, 10],
    "mrope_interleaved": True,
}

# Qwen/Qwen3.5-27B's text model (vision tower left out): 3 gated-delta-net
# layers then 1 gated attention layer, dense feed-forward. Every dimension
# checked on 2026-12-01 against copies of the public config.json's
# text_config quoted in public repositories (a transformers Qwen3_5Config
# built from it; slime's scripts/models/qwen3.5-27B.sh): they agree, and
# --dry-run counts 26.90B parameters (the vision tower makes up the rest).
# The public config has no bos_token_id (null) and eos 248046 at the top,
# 248044 in text_config; the ids below only fill generation_config.json.
QWEN3_5_27B = {
    "architectures": ["Qwen3_5ForConditionalGeneration"],
    "model_type": "qwen3_5",
    "text_config": {
        "model_type": "qwen3_5_text",
        "hidden_size": 5120,
        "intermediate_size": 17408,
        "num_hidden_layers": 64,
        "num_attention_heads": 24,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "linear_num_value_heads": 48,
        "linear_num_key_heads": 16,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
        "full_attention_interval": 4,
        "vocab_size": 248320,
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "rope_parameters": QWEN3_5_ROPE,
    },
    "bos_token_id": 248044,
    "eos_token_id": 248046,
}

# Qwen/Qwen3.5-35B-A3B's text model: the same layout with 256 experts
# (8 active) of 512 plus a shared one. Dimensions checked on 2026-12-01
# against an inventory of the public config.json (Hub snapshot ec2d4ec)
# and a config quoted in a public repository: they agree (--dry-run: 34.66B
# parameters). The public config sets no norm_topk_prob; mlx_lm's qwen3_5
# defaults it to True, as here.
QWEN3_5_35B_A3B = {
    "architectures": ["Qwen3_5MoeForConditionalGeneration"],
    "model_type": "qwen3_5_moe",
    "text_config": {
        "model_type": "qwen3_5_moe_text",
        "hidden_size": 2048,
        "num_hidden_layers": 40,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "linear_num_value_heads": 32,
        "linear_num_key_heads": 16,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
        "full_attention_interval": 4,
        "num_experts": 256,
        "num_experts_per_tok": 8,
        "decoder_sparse_step": 1,
        "moe_intermediate_size": 512,
        "shared_expert_intermediate_size": 512,
        "norm_topk_prob": True,
        "vocab_size": 248320,
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "rope_parameters": QWEN3_5_ROPE,
    },
    "bos_token_id": 248044,
    "eos_token_id": 248046,
}


# google/gemma-4-31B-it's text model (the dense 31B; mlx-community and
# others ship it converted; vision tower left out), from its public
# config.json (transformers 5.7). Five sliding-window (1024) layers then
# one full layer; full layers have their own head size (512) and 4 KV
# heads whose keys are also the values (attention_k_eq_v: no v_proj).
# --dry-run counts 30.70B parameters.
GEMMA4_31B = {
    "architectures": ["Gemma4ForConditionalGeneration"],
    "model_type": "gemma4",
    "text_config": {
        "model_type": "gemma4_text",
        "hidden_size": 5376,
        "intermediate_size": 21504,
        "num_hidden_layers": 60,
        "num_attention_heads": 32,
        "num_key_value_heads": 16,
        "num_global_key_value_heads": 4,
        "head_dim": 256,
        "global_head_dim": 512,
        "attention_k_eq_v": True,
        "attention_bias": False,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size_per_layer_input": 0,
        "num_kv_shared_layers": 0,
        "use_double_wide_mlp": False,
        "enable_moe_block": False,
        "final_logit_softcapping": 30.0,
        "sliding_window": 1024,
        "layer_types": [
            "full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
            for i in range(60)
        ],
        "rope_parameters": {
            "full_attention": {
                "partial_rotary_factor": 0.25,
                "rope_theta": 1000000.0,
                "rope_type": "proportional",
            },
            "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"},
        },
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "vocab_size": 262144,
        "vocab_size_per_layer_input": 262144,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
    },
    "vocab_size": 262144,
    "tie_word_embeddings": True,
    "bos_token_id": 2,
    "eos_token_id": [1, 106],
}


def generation_of(config):
    """generation_config.json from a config's bos/eos ids."""
    return {k: config[k] for k in ("bos_token_id", "eos_token_id") if k in config}


# CONFIGS maps a --config name to (config.json fields, generation_config.json).
CONFIGS = {
    "qwen3-0.6b": (QWEN3_0_6B, QWEN3_GENERATION),
    "llama-1b": (LLAMA_1B, LLAMA3_GENERATION),
    # Qwen3-4B's shape (hidden 2560, 36 layers, 32/8 heads, head_dim 128,
    # intermediate 9728, tied embeddings).
    "qwen3-4b": (
        {
            **QWEN3_0_6B,
            "hidden_size": 2560,
            "intermediate_size": 9728,
            "num_hidden_layers": 36,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
        },
        QWEN3_GENERATION,
    ),
    "smollm2-135m": (SMOLLM2_135M, LLAMA3_GENERATION),
    # Qwen3 layout (per-head q/k norms, head_dim != hidden/heads) with the real
    # Qwen3 vocabulary, small enough for tests.
    "tiny-qwen3": (
        {
            **QWEN3_0_6B,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 32,
            "max_position_embeddings": 4096,
        },
        QWEN3_GENERATION,
    ),
    "smollm3-3b": (SMOLLM3_3B, generation_of(SMOLLM3_3B)),
    "olmo3-7b": (OLMO3_7B, generation_of(OLMO3_7B)),
    "ministral3-8b": (MINISTRAL3_8B, generation_of(MINISTRAL3_8B)),
    "lfm2-1.2b": (LFM2_1_2B, generation_of(LFM2_1_2B)),
    "gpt-oss-20b": (GPT_OSS_20B, generation_of(GPT_OSS_20B)),
    "qwen3-next-80b-a3b": (QWEN3_NEXT_80B, generation_of(QWEN3_NEXT_80B)),
    "glm-4.5-air": (GLM45_AIR, generation_of(GLM45_AIR)),
    "deepseek-v3": (DEEPSEEK_V3, generation_of(DEEPSEEK_V3)),
    "qwen3.5-27b": (QWEN3_5_27B, generation_of(QWEN3_5_27B)),
    "qwen3.5-35b-a3b": (QWEN3_5_35B_A3B, generation_of(QWEN3_5_35B_A3B)),
    "gemma4-31b": (GEMMA4_31B, generation_of(GEMMA4_31B)),
}

# The fixture tokenizer each benchmark folder gets (see above).
BENCH_TOKENIZER = {
    "smollm3-3b": "tokenizers/llama3_1",
    "olmo3-7b": "models/stories260k",
    "ministral3-8b": "tokenizers/llama3_1",
    "lfm2-1.2b": "models/stories260k",
    "gpt-oss-20b": "tokenizers/qwen3",
    "qwen3-next-80b-a3b": "tokenizers/qwen3",
    "glm-4.5-air": "models/stories260k",
    "deepseek-v3": "tokenizers/llama3_1",
    "qwen3.5-27b": "tokenizers/qwen3",
    "qwen3.5-35b-a3b": "tokenizers/qwen3",
    # The fixtures' Gemma 3 tokenizer has an id (262144) past Gemma 4's
    # vocabulary; Qwen3's ids all fit.
    "gemma4-31b": "tokenizers/qwen3",
}

# num_hidden_layers for the benchmark folders of the large models (every
# other dimension real; the cut keeps each model's layer pattern).
BENCH_LAYERS = {
    "gpt-oss-20b": 12,
    "qwen3-next-80b-a3b": 4,
    "glm-4.5-air": 4,
    "deepseek-v3": 4,
    "qwen3.5-27b": 8,
    "qwen3.5-35b-a3b": 8,
    "gemma4-31b": 12,  # two periods of 5 sliding + 1 full
}

TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
]

INIT_STD = 0.02


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, choices=sorted(CONFIGS))
    p.add_argument("--out", help="folder to create (must not exist)")
    p.add_argument("--bits", type=int, help="quantize to this many bits (affine)")
    p.add_argument("--group-size", type=int, default=64)
    p.add_argument(
        "--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"]
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenizer", help="folder with tokenizer.json to copy")
    p.add_argument(
        "--layers", type=int, help="cut num_hidden_layers to this (per-layer lists too)"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="build the model lazily and print its parameter count; write nothing",
    )
    p.add_argument(
        "--print",
        choices=["tokenizer", "layers"],
        help="print BENCH_TOKENIZER or BENCH_LAYERS for --config and exit",
    )
    return p.parse_args(argv)


def text_fields(config):
    """The dict holding the text model's fields (text_config when present)."""
    return config.get("text_config", config)


def cut_layers(config, n):
    """A copy of config with num_hidden_layers n and per-layer lists cut to match."""
    config = json.loads(json.dumps(config))
    t = text_fields(config)
    t["num_hidden_layers"] = n
    for key in ("layer_types", "no_rope_layers"):
        if isinstance(t.get(key), list):
            t[key] = t[key][:n]
    for key in ("full_attn_idxs", "mlp_only_layers"):
        if isinstance(t.get(key), list):
            t[key] = [i for i in t[key] if i < n]
    return config


def build_model(config, dtype, seed):
    """Instantiate the mlx_lm model class and fill it with seeded random weights."""
    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    mx.random.seed(seed)
    params = []
    for name, value in tree_flatten(model.parameters()):
        params.append((name, init_param(name, value, dtype)))
        mx.eval(params[-1][1])
    model.update(tree_unflatten(params))
    return model


def init_param(name, value, dtype):
    """Normal(0, INIT_STD) for matrices, zero biases, module defaults otherwise."""
    if value.ndim >= 2:
        return mx.random.normal(value.shape, dtype=mx.float32, scale=INIT_STD).astype(
            dtype
        )
    if name.endswith(".bias"):
        return mx.zeros(value.shape, dtype=dtype)
    return value.astype(dtype)


def check_tokenizer(src, vocab_size):
    """Fail before any work when the tokenizer is missing or does not fit."""
    src = Path(src)
    if not (src / "tokenizer.json").is_file():
        raise SystemExit(f"make_model: no tokenizer.json in {src}")
    tok = json.loads((src / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]  # a map for BPE, a list for Unigram
    ids = list(vocab.values() if isinstance(vocab, dict) else range(len(vocab)))
    ids += [a["id"] for a in tok["added_tokens"]]
    if max(ids) >= vocab_size:
        raise SystemExit(
            f"make_model: tokenizer id {max(ids)} does not fit vocab_size {vocab_size}"
        )


def copy_tokenizer(src, out):
    """Copy the tokenizer files that exist in src."""
    for name in TOKENIZER_FILES:
        if (Path(src) / name).is_file():
            shutil.copyfile(Path(src) / name, out / name)


def folder_bytes(out):
    """Total size of the files in out."""
    return sum(f.stat().st_size for f in out.iterdir() if f.is_file())


def main(argv):
    args = parse_args(argv)
    fields, generation = CONFIGS[args.config]
    if args.print == "tokenizer":
        print(BENCH_TOKENIZER.get(args.config, ""))
        return
    if args.print == "layers":
        print(BENCH_LAYERS.get(args.config, ""))
        return
    config = {**fields, "torch_dtype": args.dtype}
    if args.layers:
        config = cut_layers(config, args.layers)
    if args.dry_run:
        model_class, args_class = _get_classes(config)
        model = model_class(args_class.from_dict(config))
        n = sum(v.size for _, v in tree_flatten(model.parameters()))
        print(f"{args.config}: {model_class.__module__}, {n / 1e9:.2f}B parameters")
        return
    if not args.out:
        raise SystemExit("make_model: --out is required")
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"make_model: {out} already exists")
    if args.tokenizer:
        check_tokenizer(args.tokenizer, text_fields(config)["vocab_size"])
    start = time.perf_counter()
    model = build_model(config, getattr(mx, args.dtype), args.seed)
    if args.bits:
        model, config = quantize_model(
            model, config, args.group_size, args.bits, mode="affine"
        )
        mx.eval(model.parameters())
    out.mkdir(parents=True)
    save_model(out, model, donate_model=True)
    save_config(config, config_path=out / "config.json")
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
    if args.tokenizer:
        copy_tokenizer(args.tokenizer, out)
    seconds = time.perf_counter() - start
    size = folder_bytes(out)
    print(f"wrote {out}: {size / 2**20:.1f} MiB in {seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
