"""The decoder configs (``config.json`` fields) that the memory model is checked against and measured on."""

from __future__ import annotations

from typing import Any


def decoder_config(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int, vocab: int,
                   tied: bool) -> dict[str, Any]:
    """The ``config.json`` fields of a Llama-style decoder that size its memory."""
    return {"hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv_heads, "vocab_size": vocab,
            "tie_word_embeddings": tied}


LLAMA_8B = decoder_config(4096, 14336, 32, 32, 8, 128256, tied=False)  # Llama-3.1-8B
LLAMA_1B = decoder_config(2048, 8192, 16, 32, 8, 128256, tied=False)
LLAMA_1B_TIED = decoder_config(2048, 8192, 16, 32, 8, 128256, tied=True)  # Llama-3.2-1B
QWEN_05B = decoder_config(896, 4864, 24, 14, 2, 151936, tied=True)  # Qwen2.5-0.5B
