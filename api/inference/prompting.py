"""Chat messages -> prompt token ids with the model's own chat template, and ids -> text.

The template is the one training used: the tokenizer saved next to a fine-tuned adapter (with
its chat template), else the base model's with the catalog's override. Fast tokenizers must not
be used from two threads at once (their Rust state is borrowed mutably by encode calls), so each
:class:`ChatTokenizer` serialises access with a lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from api.errors import InvalidRequest
from core.end_of_turn import end_of_turn_ids


class ChatTokenizer:
    """A tokenizer with its chat template and end-of-turn ids, safe to share between threads."""

    def __init__(self, tokenizer: Any, model_dir: Path | None = None) -> None:
        self.tokenizer = tokenizer
        self.end_ids = end_of_turn_ids(tokenizer, model_dir)
        self.vocab_size = len(tokenizer)
        self.pad_id: int | None = tokenizer.pad_token_id
        self._lock = threading.Lock()

    def encode_chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> list[int]:
        """Prompt ids for ``messages`` followed by the assistant's generation prompt.

        Raises :class:`InvalidRequest` (param ``messages``) when the template rejects them.
        """
        if not self.tokenizer.chat_template:
            raise InvalidRequest("This model has no chat template; it cannot serve chat completions.",
                                 param="model", code="model_not_supported")
        with self._lock:
            try:
                text = self.tokenizer.apply_chat_template(
                    messages, tools=tools or None, add_generation_prompt=True, tokenize=False
                )
            except Exception as exc:  # jinja raises TemplateError/TypeError/… on messages it refuses
                raise InvalidRequest(f"The messages cannot be rendered by this model's chat template: {exc}",
                                     param="messages", code="invalid_value") from exc
            ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def encode_text(self, text: str) -> list[int]:
        """Ids of raw ``text`` (a legacy completion's prompt) with the tokenizer's own specials
        (a BOS where the model has one); an empty prompt starts from BOS, else end of text."""
        with self._lock:
            ids: list[int] = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        if not ids:
            start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else \
                self.tokenizer.eos_token_id
            ids = [start] if start is not None else []
        return ids

    def count(self, text: str) -> int:
        with self._lock:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: list[int]) -> str:
        with self._lock:
            text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text
