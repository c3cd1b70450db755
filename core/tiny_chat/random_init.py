"""Random weights of ``tiny-chat`` drawn with numpy (``tiny-chat-random``, and the start of pretraining).

``initializer_range`` is 0.1 (with the usual 0.02 the logits stay near uniform and LoRA
stalls) and the tied embedding / output matrix is drawn wider (0.25): LoRA never touches it,
and with rows too short the softmax cannot become confident.
"""

from __future__ import annotations

import numpy as np

from core.tiny_chat.shape import (
    EMBEDDING_RANGE, HEAD_DIM, HEADS, HIDDEN, INITIALIZER_RANGE, INTERMEDIATE, KV_HEADS, LAYERS, SEED,
)


def weights(vocab_size: int, seed: int = SEED, std: float = INITIALIZER_RANGE,
            embedding_std: float = EMBEDDING_RANGE) -> dict[str, np.ndarray]:
    """The state dict, drawn from normal distributions (norms at one) in a fixed order."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int, std: float = std) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    sd: dict[str, np.ndarray] = {}
    emb = normal(vocab_size, HIDDEN, std=embedding_std)
    emb[0] = 0.0  # the padding row, as transformers initialises it
    sd["model.embed_tokens.weight"] = emb
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        sd[p + "self_attn.q_proj.weight"] = normal(HEADS * HEAD_DIM, HIDDEN)
        sd[p + "self_attn.k_proj.weight"] = normal(KV_HEADS * HEAD_DIM, HIDDEN)
        sd[p + "self_attn.v_proj.weight"] = normal(KV_HEADS * HEAD_DIM, HIDDEN)
        sd[p + "self_attn.o_proj.weight"] = normal(HIDDEN, HEADS * HEAD_DIM)
        sd[p + "mlp.gate_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        sd[p + "mlp.up_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        sd[p + "mlp.down_proj.weight"] = normal(HIDDEN, INTERMEDIATE)
        sd[p + "input_layernorm.weight"] = np.ones(HIDDEN, dtype=np.float32)
        sd[p + "post_attention_layernorm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    sd["model.norm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    return sd  # lm_head is tied to the embeddings
