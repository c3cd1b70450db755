"""Export of ``ft:`` models (our extension): ``GET /v1/models/{id}/content?format=…``.

- ``adapter``: the PEFT adapter as trained (``adapter_config.json``, ``adapter_model.safetensors``),
  with its tokenizer, chat template and ``lineage.json``; ``base_model_name_or_path`` names the
  catalog source, so ``PeftModel.from_pretrained(base, dir)`` (or ``AutoPeftModelForCausalLM`` for
  hub bases) loads it.
- ``merged``: full weights, the adapter merged (``merge_and_unload``) into the base; a QLoRA
  adapter is merged into the *dequantized* 4-bit base, the weights it was trained against.
  Saved as safetensors with the tokenizer: ``AutoModelForCausalLM.from_pretrained(dir)`` loads it.

- ``gguf``: the merged model as one GGUF file (``quantization`` f16, q8_0, ...), tokenizer and chat
  template in its metadata, for llama.cpp (:mod:`api.services.export_gguf`); Llama-architecture
  bases the catalog marks ``gguf``.
- ``ollama``: a tar of that GGUF file and a ``Modelfile`` (:mod:`api.services.ollama`).

Tars have one top-level folder named after the model; everything is streamed with a known
``Content-Length``: nothing is built in memory. Merging runs once at a time, in a worker
thread, into a temporary folder that is removed when the download ends.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from api.errors import InvalidRequest, NotFound
from api.services.models import Resolved
from core.model_cache import source_kind
from core.protocol import model_prefix
from core.settings import Settings
from core.store import MANIFEST, ObjectNotFound, Store

BLOCK = 512
CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHUNK = 1024 * 1024
_merge_lock = threading.Lock()
# files of a training checkpoint that are trainer state, not part of the model
_TRAINER_STATE = ("optimizer.pt", "scheduler.pt", "rng_state", "trainer_state.json", "training_args.bin")


@dataclass(frozen=True)
class Member:
    """One file of the tar: its name inside the archive, size and a way to read it."""

    name: str
    size: int
    chunks: Callable[[], Iterable[bytes]]
    mtime: int = 0


class TarStream:
    """A POSIX (pax) tar of ``members`` produced chunk by chunk, with its exact length."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self._headers = [self._header(m) for m in members]

    @staticmethod
    def _header(m: Member) -> bytes:
        info = tarfile.TarInfo(m.name)
        info.size, info.mode, info.mtime = m.size, 0o644, m.mtime
        return info.tobuf(format=tarfile.PAX_FORMAT)

    def __len__(self) -> int:
        body = sum(len(h) + _padded(m.size) for h, m in zip(self._headers, self.members, strict=True))
        return body + 2 * BLOCK

    def __iter__(self) -> Iterator[bytes]:
        for header, member in zip(self._headers, self.members, strict=True):
            yield header
            written = 0
            for chunk in member.chunks():
                written += len(chunk)
                yield chunk
            if written != member.size:
                raise OSError(f"{member.name} changed size while exporting ({written} != {member.size})")
            if member.size % BLOCK:
                yield b"\0" * (BLOCK - member.size % BLOCK)
        yield b"\0" * (2 * BLOCK)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def folder_name(model_id: str) -> str:
    """The archive's top-level folder: the model id with ``:`` as ``_`` (as in the store)."""
    return model_prefix(model_id).split("/", 1)[1]


# --- adapter ----------------------------------------------------------------------------------
def adapter_keys(store: Store, artifact_key: str) -> tuple[str, list[str]]:
    """The folder holding ``adapter_config.json`` under ``artifact_key`` and the keys to export."""
    root = artifact_key.rstrip("/")
    keys = [k for k in store.list(root + "/") if not k.endswith(MANIFEST)]
    configs = sorted((k for k in keys if k.endswith("/adapter_config.json")), key=lambda k: k.count("/"))
    if not configs:
        raise NotFound("The model's files are missing from the artifact store.", code="model_not_found")
    folder = configs[0].rsplit("/", 1)[0]
    chosen = [k for k in keys if k.startswith(folder + "/")]
    # tokenizer, template and lineage saved next to (above) the adapter folder come along
    chosen += [k for k in keys if folder != root and k.count("/") == root.count("/") + 1]
    return folder, sorted(k for k in set(chosen) if not k.rsplit("/", 1)[1].startswith(_TRAINER_STATE))


