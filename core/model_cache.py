"""Base models fetched once into a local cache (``Settings.resolved_model_cache_dir``).

A catalog entry's ``source`` is one of:

- ``builtin:tiny-chat``: pretrained locally (:mod:`core.tiny_chat`), once per machine into
  ``Settings.base_build_cache`` and hard-linked from there; ``builtin:tiny-chat-random``: its
  random-weight variant, generated without torch. Never downloaded;
- a Hugging Face repo id (``org/name``): ``huggingface_hub.snapshot_download`` of safetensors,
  JSON, tokenizer and template files only (``trust_remote_code`` stays off, no pickles);
- a local directory (absolute path, or ``file://``): used in place;
- ``s3://bucket/prefix``: every object under the prefix, read through :mod:`core.store`.

Fetching is safe across processes: one file lock per cache entry, the download goes to a
temporary directory that is renamed into place, so a directory that exists is complete.
Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from core.protocol import BaseModelSpec
from core.settings import Settings

BUILTIN = "builtin:"
WEIGHT_PATTERNS = ["*.safetensors", "*.safetensors.index.json"]
TOKENIZER_PATTERNS = [
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "chat_template.json", "chat_template.jinja", "*.tiktoken",
    "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
]


class ModelUnavailable(Exception):
    """The base model's files cannot be fetched (no network, unknown repo, bad directory)."""


def source_kind(source: str) -> str:
    """``builtin``, ``s3``, ``local`` or ``hub`` for a catalog ``source``."""
    if source.startswith(BUILTIN):
        return "builtin"
    if source.startswith("s3://"):
        return "s3"
    if source.startswith(("/", "./", "~", "file://")) or Path(source).is_dir():
        return "local"
    return "hub"


def ensure_model_dir(spec: BaseModelSpec, settings: Settings) -> Path:
    """The local directory holding the base model's weights, config and tokenizer.

    Fetches it into the cache the first time (once per machine, whatever the number of
    processes asking); raises :class:`ModelUnavailable` when it cannot.
    """
    return _ensure(spec, settings, tokenizer_only=False)


def ensure_tokenizer_dir(spec: BaseModelSpec, settings: Settings) -> Path:
    """A local directory with the model's tokenizer and config (not the weights).

    The full model directory when it is cached already; otherwise only the small tokenizer
    files are fetched (what the API and the scheduler need to count tokens).
    """
    return _ensure(spec, settings, tokenizer_only=True)


def _ensure(spec: BaseModelSpec, settings: Settings, tokenizer_only: bool) -> Path:
    kind = source_kind(spec.source)
    if kind == "local":
        path = Path(spec.source.removeprefix("file://")).expanduser().resolve()
        _check_dir(path, tokenizer_only)
        return path
    cache = settings.resolved_model_cache_dir
    name = _cache_name(spec)
    full = cache / name
    if full.is_dir():
        return full
    if tokenizer_only and kind in ("hub", "s3", "builtin"):
        target, fetch = cache / f"{name}.tokenizer", _fetcher(spec, settings, tokenizer_only=True)
    else:
        target, fetch = full, _fetcher(spec, settings, tokenizer_only=False)
    if target.is_dir():
        return target
    with _locked(cache / ".locks" / f"{target.name}.lock"):
        if target.is_dir():  # another process finished it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{target.name}."))
        try:
            fetch(tmp)
            _check_dir(tmp, tokenizer_only=target is not full)
            _make_readable(tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _cache_name(spec: BaseModelSpec) -> str:
    kind = source_kind(spec.source)
    if kind == "builtin":
        from core import tiny_chat

        builtin = spec.source.removeprefix(BUILTIN)
        if builtin not in tiny_chat.NAMES:
            raise ModelUnavailable(f"unknown builtin model {builtin!r}")
        return f"builtin--{builtin}--v{tiny_chat.VERSION}-{tiny_chat.recipe_digest()}"
    digest = hashlib.sha256(f"{spec.source}@{spec.revision or ''}".encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", spec.source.removeprefix("s3://")).strip("-")[:80]
    return f"{kind}--{slug}--{spec.revision or 'default'}--{digest}"


def _fetcher(spec: BaseModelSpec, settings: Settings, tokenizer_only: bool) -> Callable[[Path], None]:
    kind = source_kind(spec.source)
    if kind == "builtin":
        return _builtin_fetcher(spec.source.removeprefix(BUILTIN), settings, tokenizer_only)
    if kind == "s3":
        return lambda dest: _fetch_s3(spec.source, settings, dest, tokenizer_only)
    return lambda dest: _fetch_hub(spec, dest, tokenizer_only)


def _builtin_fetcher(name: str, settings: Settings, tokenizer_only: bool) -> Callable[[Path], None]:
    from core import tiny_chat
    from core.tiny_chat.build_cache import link_into

    def fetch(dest: Path) -> None:
        if tokenizer_only:  # seconds, no torch: token counts never wait for pretraining
            tiny_chat.build_tokenizer_dir(dest)
        elif name == tiny_chat.RANDOM_NAME:
            tiny_chat.build(dest, pretrained=False)
        else:
            link_into(settings.base_build_cache, dest)

    return fetch


def _fetch_hub(spec: BaseModelSpec, dest: Path, tokenizer_only: bool) -> None:
    from huggingface_hub import snapshot_download

    patterns = TOKENIZER_PATTERNS + ([] if tokenizer_only else WEIGHT_PATTERNS)
    errors: list[str] = []
    for local_only in (False, True):  # the hub first, then whatever the HF cache already holds
        try:
            snapshot_download(
                repo_id=spec.source, revision=spec.revision, allow_patterns=patterns,
                ignore_patterns=["original/*"], local_dir=dest, local_files_only=local_only,
            )
            shutil.rmtree(dest / ".cache", ignore_errors=True)
            return
        except Exception as exc:  # network, auth, missing repo: all mean "not available here"
            errors.append(f"{type(exc).__name__}: {exc}")
    raise ModelUnavailable(f"cannot fetch {spec.source!r} from the Hugging Face hub: {errors[-1]}")


def _fetch_s3(source: str, settings: Settings, dest: Path, tokenizer_only: bool) -> None:
    from core.store import MANIFEST, open_store

    store = open_store(source, settings.s3_endpoint_url, settings.s3_region)
    keys = [k for k in store.list("") if not k.endswith(MANIFEST)]
    if tokenizer_only:
        keys = [k for k in keys if any(Path(k).match(p) for p in TOKENIZER_PATTERNS)]
    keys = [k for k in keys if not k.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    if not keys:
        raise ModelUnavailable(f"no model files under {source!r}")
    for key in keys:
        path = dest / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            for chunk in store.iter_bytes(key):
                fh.write(chunk)


def _check_dir(path: Path, tokenizer_only: bool) -> None:
    if not path.is_dir():
        raise ModelUnavailable(f"model directory {path} does not exist")
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise ModelUnavailable(f"no tokenizer in {path}")
    if not (path / "config.json").is_file():
        raise ModelUnavailable(f"no config.json in {path}")
    if not tokenizer_only and not any(path.glob("*.safetensors")):
        raise ModelUnavailable(f"no safetensors weights in {path} (pickled weights are refused)")


def _make_readable(root: Path) -> None:
    """mkdtemp and safetensors create owner-only files; the cache is shared by processes."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
        elif path.stat().st_mode & 0o444 != 0o444:  # hard links from the build cache are read-only already
            path.chmod(0o644)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
