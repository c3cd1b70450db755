"""The production path: base models served by an external vLLM server with LoRA enabled.

``Settings.vllm_servers`` maps a catalog name to the URL of a vLLM OpenAI-compatible server
(``…/v1``) started with ``--enable-lora``, ``--served-model-name <catalog name>`` and
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``. For an ``ft:`` model of such a base, openft copies
the adapter into ``Settings.vllm_adapter_dir`` (a directory the vLLM server reads at the same
path) and loads it through vLLM's dynamic LoRA endpoint, ``POST /v1/load_lora_adapter
{lora_name, lora_path}`` with the ``ft:`` id as ``lora_name``; chat requests are then proxied
with ``model`` set to that id, streamed ones byte for byte (legacy ``/completions`` likewise).
Registration happens when a job succeeds (``api.services.serve_checks`` calls
``ModelServer.register``) and again, lazily, whenever the server does not know the adapter (a
restarted vLLM forgets dynamically loaded adapters).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2

from api.errors import APIError, ServiceUnavailable
from api.inference.loading import adapter_name, fetch_adapter
from api.inference.params import Target
from core.settings import Settings
from core.store import Store

log = logging.getLogger("openft.vllm")

TIMEOUT = httpx2.Timeout(600.0, connect=10.0)
CHAT = "/chat/completions"  #: the paths proxied under the server's ``/v1``
LEGACY = "/completions"


class VLLMRouter:
    """Registers adapters with, and proxies chat requests to, the configured vLLM servers."""

    def __init__(self, settings: Settings, store: Store, client: httpx2.AsyncClient | None = None) -> None:
        self.settings = settings
        self.store = store
        self.servers = {name: url.rstrip("/") for name, url in settings.vllm_servers.items()}
        self.adapter_root = (settings.vllm_adapter_dir or settings.data_dir / "vllm-adapters").resolve()
        self._client = client or httpx2.AsyncClient(timeout=TIMEOUT)
        self._registered: set[tuple[str, str]] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    def url_for(self, base_name: str) -> str | None:
        """The vLLM server of ``base_name``, or None when openft serves it itself."""
        return self.servers.get(base_name)

    # --- adapters ------------------------------------------------------------------------
    def _adapter_path(self, artifact_key: str) -> Path:
        return self.adapter_root / adapter_name(artifact_key)

    def _place_adapter(self, artifact_key: str) -> Path:
        """Copy the adapter into the shared directory (once) and return its path there."""
        dest = self._adapter_path(artifact_key)
        if (dest / "adapter_config.json").is_file():
            return dest
        local = fetch_adapter(self.store, self.settings, artifact_key)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(local, tmp)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(dest)
        return dest

    async def register(self, target: Target, *, force: bool = False) -> None:
        """Make the vLLM server of ``target.base`` serve ``target.model_id`` (idempotent)."""
        url = self.url_for(target.base.name)
        assert url is not None and target.adapter_key is not None
        key = (url, target.model_id)
        lock = self._locks.setdefault(target.model_id, asyncio.Lock())
        async with lock:
            if key in self._registered and not force:
                return
            path = await asyncio.to_thread(self._place_adapter, target.adapter_key)
            body = {"lora_name": target.model_id, "lora_path": str(path)}
            try:
                resp = await self._client.post(f"{_root(url)}/v1/load_lora_adapter", json=body)
            except httpx2.HTTPError as exc:
                raise _unavailable(target.base.name, exc) from exc
            if resp.status_code >= 400 and "already" not in resp.text.lower():
                log.error("vLLM refused adapter %s: %s %s", target.model_id, resp.status_code, resp.text)
                raise ServiceUnavailable(
                    f"The serving backend of {target.base.name} could not load {target.model_id}: {resp.text[:300]}")
            self._registered.add(key)

    async def unregister(self, target: Target) -> None:
        """Unload ``target``'s adapter from vLLM and remove its shared copy (a deleted model)."""
        url = self.url_for(target.base.name)
        if url is None or target.adapter_key is None:
            return
        self._registered.discard((url, target.model_id))
        try:
            await self._client.post(f"{_root(url)}/v1/unload_lora_adapter", json={"lora_name": target.model_id})
        except httpx2.HTTPError as exc:  # the model is deleted either way; vLLM forgets it on restart
            log.warning("could not unload %s from vLLM: %s", target.model_id, exc)
        await asyncio.to_thread(shutil.rmtree, self._adapter_path(target.adapter_key), True)

    # --- requests ------------------------------------------------------------------------
    async def _send(self, target: Target, body: dict[str, Any], stream: bool, path: str) -> httpx2.Response:
        url = self.url_for(target.base.name)
        assert url is not None
        payload = {**body, "model": target.model_id if target.adapter_key else target.base.name}
        for attempt in (1, 2):
            if target.adapter_key:
                await self.register(target, force=attempt == 2)
            request = self._client.build_request("POST", f"{url}{path}", json=payload)
            try:
                resp = await self._client.send(request, stream=stream)
            except httpx2.HTTPError as exc:
                raise _unavailable(target.base.name, exc) from exc
            if resp.status_code == 404 and target.adapter_key and attempt == 1:
                await resp.aclose()  # vLLM restarted and forgot the adapter: load it again
                continue
            if resp.status_code >= 400:
                text = (await resp.aread()).decode(errors="replace")
                await resp.aclose()
                raise _backend_error(target.base.name, resp.status_code, text)
            return resp
        raise AssertionError("unreachable")

    async def complete(self, target: Target, body: dict[str, Any], path: str = CHAT) -> dict[str, Any]:
        """A non-streamed completion from vLLM (``path``: chat or legacy), as its JSON object."""
        resp = await self._send(target, {**body, "stream": False}, stream=False, path=path)
        data: dict[str, Any] = resp.json()
        data["model"] = target.model_id
        return data

    async def stream(self, target: Target, body: dict[str, Any], path: str = CHAT) -> AsyncIterator[bytes]:
        """Open a streamed completion (errors raise here, before any byte) and relay its SSE bytes."""
        resp = await self._send(target, {**body, "stream": True}, stream=True, path=path)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.aiter_raw():
                    yield chunk
            finally:
                await resp.aclose()

        return relay()

    async def aclose(self) -> None:
        await self._client.aclose()


def _root(url: str) -> str:
    """vLLM's management endpoints hang off the server root, next to ``/v1``."""
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _unavailable(base: str, exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(f"The serving backend of {base} is unreachable: {type(exc).__name__}")


def _backend_error(base: str, status: int, text: str) -> APIError:
    """vLLM's error (integer ``code``, ``type`` like ``BadRequestError``) in OpenAI's shape."""
    try:
        body = json.loads(text)
        inner = body.get("error", body) if isinstance(body, dict) else {}
        message = str(inner.get("message") or text)
        param = inner.get("param") if isinstance(inner.get("param"), str) else None
    except ValueError:
        message, param = text or f"status {status}", None
    if status >= 500:
        return ServiceUnavailable(f"The serving backend of {base} failed: {message[:500]}")
    return APIError(message, status=status, param=param)