def adapter_archive(store: Store, found: Resolved) -> TarStream:
    """The tar of ``found``'s adapter files (see module docstring)."""
    assert found.row is not None
    folder, keys = adapter_keys(store, found.row.artifact_key)
    top = folder_name(found.id)
    root = found.row.artifact_key.rstrip("/")
    members: list[Member] = []
    for key in keys:
        rel = key[len(folder) + 1:] if key.startswith(folder + "/") else key[len(root) + 1:]
        if rel == "adapter_config.json":
            data = _portable_config(store.read_bytes(key), found)
            members.append(Member(f"{top}/{rel}", len(data), partial(list, [data]), found.row.created_at))
        else:
            members.append(Member(f"{top}/{rel}", store.size(key),
                                  partial(store.iter_bytes, key, CHUNK), found.row.created_at))
    names = {m.name for m in members}
    template = found.base.chat_template
    if f"{top}/{CHAT_TEMPLATE_FILE}" not in names and template is None and f"{top}/tokenizer_config.json" in names:
        config_key = next(k for k in keys if k.endswith("/tokenizer_config.json"))
        template = json.loads(store.read_bytes(config_key)).get("chat_template")
    if f"{top}/{CHAT_TEMPLATE_FILE}" not in names and isinstance(template, str):
        # vLLM's --chat-template and llama.cpp's --chat-template-file read the template from a file
        data = template.encode()
        members.append(Member(f"{top}/{CHAT_TEMPLATE_FILE}", len(data), partial(list, [data]), found.row.created_at))
    return TarStream(members)


def _portable_config(raw: bytes, found: Resolved) -> bytes:
    """``adapter_config.json`` naming the base by its catalog source instead of a worker's path."""
    config: dict[str, Any] = json.loads(raw)
    if source_kind(found.base.source) == "hub":
        config["base_model_name_or_path"] = found.base.source
        if found.base.revision:
            config["revision"] = found.base.revision
    else:
        config["base_model_name_or_path"] = found.base.name
    return json.dumps(config, indent=2, sort_keys=True).encode()


# --- merged -----------------------------------------------------------------------------------
def merge_to(settings: Settings, store: Store, found: Resolved, out: Path) -> None:
    """Write ``found`` merged into its base, as a plain transformers model directory, to ``out``."""
    from peft import PeftModel

    from api.inference.loading import fetch_adapter, lineage_quantization, read_lineage, tokenizer_dir
    from core.catalog import open_tokenizer
    from core.model_cache import ensure_model_dir
    from core.model_loading import load_base_model, pick_device

    assert found.row is not None
    adapter_dir = fetch_adapter(store, settings, found.row.artifact_key)
    base_dir = ensure_model_dir(found.base.spec(), settings)
    lineage = read_lineage(adapter_dir)
    with _merge_lock:
        if lineage_quantization(lineage) == "4bit":
            # merged into the weights the adapter was trained against: the dequantized NF4 base
            model = load_base_model(base_dir, pick_device(), "4bit", dtype="bfloat16").dequantize().to("cpu")
        else:
            model = load_base_model(base_dir, "cpu", dtype="auto")
        merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        merged.save_pretrained(str(out), safe_serialization=True)
        del model, merged
    own_dir = tokenizer_dir(adapter_dir)
    own = own_dir is not None
    tokenizer = open_tokenizer(own_dir or base_dir)
    if found.base.chat_template and not (own and tokenizer.chat_template):
        tokenizer.chat_template = found.base.chat_template
    tokenizer.save_pretrained(str(out))
    if lineage:
        (out / "lineage.json").write_text(json.dumps({**lineage, "merged": True}, indent=1, sort_keys=True))


def _dir_members(directory: Path, top: str, mtime: int) -> list[Member]:
    def reader(path: Path) -> Iterator[bytes]:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    return [Member(f"{top}/{p.relative_to(directory).as_posix()}", p.stat().st_size,
                   partial(reader, p), mtime)
            for p in sorted(directory.rglob("*")) if p.is_file()]


