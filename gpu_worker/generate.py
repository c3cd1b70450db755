"""Greedy answers from a trained model, rendered through the same chat template as training.

Used after training for the ``samples`` of the ``succeeded`` report (the serving side checks
that it answers the same), and by tests. Decoding is :func:`core.generation.run.generate`, the
path serving uses, so a sample and a served answer come from the same code.
"""

from __future__ import annotations

from typing import Any

from core.end_of_turn import end_of_turn_ids


def greedy(model: Any, tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
           max_new_tokens: int = 64) -> tuple[str, bool]:
    """The greedy answer to ``messages`` and whether it ended with an end-of-turn token."""
    from core.generation import SamplingParams
    from core.generation.run import generate

    prompt_ids = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True,
                                               tokenize=True, return_dict=True)["input_ids"]
    was_training = model.training
    model.eval()
    try:
        [choice] = generate(model, list(prompt_ids), SamplingParams(temperature=0.0), max_new_tokens=max_new_tokens,
                            end_ids=sorted(end_of_turn_ids(tokenizer)), pad_id=tokenizer.pad_token_id,
                            decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True))
    finally:
        model.train(was_training)
    return choice.text, choice.finish_reason == "stop"
