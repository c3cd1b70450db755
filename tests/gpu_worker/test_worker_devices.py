"""What a worker offers (devices) and what its children inherit (settings, device pinning)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from pydantic import SecretStr

from core.protocol import Device
from core.settings import GiB, Settings
from gpu_worker.child_process import child_env, settings_env
from gpu_worker.devices import DeviceError, _torch_cuda, child_visible_devices, detect_devices

needs_no_gpu = pytest.mark.skipif(_torch_cuda() is not None, reason="this machine has a GPU")


def test_cpu_device_offers_the_configured_memory() -> None:
    [cpu] = detect_devices(Settings(device="cpu", cpu_memory_gib=2.5))
    assert cpu.kind == "cpu" and cpu.index == 0
    assert cpu.memory_total == cpu.memory_free == int(2.5 * GiB)


@needs_no_gpu
def test_auto_without_a_gpu_offers_free_ram() -> None:
    [cpu] = detect_devices(Settings(device="auto"))
    assert cpu.kind == "cpu"
    assert cpu.memory_total == psutil.virtual_memory().total
    assert 0 < cpu.memory_free <= cpu.memory_total


@needs_no_gpu
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="OPENFT_DEVICE=cuda"):
        detect_devices(Settings(device="cuda"))


def test_a_cpu_child_sees_no_gpu() -> None:
    cpu = Device(kind="cpu", name="cpu", memory_total=1, memory_free=1)
    assert child_visible_devices([cpu]) == ""


def test_the_child_rebuilds_the_same_settings_from_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Settings(
        data_dir=tmp_path / "data", store_url="s3://bucket/prefix", s3_endpoint_url="http://127.0.0.1:9000",
        api_key=SecretStr("sk-secret"), heartbeat_seconds=0.25, device="cuda", cpu_memory_gib=3.0,
        log_json=False, checkpoint_every_steps=7, redis_url="redis://r:6379/2",
    )
    gpu = Device(kind="cuda", name="H100", memory_total=80 * GiB, memory_free=79 * GiB, index=0)
    base = {"PATH": "/usr/bin", "OPENFT_WORKER_NAME": "stale", "HOME": "/root"}
    env = child_env(original, gpu, "GPU-1234", base=base)
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-1234" and env["OPENFT_DEVICE"] == "cuda"
    assert env["PATH"] == "/usr/bin" and env["PYTHONUNBUFFERED"] == "1"
    assert "OPENFT_WORKER_NAME" not in env  # the worker's own settings win, not its environment
    assert set(settings_env(original)) <= set(env)
    for name in list(__import__("os").environ):
        if name.startswith("OPENFT_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()  # type: ignore[call-arg]
    assert rebuilt.api_key is not None and rebuilt.api_key.get_secret_value() == "sk-secret"
    dump = {k: v for k, v in rebuilt.model_dump().items() if k != "api_key"}
    expected = {k: v for k, v in original.model_dump().items() if k != "api_key"}
    expected["data_dir"] = (tmp_path / "data").resolve()
    assert dump == expected


@needs_no_gpu
def test_a_cpu_worker_offers_its_configured_number_of_devices_sharing_its_memory() -> None:
    devices = detect_devices(Settings(device="auto", cpu_memory_gib=3.0, worker_cpu_devices=3))
    assert [(d.kind, d.index) for d in devices] == [("cpu", 0), ("cpu", 1), ("cpu", 2)]
    assert all(d.memory_total == d.memory_free == GiB for d in devices)
    assert detect_devices(Settings(device="cpu"))[0].index == 0 and len(detect_devices(Settings(device="cpu"))) == 1
