"""Trainer checkpoints <-> the artifact store.

A checkpoint in the store, under ``core.protocol.checkpoint_prefix(job_id, step)``::

    adapter/            adapter weights + config, tokenizer, chat template (sealed on its own:
                        servable as the ``ft:…:ckpt-step-N`` model)
    optimizer.pt, scheduler.pt, trainer_state.json, training_args.bin
    rng_state.pth       the RNG state of the run (rank 0's for a multi-device run, which also
    rng_state_N.pth     keeps each rank's), so the job resumes on any number of devices
    openft_checkpoint.json   step, epoch, epoch_end, metrics, history (results rows so far)
    _MANIFEST.json      written last: a checkpoint without it is incomplete and ignored

The job keeps the checkpoints of its last three epoch ends (as OpenAI does) and its latest
recovery checkpoint; older ones are deleted once a newer one is sealed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from core.protocol import checkpoint_prefix
from core.store import MANIFEST, Store

ADAPTER_DIR = "adapter"
META = "openft_checkpoint.json"
RNG_STATE = "rng_state.pth"
KEEP_EPOCH_ENDS = 3
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json")


def adapter_key(job_id: str, step: int) -> str:
    return f"{checkpoint_prefix(job_id, step)}/{ADAPTER_DIR}"


def stage(trainer_dir: Path, meta: dict[str, Any]) -> Path:
    """Rearrange a Trainer checkpoint directory into the store layout (in place)."""
    adapter = trainer_dir / ADAPTER_DIR
    adapter.mkdir(exist_ok=True)
    for name in ADAPTER_FILES + TOKENIZER_FILES:
        if (trainer_dir / name).exists():
            shutil.move(str(trainer_dir / name), adapter / name)
    for extra in ("README.md",):
        (trainer_dir / extra).unlink(missing_ok=True)
    for sub in [p for p in trainer_dir.iterdir() if p.is_dir() and p.name != ADAPTER_DIR]:
        shutil.rmtree(sub)  # other adapters (DPO's frozen "ref" copy) are rebuilt on resume
    if (trainer_dir / "rng_state_0.pth").exists() and not (trainer_dir / RNG_STATE).exists():
        shutil.copyfile(trainer_dir / "rng_state_0.pth", trainer_dir / RNG_STATE)
    (trainer_dir / META).write_text(json.dumps(meta, indent=1, sort_keys=True))
    return trainer_dir


def upload(store: Store, local: Path, prefix: str) -> None:
    """Upload a staged checkpoint: the adapter subtree sealed first, the whole tree last."""
    prefix = prefix.rstrip("/")
    store.delete(f"{prefix}/{MANIFEST}")
    store.upload_dir(local / ADAPTER_DIR, f"{prefix}/{ADAPTER_DIR}")
    files = sorted(p for p in local.rglob("*") if p.is_file() and p.parent != local / ADAPTER_DIR)
    for path in files:
        with path.open("rb") as fh:
            store.write_stream(f"{prefix}/{path.relative_to(local).as_posix()}", fh)
    manifest = {p.relative_to(local).as_posix(): p.stat().st_size for p in sorted(local.rglob("*")) if p.is_file()}
    manifest[f"{ADAPTER_DIR}/{MANIFEST}"] = store.size(f"{prefix}/{ADAPTER_DIR}/{MANIFEST}")
    store.write_json(f"{prefix}/{MANIFEST}", manifest)


def download(store: Store, prefix: str, local: Path, ranks: int = 1) -> tuple[Path, dict[str, Any]]:
    """A sealed checkpoint as a Trainer checkpoint directory for ``ranks`` processes, and its
    ``openft_checkpoint.json``. A rank without an RNG state of its own (the checkpoint was written
    on fewer devices) gets the run's (rank 0's)."""
    store.download_dir(prefix, local)
    adapter = local / ADAPTER_DIR
    for path in list(adapter.iterdir()):
        if path.name != MANIFEST:
            shutil.move(str(path), local / path.name)
    shutil.rmtree(adapter)
    if ranks > 1 and (local / RNG_STATE).exists():
        for rank in range(ranks):
            if not (local / f"rng_state_{rank}.pth").exists():
                shutil.copyfile(local / RNG_STATE, local / f"rng_state_{rank}.pth")
    meta = json.loads((local / META).read_text())
    return local, meta


def list_sealed(store: Store, job_id: str) -> list[dict[str, Any]]:
    """Metadata of the job's complete checkpoints, oldest first (``key`` added)."""
    root = checkpoint_prefix(job_id, 0).rsplit("/", 1)[0]
    out = []
    for key in store.list(root + "/"):
        parts = key.split("/")
        if parts[-1] == MANIFEST and len(parts) == 5:  # jobs/{id}/checkpoints/step-N/_MANIFEST.json
            prefix = key.rsplit("/", 1)[0]
            try:
                meta = store.read_json(f"{prefix}/{META}")
            except Exception:
                continue
            out.append({**meta, "key": prefix})
    return sorted(out, key=lambda m: int(m["step"]))


def prune(store: Store, job_id: str) -> list[str]:
    """Delete checkpoints no longer needed: all but the last three epoch ends and the newest one."""
    sealed = list_sealed(store, job_id)
    if not sealed:
        return []
    keep = {sealed[-1]["key"]}
    keep |= {m["key"] for m in [m for m in sealed if m.get("epoch_end")][-KEEP_EPOCH_ENDS:]}
    removed = []
    for meta in sealed:
        if meta["key"] not in keep:
            store.delete_prefix(meta["key"])
            removed.append(meta["key"])
    return removed
