"""``system_fingerprint``: a short string naming everything that shapes an answer.

OpenAI's fingerprint changes when the backend changes in a way that may affect determinism
(used together with ``seed``). Ours hashes the openft version, the base model (name, source,
revision), how the base was loaded, and the bytes of the adapter's weights, so two answers with
the same seed and fingerprint came from the same weights and code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from pathlib import Path

from core.protocol import BaseModelSpec

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


@functools.cache
def openft_version() -> str:
    try:
        return importlib.metadata.version("openft")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree without install
        return "0+source"


@functools.lru_cache(maxsize=256)
def adapter_digest(adapter_dir: Path) -> str:
    """sha256 of the adapter's weights file (read once per process and folder)."""
    digest = hashlib.sha256()
    for name in ADAPTER_WEIGHTS:
        path = adapter_dir / name
        if path.is_file():
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            break
    return digest.hexdigest()


def system_fingerprint(base: BaseModelSpec, quantization: str, adapter_dir: Path | None) -> str:
    """``fp_`` and 12 hex digits over version, base, quantization and adapter weights."""
    parts = [openft_version(), base.name, base.source, base.revision or "", quantization,
             adapter_digest(adapter_dir) if adapter_dir is not None else ""]
    return "fp_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
