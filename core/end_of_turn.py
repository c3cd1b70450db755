"""End-of-turn tokens: where an assistant turn ends, for training, serving and export alike.

Training labels each assistant message up to and including its end-of-turn token (so the model
learns to stop); generation stops at any of these ids. One list, so both sides agree on every
base model: the markers of common chat templates, the tokenizer's EOS, and the EOS ids of the
model's ``generation_config.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: End-of-turn specials of common chat templates (ChatML, Llama 3, Phi, Gemma, GPT-2 style, Llama 2).
END_OF_TURN_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>")


def end_of_turn_markers(tokenizer: Any) -> list[str]:
    """The markers this tokenizer knows, its EOS token first."""
    markers = [m for m in END_OF_TURN_MARKERS if m in tokenizer.get_vocab()]
    if tokenizer.eos_token and tokenizer.eos_token not in markers:
        markers.insert(0, tokenizer.eos_token)
    return markers


def end_of_turn_ids(tokenizer: Any, model_dir: Path | None = None) -> frozenset[int]:
    """Token ids that end the assistant's turn: the markers' ids, EOS, and the EOS ids of
    ``model_dir/generation_config.json`` when given."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[m] for m in END_OF_TURN_MARKERS if m in vocab}
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if model_dir is not None and (model_dir / "generation_config.json").is_file():
        eos = json.loads((model_dir / "generation_config.json").read_text()).get("eos_token_id")
        ids.update(eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else [])
    return frozenset(ids)
