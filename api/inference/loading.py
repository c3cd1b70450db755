"""Loading what the engine serves: base models onto a device, adapters out of the store.

Base weights come through :func:`core.model_cache.ensure_model_dir` (safetensors only, no
remote code). A base is loaded the way its adapters were trained: ``"4bit"`` (NF4, double
quantization, bf16 compute, as QLoRA trains) or ``"none"`` (bf16 on CUDA, float32 on the CPU).
Adapters are copied from the artifact store into the model cache once per machine.
Heavy imports stay inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from core.settings import Settings
from core.store import MANIFEST, ObjectNotFound, Store

_download_locks: dict[str, threading.Lock] = {}
_download_guard = threading.Lock()


def serving_quantization(requested: str | None, device: str) -> str:
    """How to load a base: 4-bit only on CUDA and only when the adapter was trained on 4-bit."""
    return "4bit" if device == "cuda" and requested == "4bit" else "none"


def load_base_model(model_dir: Path, device: str, quantization: str) -> Any:
    """The base model in eval mode on ``device`` (see :func:`core.model_loading.load_base_model`)."""
    from transformers.utils import logging as hf_logging

    from core import model_loading

    hf_logging.disable_progress_bar()  # a progress bar per load is noise in a server's log
    model = model_loading.load_base_model(model_dir, device, quantization)
    model.eval()
    return model


def adapter_name(artifact_key: str) -> str:
    """A PEFT adapter name for a store prefix (PEFT names may not contain dots or colons)."""
    return "a" + hashlib.sha256(artifact_key.encode()).hexdigest()[:16]


def adapter_cache_dir(settings: Settings, artifact_key: str) -> Path:
    """Where the adapter under ``artifact_key`` is copied (per store: caches may be shared)."""
    digest = hashlib.sha256(f"{settings.resolved_store_url}|{artifact_key}".encode()).hexdigest()[:20]
    return settings.resolved_model_cache_dir / "adapters" / digest


def fetch_adapter(store: Store, settings: Settings, artifact_key: str) -> Path:
    """A local directory holding the PEFT adapter stored under ``artifact_key`` (copied once).

    ``artifact_key`` is a sealed tree (``models/{id}``) or a folder inside one (the adapter
    inside a checkpoint). Returns the folder that holds ``adapter_config.json``; raises
    :class:`core.store.ObjectNotFound` when there is none.
    """
    local = adapter_cache_dir(settings, artifact_key)
    with _download_guard:
        lock = _download_locks.setdefault(artifact_key, threading.Lock())
    with lock:
        if not local.is_dir():
            _download_tree(store, artifact_key.rstrip("/"), local)
    found = sorted(local.rglob("adapter_config.json"), key=lambda p: len(p.parts))
    if not found:
        raise ObjectNotFound(f"{artifact_key}/adapter_config.json")
    return found[0].parent


def _download_tree(store: Store, key: str, local: Path) -> None:
    """Copy the files under ``key`` from the nearest sealed tree at or above it."""
    if store.has_dir(key):
        store.download_dir(key, local)
        return
    parts = key.split("/")
    for cut in range(len(parts) - 1, 0, -1):
        root = "/".join(parts[:cut])
        if not store.has_dir(root):
            continue
        inner = "/".join(parts[cut:]) + "/"
        manifest: dict[str, int] = store.read_json(f"{root}/{MANIFEST}")
        wanted = [rel for rel in manifest if rel.startswith(inner)]
        if not wanted:
            break
        tmp = local.with_name(f".{local.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        for rel in wanted:
            dest = tmp / rel[len(inner):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with dest.open("wb") as fh:
                for chunk in store.iter_bytes(f"{root}/{rel}"):
                    fh.write(chunk)
        os.replace(tmp, local)
        return
    raise ObjectNotFound(key)


def _beside(adapter_dir: Path, name: str) -> Path | None:
    """``name`` in the adapter's folder or the folder above it (the model's tree)."""
    for directory in (adapter_dir, adapter_dir.parent):
        if (directory / name).is_file():
            return directory
    return None


def tokenizer_dir(adapter_dir: Path) -> Path | None:
    """Where the tokenizer saved with a fine-tuned adapter lies (None: use the base's)."""
    return _beside(adapter_dir, "tokenizer.json") or _beside(adapter_dir, "tokenizer_config.json")


def read_lineage(adapter_dir: Path) -> dict[str, Any]:
    """``lineage.json`` saved with the adapter, or an empty dict."""
    directory = _beside(adapter_dir, "lineage.json")
    if directory is None:
        return {}
    data = json.loads((directory / "lineage.json").read_text())
    return data if isinstance(data, dict) else {}


def lineage_quantization(lineage: dict[str, Any]) -> str | None:
    """How the base was loaded for training (``"4bit"`` or ``"none"``), if the lineage says."""
    # the worker records its resolved plan; the top level and the job's extensions are fallbacks
    for source in (lineage.get("plan"), lineage, lineage.get("extensions")):
        value = source.get("quantization") if isinstance(source, dict) else None
        if value in ("4bit", "none"):
            return str(value)
    return None
