"""The pretraining recipe of tiny-chat: deterministic, and the chat stage renders like the template."""

from __future__ import annotations

from pathlib import Path

from core import tiny_chat
from core.tiny_chat.corpus import examples
from core.tiny_chat.pretrain import RECIPE, Recipe, render_chat
from core.tiny_chat.tokenizer import build_tokenizer


def test_pretraining_twice_gives_byte_identical_weights(tmp_path: Path) -> None:
    """The shipped recipe's code at a few steps (the full build takes minutes; same code path)."""
    short = Recipe(text_steps=3, chat_steps=2, batch_size=8)
    first = tiny_chat.build(tmp_path / "one", recipe=short)
    second = tiny_chat.build(tmp_path / "two", recipe=short)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    random = tiny_chat.build(tmp_path / "random", pretrained=False)
    assert (first / "model.safetensors").read_bytes() != (random / "model.safetensors").read_bytes()
    assert RECIPE.text_steps + RECIPE.chat_steps > 100 * (short.text_steps + short.chat_steps)


def test_chat_stage_renders_like_the_chat_template() -> None:
    """Pretraining's chat stage trains exactly the tokens a fine-tuning job trains."""
    tokenizer = build_tokenizer()
    stream = examples(seed=7)
    for _ in range(40):
        system, user, answer = next(stream)
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        ref = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
        ids, labels = render_chat((system, user, answer), tokenizer)
        assert ref["input_ids"][:len(ids)] == ids
        assert [i for i, m in zip(ref["input_ids"], ref["assistant_masks"], strict=True) if m] == \
            [i for i in labels if i != -100]
