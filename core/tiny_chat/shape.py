"""The shape of ``tiny-chat`` (a Llama) and its ``config.json``, written by hand: no torch needed."""

from __future__ import annotations

from typing import Any

SEED = 20261123
VOCAB_SIZE = 2048
HIDDEN = 128
INTERMEDIATE = 512
LAYERS = 2
HEADS = 8
KV_HEADS = 4
HEAD_DIM = HIDDEN // HEADS
MAX_POSITIONS = 2048
INITIALIZER_RANGE = 0.1
EMBEDDING_RANGE = 0.25


def config_dict(vocab_size: int) -> dict[str, Any]:
    """``config.json`` of the model."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "max_position_embeddings": MAX_POSITIONS,
        "initializer_range": INITIALIZER_RANGE,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "use_cache": True,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 3,
        "dtype": "float32",
    }


def n_params() -> int:
    """Parameter count (the tied embedding counted once)."""
    per_layer = (2 * HEADS * HEAD_DIM * HIDDEN + 2 * KV_HEADS * HEAD_DIM * HIDDEN
                 + 3 * HIDDEN * INTERMEDIATE + 2 * HIDDEN)
    return VOCAB_SIZE * HIDDEN + LAYERS * per_layer + HIDDEN