class MergedArchive(TarStream):
    """A tar of a merged model directory that removes the directory once fully read or closed."""

    def __init__(self, directory: Path, top: str, mtime: int) -> None:
        super().__init__(_dir_members(directory, top, mtime))
        self.directory = directory

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from super().__iter__()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


class TempFile:
    """One file streamed with its length; its temporary folder goes once it is fully read or closed."""

    def __init__(self, path: Path, directory: Path) -> None:
        self.path, self.directory, self.size = path, directory, path.stat().st_size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        try:
            with self.path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


async def _build(settings: Settings, found: Resolved, build: Callable[[Path], None]) -> Path:
    """Run ``build(folder)`` in a worker thread on a new temporary folder; the folder on success."""
    root = settings.data_dir / "exports"
    root.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(dir=root, prefix="export-"))
    try:
        await asyncio.to_thread(build, out)
    except ObjectNotFound as exc:
        shutil.rmtree(out, ignore_errors=True)
        raise NotFound(f"The files of model {found.id} are missing from the artifact store.",
                       code="model_not_found") from exc
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


async def merged_archive(settings: Settings, store: Store, found: Resolved) -> MergedArchive:
    """Merge ``found`` (in a worker thread) and return its tar; the files go when it is read."""
    assert found.row is not None
    out = await _build(settings, found, partial(merge_to, settings, store, found))
    return MergedArchive(out, folder_name(found.id), found.row.created_at)


def gguf_name(found: Resolved, quantization: str) -> str:
    return f"{folder_name(found.id)}-{quantization}.gguf"


def _write_gguf(settings: Settings, store: Store, found: Resolved, quantization: str, out: Path,
                with_modelfile: bool = False) -> None:
    """Merge ``found`` and write its GGUF file (and, for Ollama, the ``Modelfile``) into ``out``."""
    from api.services import ollama
    from api.services.export_gguf import end_of_turn_token, write_gguf
    from core.catalog import open_tokenizer

    merged = out / "merged"
    merge_to(settings, store, found, merged)
    name = gguf_name(found, quantization)
    if with_modelfile:
        tokenizer = open_tokenizer(merged)
        fmt = ollama.turn_format(tokenizer)  # refuses before the GGUF is written
        stops = [end_of_turn_token(tokenizer), str(tokenizer.eos_token or "")]
        (out / "Modelfile").write_text(ollama.modelfile(name, fmt, stops, found.base.system_prompt))
    write_gguf(merged, out / name, quantization, found.id, found.base.chat_template)
    shutil.rmtree(merged)


def require_gguf(found: Resolved, fmt: str) -> None:
    """400 on ``format`` when the base model is not one the catalog offers GGUF exports for."""
    if not found.base.gguf:
        raise InvalidRequest(
            f"format={fmt} is not available for models of {found.base.name}: GGUF export supports the "
            "Llama-architecture bases the catalog marks with `gguf`.", param="format", code="model_not_exportable")


async def gguf_file(settings: Settings, store: Store, found: Resolved, quantization: str) -> TempFile:
    """The merged model as one GGUF file (see :mod:`api.services.export_gguf`)."""
    require_gguf(found, "gguf")
    out = await _build(settings, found, partial(_write_gguf, settings, store, found, quantization))
    return TempFile(out / gguf_name(found, quantization), out)


async def ollama_archive(settings: Settings, store: Store, found: Resolved, quantization: str) -> MergedArchive:
    """A tar of the GGUF file and a ``Modelfile`` for ``ollama create`` (see :mod:`api.services.ollama`)."""
    assert found.row is not None
    require_gguf(found, "ollama")
    out = await _build(settings, found, partial(_write_gguf, settings, store, found, quantization, with_modelfile=True))
    return MergedArchive(out, folder_name(found.id), found.row.created_at)


def require_fine_tuned(found: Resolved) -> None:
    if found.row is None:
        raise InvalidRequest(f"`{found.id}` is a base model; only fine-tuned models can be exported.",
                             param="model", code="model_not_exportable")
