"""Deterministic pretraining of ``tiny-chat`` on the generated corpus (:mod:`core.tiny_chat.corpus`).

Two stages from the numpy-drawn weights of :mod:`core.tiny_chat.random_init`:

1. plain text, loss on every token: ``instruction / input / answer`` lines, so the model learns
   the language of the corpus, to copy spans and where answers end;
2. chat: the same skills rendered through the ChatML template, loss on the assistant's tokens
   and its ``<|im_end|>`` only, the way fine-tuning jobs train.

Byte-identical weights on every build on the same machine and library versions: fixed seeds, a
fixed data order, ``torch.use_deterministic_algorithms``, and a fixed thread count (the sum
order of a CPU matmul depends on the number of threads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.tiny_chat.corpus import Example, examples
from core.tiny_chat.shape import SEED, config_dict
from core.tiny_chat.tokenizer import BOS, IM_END, IM_START

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedTokenizerFast

THREADS = 1  # more threads lose to contention on a shared machine (OpenMP spin-waits)


@dataclass(frozen=True)
class Recipe:
    """Step counts and optimizer settings; :data:`RECIPE` is the one ``tiny-chat`` ships."""

    text_steps: int = 800
    chat_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.01
    seed: int = SEED


RECIPE = Recipe()


def render_text(ex: Example, tokenizer: PreTrainedTokenizerFast) -> tuple[list[int], list[int]]:
    """Token ids and labels of a plain-text example (every token is learned)."""
    system, user, answer = ex
    text = (f"{system}\n" if system else "") + f"{user}\n{answer}{BOS}"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids, list(ids)


def render_chat(ex: Example, tokenizer: PreTrainedTokenizerFast) -> tuple[list[int], list[int]]:
    """Token ids and labels of a ChatML conversation (the assistant's answer and ``<|im_end|>`` learned).

    The same text :data:`core.tiny_chat.tokenizer.CHAT_TEMPLATE` renders, tokenized in two parts
    (specials split the byte-level pre-tokenization, so the parts tokenize as the whole does).
    """
    system, user, answer = ex
    prompt = (f"{IM_START}system\n{system}{IM_END}\n" if system else "") + \
        f"{IM_START}user\n{user}{IM_END}\n{IM_START}assistant\n"
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a = tokenizer(f"{answer}{IM_END}", add_special_tokens=False)["input_ids"]
    return p + a, [-100] * len(p) + a


def pretrain(tokenizer: PreTrainedTokenizerFast, init: dict[str, np.ndarray], recipe: Recipe = RECIPE,
             log: Any = None) -> dict[str, np.ndarray]:
    """Train from ``init`` (a numpy state dict) and return the trained state dict (numpy, float32)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(recipe.seed)
        config = LlamaConfig(**config_dict(len(tokenizer)))
        model = LlamaForCausalLM(config)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()}, strict=False)
        model.tie_weights()
        model.train()
        decay = [p for n, p in model.named_parameters() if p.ndim == 2]
        rest = [p for n, p in model.named_parameters() if p.ndim != 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}],
                                lr=recipe.learning_rate, betas=(0.9, 0.95))
        total = recipe.text_steps + recipe.chat_steps
        stream = examples(recipe.seed)
        for step in range(total):
            render = render_text if step < recipe.text_steps else render_chat
            rows = [render(next(stream), tokenizer) for _ in range(recipe.batch_size)]
            ids, labels, mask = _pad(rows, torch)
            lr = recipe.learning_rate * _schedule(step, total, recipe.warmup_steps)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if log is not None and (step % 50 == 0 or step == total - 1):
                log(f"step {step + 1}/{total} loss {loss.item():.3f}")
        state = model.state_dict()
        return {k: state[k].detach().contiguous().numpy().copy() for k in init}
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _schedule(step: int, total: int, warmup: int) -> float:
    """Linear warmup, then cosine decay to a tenth."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def _pad(rows: list[tuple[list[int], list[int]]], torch: Any) -> tuple[Any, Any, Any]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, lab) in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        labels[i, :len(lab)] = torch.tensor(lab)
        mask[i, :len(row)] = 1
    return ids, labels, mask
