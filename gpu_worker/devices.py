"""What a worker offers: its CUDA GPUs (name, total and free memory), or else the CPU as
``Settings.worker_cpu_devices`` devices (``OPENFT_WORKER_CPU_DEVICES``, default 1) that share its
memory evenly, so the multi-device path (one process per device, gloo) runs without GPUs.

torch is imported lazily, and free GPU memory is read through NVML (the driver's
``libnvidia-ml.so.1``, by device UUID) so that measuring it every heartbeat does not create a
CUDA context in the worker process; without NVML it falls back to ``torch.cuda.mem_get_info``.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
from typing import Any

import psutil

from core.protocol import Device
from core.settings import GiB, Settings

log = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """The configured device cannot be used (e.g. ``OPENFT_DEVICE=cuda`` without a GPU)."""


def detect_devices(settings: Settings) -> list[Device]:
    """The devices this worker offers, with free memory as of now.

    ``settings.device``: ``cpu`` offers the CPU; ``cuda`` requires GPUs; ``auto`` offers the GPUs
    when there are any, else the CPU.
    """
    if settings.device != "cpu":
        gpus = _cuda_devices()
        if gpus:
            return gpus
        if settings.device == "cuda":
            raise DeviceError("OPENFT_DEVICE=cuda but no CUDA device is available")
    return _cpu_devices(settings)


def child_visible_devices(devices: list[Device]) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a child that trains on ``devices`` ("" hides every GPU)."""
    if not devices or devices[0].kind != "cuda":
        return ""
    uuids = _cuda_uuids()
    return ",".join(uuids.get(d.index) or str(d.index) for d in devices)


def _cpu_devices(settings: Settings) -> list[Device]:
    mem = psutil.virtual_memory()
    if settings.cpu_memory_gib is not None:
        total = free = int(settings.cpu_memory_gib * GiB)
    else:
        total, free = int(mem.total), int(mem.available)
    n = settings.worker_cpu_devices
    name = f"{platform.processor() or platform.machine() or 'cpu'} ({os.cpu_count() or 1} cores)"
    return [Device(kind="cpu", name=name, memory_total=total // n, memory_free=free // n, index=i) for i in range(n)]


def _torch_cuda() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda


def _cuda_devices() -> list[Device]:
    cuda = _torch_cuda()
    if cuda is None:
        return []
    uuids = _cuda_uuids()
    devices = []
    for i in range(cuda.device_count()):
        props = cuda.get_device_properties(i)
        free = _nvml_free(uuids.get(i)) if uuids.get(i) else None
        if free is None:
            free, _ = cuda.mem_get_info(i)
        total, free = int(props.total_memory), int(free)
        devices.append(Device(kind="cuda", name=props.name, memory_total=total, memory_free=free, index=i))
    return devices


@functools.cache
def _cuda_uuids() -> dict[int, str]:
    """torch ordinal -> ``GPU-…`` UUID (valid in CUDA_VISIBLE_DEVICES whatever the ordering)."""
    cuda = _torch_cuda()
    if cuda is None:
        return {}
    out = {}
    for i in range(cuda.device_count()):
        uuid = getattr(cuda.get_device_properties(i), "uuid", None)
        if uuid is not None:
            text = str(uuid)
            out[i] = text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"
    return out


class _NvmlMemory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


@functools.cache
def _nvml() -> Any | None:
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
        if lib.nvmlInit_v2() != 0:
            return None
        return lib
    except (OSError, AttributeError):
        return None


def _nvml_free(uuid: str | None) -> int | None:
    """Free bytes of the GPU with this UUID according to NVML, or None when NVML cannot tell."""
    lib = _nvml()
    if lib is None or uuid is None:
        return None
    handle = ctypes.c_void_p()
    if lib.nvmlDeviceGetHandleByUUID(uuid.encode(), ctypes.byref(handle)) != 0:
        return None
    mem = _NvmlMemory()
    if lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem)) != 0:
        return None
    return int(mem.free)
