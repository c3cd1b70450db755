"""Checkpoints move between device counts: the RNG state of each rank travels with them
(gpu_worker.checkpoints.stage / download), through a real local store."""

from __future__ import annotations

from pathlib import Path

from core.store import LocalStore
from gpu_worker import checkpoints


def _trainer_checkpoint(root: Path, rng_files: dict[str, bytes]) -> Path:
    """What the Trainer writes for a checkpoint: adapter, optimizer, one RNG file per rank."""
    local = root / "checkpoint-6"
    local.mkdir(parents=True)
    (local / "adapter_model.safetensors").write_bytes(b"weights")
    (local / "adapter_config.json").write_text("{}")
    (local / "optimizer.pt").write_bytes(b"adam")
    for name, data in rng_files.items():
        (local / name).write_bytes(data)
    return local


def test_a_two_rank_checkpoint_resumes_on_one_device_with_rank_zeros_rng(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    local = _trainer_checkpoint(tmp_path / "out", {"rng_state_0.pth": b"rank0", "rng_state_1.pth": b"rank1"})
    checkpoints.upload(store, checkpoints.stage(local, {"step": 6}), "jobs/j/checkpoints/step-6")
    one, meta = checkpoints.download(store, "jobs/j/checkpoints/step-6", tmp_path / "one")
    assert meta["step"] == 6
    assert (one / "rng_state.pth").read_bytes() == b"rank0"  # what a one-process Trainer loads
    assert (one / "adapter_model.safetensors").read_bytes() == b"weights"
    two, _ = checkpoints.download(store, "jobs/j/checkpoints/step-6", tmp_path / "two", ranks=2)
    assert [(two / f"rng_state_{r}.pth").read_bytes() for r in (0, 1)] == [b"rank0", b"rank1"]


def test_a_one_device_checkpoint_gives_every_new_rank_an_rng_state(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    local = _trainer_checkpoint(tmp_path / "out", {"rng_state.pth": b"single"})
    checkpoints.upload(store, checkpoints.stage(local, {"step": 6}), "jobs/j/checkpoints/step-6")
    three, _ = checkpoints.download(store, "jobs/j/checkpoints/step-6", tmp_path / "three", ranks=3)
    assert [(three / f"rng_state_{r}.pth").read_bytes() for r in range(3)] == [b"single"] * 3
