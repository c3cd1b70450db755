"""``ModelServer``: where each model is served, in one object per process.

Models of a base listed in ``Settings.vllm_servers`` go to that vLLM server
(:class:`api.inference.vllm.VLLMRouter`); everything else runs in this process on the
:class:`api.inference.engine.InferenceEngine`, created on the first completion (the API starts
without importing torch). An embedding process (``openft serve``) builds one and hands it to
both the app (``extra_state={"model_server": server}``) and the scheduler, so a base model is in
memory once; otherwise the app builds its own on first use.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from typing import Annotated, Any

from fastapi import Depends

from api.deps import StateDep
from api.inference.engine import InferenceEngine
from api.inference.loading import adapter_cache_dir
from api.inference.params import Target
from api.inference.vllm import VLLMRouter
from core.generation import SamplingParams
from core.settings import Settings
from core.store import Store

STATE_KEY = "model_server"


class ModelServer:
    """The local engine plus the vLLM routes of one process."""

    def __init__(self, settings: Settings, store: Store, *, engine: InferenceEngine | None = None,
                 max_adapters: int = 8) -> None:
        self.settings = settings
        self.store = store
        self._engine = engine
        self._max_adapters = max_adapters
        self._lock = threading.Lock()
        self.vllm = VLLMRouter(settings, store) if settings.vllm_servers else None

    @property
    def engine(self) -> InferenceEngine:
        """The local engine (created on first use; creating it imports nothing heavy)."""
        with self._lock:
            if self._engine is None:
                self._engine = InferenceEngine(self.settings, self.store, max_adapters=self._max_adapters)
            return self._engine

    def remote(self, target: Target) -> VLLMRouter | None:
        """The vLLM router when ``target``'s base is served by vLLM, else None."""
        if self.vllm is not None and self.vllm.url_for(target.base.name) is not None:
            return self.vllm
        return None

    async def greedy(self, target: Target, messages: list[dict[str, Any]], max_tokens: int,
                     tools: list[dict[str, Any]] | None = None) -> str:
        """The greedy answer to ``messages`` where ``target`` is served (the train-to-serve check).

        The raw text, tool-call markup included (vLLM is asked not to parse tool calls).
        """
        remote = self.remote(target)
        if remote is not None:
            body: dict[str, Any] = {"messages": messages, "temperature": 0, "max_tokens": max_tokens}
            if tools:
                body.update(tools=tools, tool_choice="none")
            data = await remote.complete(target, body)
            return str(data["choices"][0]["message"].get("content") or "")
        prepared = await self.engine.prepare(target, messages, tools=tools, max_tokens=max_tokens)
        completion = await self.engine.generate(prepared, SamplingParams(temperature=0.0, max_tokens=max_tokens))
        return completion.choices[0].text

    async def register(self, target: Target) -> bool:
        """Make a new ``ft:`` model servable where its base is served.

        Loads the adapter into the base's vLLM server and returns True; returns False for a base
        served in this process (its engine loads adapters on first use). Raises
        :class:`api.errors.ServiceUnavailable` when the vLLM server cannot be reached.
        """
        remote = self.remote(target)
        if remote is None or target.adapter_key is None:
            return False
        await remote.register(target)
        return True

    async def forget(self, target: Target) -> None:
        """Stop serving a deleted model: unload its adapter everywhere, drop local copies."""
        if target.adapter_key is None:
            return
        remote = self.remote(target)
        if remote is not None:
            await remote.unregister(target)
        if self._engine is not None:
            await self._engine.evict(target.adapter_key)
        else:
            await asyncio.to_thread(shutil.rmtree, adapter_cache_dir(self.settings, target.adapter_key), True)

    async def aclose(self) -> None:
        if self.vllm is not None:
            await self.vllm.aclose()
        if self._engine is not None:
            self._engine.close()


def get_model_server(state: StateDep) -> ModelServer:
    """The app's :class:`ModelServer` (the one handed in, or one built on first use)."""
    server = state.extra.get(STATE_KEY)
    if server is None:
        server = state.extra.setdefault(STATE_KEY, ModelServer(state.settings, state.store))
    assert isinstance(server, ModelServer)
    return server


ModelServerDep = Annotated[ModelServer, Depends(get_model_server)]
