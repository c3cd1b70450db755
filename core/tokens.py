"""Token counts of examples with the base model's tokenizer and chat template.

A counter turns conversations (``core.formats.Conversation``) into token lengths
(:class:`CountsTokens` is the small protocol the validator needs). :class:`TokenCounter` does
what ``tokenizer.apply_chat_template(messages, tools=tools, tokenize=True)`` does (render the
Jinja template, then encode without adding special tokens), but renders example by example and
encodes a whole batch in one call of the Rust tokenizer, which is what makes validating a large
file fast. Nothing here imports torch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.formats import Conversation

if TYPE_CHECKING:
    from core.settings import Settings


# A fast tokenizer must not encode from two threads at once (its Rust state is borrowed
# mutably), and the catalog hands every caller the same cached instance: one lock per tokenizer.
_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(tokenizer: Any) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(tokenizer), threading.Lock())


class TemplateRenderError(ValueError):
    """The chat template refused conversation ``index`` of a batch (a Jinja error or raise_exception)."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail


@runtime_checkable
class CountsTokens(Protocol):
    """Counts tokens the way training will see them."""

    def count(self, conversations: Sequence[Conversation]) -> list[int]:
        """Token length of each conversation; raises :class:`TemplateRenderError`."""
        ...


class TokenCounter:
    """Counts with a Hugging Face tokenizer and its chat template (or ``chat_template``).

    ``max_length`` is the model's training length: examples over it are truncated by training.
    """

    def __init__(
        self, tokenizer: Any, max_length: int | None = None, chat_template: str | None = None
    ) -> None:
        if chat_template is None and not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template and none was given")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.chat_template = chat_template
        self._lock = _lock_for(tokenizer)
        # the Rust tokenizer encodes a batch in parallel without building Python encodings
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._encode_batch = getattr(backend, "encode_batch_fast", None) or getattr(
            backend, "encode_batch", None
        )

    @classmethod
    def for_model(cls, model: str, settings: Settings) -> TokenCounter:
        """The counter of catalog model ``model``: its tokenizer, chat template and max length.

        Loads the tokenizer through ``core.catalog`` (``tiny-chat`` is generated on first use);
        raises ``core.catalog.UnknownModel`` or ``core.model_cache.ModelUnavailable``.
        """
        from core.catalog import get_catalog, load_tokenizer

        entry = get_catalog(settings).require(model)
        # load_tokenizer already applied the entry's chat template override
        return cls(load_tokenizer(model, settings), entry.max_length)

    def render(self, conversation: Conversation) -> str:
        """The text the chat template makes of ``conversation`` (no generation prompt)."""
        text = self.tokenizer.apply_chat_template(
            conversation.messages,
            tools=conversation.tools,
            chat_template=self.chat_template,
            tokenize=False,
        )
        return str(text)

    def count(self, conversations: Sequence[Conversation]) -> list[int]:
        texts: list[str] = []
        for i, conv in enumerate(conversations):
            try:
                texts.append(self.render(conv))
            except Exception as exc:  # Jinja raises many kinds (TemplateError, TypeError, ...)
                raise TemplateRenderError(i, str(exc) or type(exc).__name__) from exc
        if not texts:
            return []
        with self._lock:
            if self._encode_batch is not None:
                return [len(enc.ids) for enc in self._encode_batch(texts, add_special_tokens=False)]
            ids = self.tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
        return [len(x) for x in ids]

