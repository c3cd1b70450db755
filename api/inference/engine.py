"""The inference engine: one copy of each base model, adapters hot-swapped over it.

``prepare`` (in a worker thread) fetches what a request needs (base files, the adapter, the
tokenizer with its chat template), renders the prompt and checks it against the context;
``generate`` / ``stream`` then run the token loop on the base model's :class:`BaseSlot` thread.
Errors a caller can fix (context length, template) are raised by ``prepare``, before a stream
starts. torch and transformers are imported on the first request, never at import time.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.errors import InvalidRequest
from api.inference.base_slot import BaseSlot
from api.inference.fingerprint import system_fingerprint
from api.inference.loading import (
    adapter_cache_dir,
    fetch_adapter,
    lineage_quantization,
    read_lineage,
    serving_quantization,
    tokenizer_dir,
)
from api.inference.params import Completion, Target
from api.inference.prompting import ChatTokenizer
from core.generation import Delta, SamplingParams
from core.model_loading import pick_device
from core.protocol import BaseModelSpec
from core.settings import Settings
from core.store import Store

ModelDirFn = Callable[[BaseModelSpec, Settings], Path]


class ContextLengthExceeded(InvalidRequest):
    """400 ``context_length_exceeded``: prompt (plus requested completion) over the context."""

    code = "context_length_exceeded"


@dataclass
class Prepared:
    """A request ready to run: its slot, adapter, tokenizer and prompt."""

    target: Target
    slot: BaseSlot
    adapter_dir: Path | None
    tokenizer: ChatTokenizer
    prompt_ids: list[int]
    max_new_tokens: int
    fingerprint: str


class InferenceEngine:
    """Serves chat completions for base models and their adapters (see module docstring)."""

    def __init__(self, settings: Settings, store: Store, *, max_adapters: int = 8,
                 model_dir: ModelDirFn | None = None) -> None:
        self.settings = settings
        self.store = store
        self.max_adapters = max_adapters
        self._model_dir = model_dir
        self._slots: dict[tuple[str, str], BaseSlot] = {}
        self._tokenizers: dict[str, ChatTokenizer] = {}
        self._lock = threading.Lock()
        self._device: str | None = None

    def __repr__(self) -> str:
        return f"<InferenceEngine device={self._device} slots={list(self._slots.values())}>"

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = pick_device(self.settings.device)
        return self._device

    # --- preparing a request (any thread) ----------------------------------------------------
    async def prepare(self, target: Target, messages: list[dict[str, Any]], *,
                      tools: list[dict[str, Any]] | None = None, max_tokens: int | None = None) -> Prepared:
        """Fetch, render with the chat template and check a chat request; raises
        :class:`ContextLengthExceeded` and :class:`InvalidRequest` for what the caller must fix."""
        return await asyncio.to_thread(self._prepare, target, "messages", max_tokens,
                                       lambda tok: tok.encode_chat(messages, tools))

    async def prepare_text(self, target: Target, prompt: str | list[int], *,
                           max_tokens: int | None = None) -> Prepared:
        """:meth:`prepare` for a legacy completion: ``prompt`` as raw text (no chat template) or
        token ids; an unknown token id is a 400 naming ``prompt``."""

        def encode(tok: ChatTokenizer) -> list[int]:
            if isinstance(prompt, str):
                return tok.encode_text(prompt)
            bad = [t for t in prompt if not 0 <= t < tok.vocab_size]
            if bad:
                raise InvalidRequest(f"Token id {bad[0]} in prompt is outside this model's vocabulary of "
                                     f"{tok.vocab_size}.", param="prompt", code="invalid_value")
            return list(prompt)

        return await asyncio.to_thread(self._prepare, target, "prompt", max_tokens, encode)

    def _prepare(self, target: Target, what: str, max_tokens: int | None,
                 encode: Callable[[ChatTokenizer], list[int]]) -> Prepared:
        adapter_dir = fetch_adapter(self.store, self.settings, target.adapter_key) if target.adapter_key else None
        requested = target.quantization
        if adapter_dir is not None and requested is None:
            requested = lineage_quantization(read_lineage(adapter_dir))
        quantization = (serving_quantization(requested, self.device) if requested is not None
                        else self._default_quantization(target.base))
        slot = self._slot(target.base, quantization)
        tokenizer = self._tokenizer(target.base, slot.model_dir, adapter_dir)
        prompt_ids = encode(tokenizer)
        limit = target.base.max_length
        if max_tokens is not None and len(prompt_ids) + max_tokens > limit:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{len(prompt_ids) + max_tokens} tokens ({len(prompt_ids)} in the {what}, {max_tokens} "
                f"in the completion). Please reduce the length of the {what} or completion.",
                param=what)
        if len(prompt_ids) >= limit:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {limit} tokens. However, your {what} "
                f"resulted in {len(prompt_ids)} tokens. Please reduce the length of the {what}.",
                param=what)
        max_new = max_tokens if max_tokens is not None else limit - len(prompt_ids)
        return Prepared(target, slot, adapter_dir, tokenizer, prompt_ids, max_new,
                        system_fingerprint(target.base, quantization, adapter_dir))

    def _default_quantization(self, base: BaseModelSpec) -> str:
        """For the base itself (or an adapter of unknown origin): a copy already loaded, else
        what training would use on this device (the catalog's choice; ``auto``: 4-bit on CUDA)."""
        with self._lock:
            loaded = [q for name, q in self._slots if name == base.name]
        if loaded:
            return loaded[0]
        return serving_quantization("none" if base.quantization == "none" else "4bit", self.device)

    def _slot(self, base: BaseModelSpec, quantization: str) -> BaseSlot:
        key = (base.name, quantization)
        with self._lock:
            slot = self._slots.get(key)
        if slot is not None:
            return slot
        model_dir = self._resolve_model_dir(base)
        with self._lock:
            return self._slots.setdefault(
                key, BaseSlot(base.name, model_dir, self.device, quantization, self.max_adapters))

    def _resolve_model_dir(self, base: BaseModelSpec) -> Path:
        if self._model_dir is not None:
            return self._model_dir(base, self.settings)
        from core.model_cache import ensure_model_dir

        return ensure_model_dir(base, self.settings)

    def _tokenizer(self, base: BaseModelSpec, model_dir: Path, adapter_dir: Path | None) -> ChatTokenizer:
        from core.catalog import open_tokenizer

        own_dir = tokenizer_dir(adapter_dir) if adapter_dir is not None else None
        own = own_dir is not None
        source = own_dir or model_dir
        key = f"{source}|{base.chat_template or ''}"
        with self._lock:
            cached = self._tokenizers.get(key)
        if cached is None:
            tokenizer = open_tokenizer(source)
            if base.chat_template and not (own and tokenizer.chat_template):
                tokenizer.chat_template = base.chat_template
            cached = ChatTokenizer(tokenizer, model_dir)
            with self._lock:
                cached = self._tokenizers.setdefault(key, cached)
        return cached

    # --- running it (the slot's thread) ------------------------------------------------------
    def _run(self, prepared: Prepared, params: SamplingParams, emit: Callable[[Delta], None] | None,
             cancelled: threading.Event | None) -> Completion:
        from core.generation.run import generate

        max_new = prepared.max_new_tokens
        if params.max_tokens is not None:
            max_new = min(max_new, params.max_tokens)
        with prepared.slot.using(prepared.target.adapter_key, prepared.adapter_dir) as model:
            choices = generate(
                model, prepared.prompt_ids, params, max_new_tokens=max_new,
                end_ids=prepared.tokenizer.end_ids, decode=prepared.tokenizer.decode,
                pad_id=prepared.tokenizer.pad_id, emit=emit, cancelled=cancelled,
            )
        return Completion(choices=choices, prompt_tokens=len(prepared.prompt_ids))

    async def generate(self, prepared: Prepared, params: SamplingParams) -> Completion:
        """All choices at once."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(prepared.slot.executor, self._run, prepared, params, None, None)

    async def stream(self, prepared: Prepared, params: SamplingParams) -> AsyncIterator[Delta | Completion]:
        """Deltas as the text becomes final, then the :class:`Completion` (for usage).

        Closing the iterator early (the client went away) stops the generation at the next token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta | Completion | BaseException] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Delta | Completion | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                put(self._run(prepared, params, put, cancelled))
            except BaseException as exc:  # delivered to the consumer, re-raised there
                put(exc)

        prepared.slot.executor.submit(work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Completion):
                    return
        finally:
            cancelled.set()

    # --- housekeeping ----------------------------------------------------------------------
    async def evict(self, artifact_key: str) -> None:
        """Forget a deleted model's adapter: unload it from every slot, drop its local copy."""
        loop = asyncio.get_running_loop()
        with self._lock:
            slots = list(self._slots.values())
        for slot in slots:
            await loop.run_in_executor(slot.executor, slot.evict, artifact_key)
        await asyncio.to_thread(shutil.rmtree, adapter_cache_dir(self.settings, artifact_key), True)

    def stats(self) -> dict[str, Any]:
        """Per slot: adapters loaded now and adapter loads so far."""
        with self._lock:
            return {f"{k[0]}/{k[1]}": {"adapters": len(s.adapters), "loads": s.loads}
                    for k, s in self._slots.items()}

    def close(self) -> None:
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            slot.close()

