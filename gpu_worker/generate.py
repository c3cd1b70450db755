"""Greedy answers from a trained model, rendered through the same chat template as training.

Used after training for the ``samples`` of the ``succeeded`` report (the serving side checks
that it answers the same), and by tests.
"""

from __future__ import annotations

from typing import Any

from gpu_worker.data import END_OF_TURN_MARKERS


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end an assistant turn (eos plus the template's end-of-turn markers)."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[m] for m in END_OF_TURN_MARKERS if m in vocab}
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def greedy(model: Any, tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
           max_new_tokens: int = 64) -> tuple[str, bool]:
    """The greedy answer to ``messages`` and whether it ended with an end-of-turn token."""
    import torch

    enc = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    stops = stop_token_ids(tokenizer)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                                 pad_token_id=tokenizer.pad_token_id, use_cache=True)
    finally:
        model.train(was_training)
    new = out[0, enc["input_ids"].shape[1]:].tolist()
    stopped = bool(new) and new[-1] in stops
    if stopped:
        new = new[:-1]
    return tokenizer.decode(new, skip_special_tokens=True), stopped
