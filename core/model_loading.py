"""Base models on a device, the same way for training, serving and export.

- Device choice: ``Settings.device`` ``auto`` takes CUDA when there is one.
- Weights: safetensors only, ``trust_remote_code`` off; bf16 on CUDA, float32 on the CPU.
- 4-bit: NF4 with double quantization, compute in the load dtype (the QLoRA recipe); a model is
  served and exported the way its adapter was trained.
- CPU threads: PyTorch's OpenMP threads spin while they wait for work; on a machine shared with
  other processes (a server beside its training child, CI beside other builds) spinning threads
  take the cores from the ones that compute, and a step of a tiny model went from 0.1 s to 3 s.
  :data:`CPU_THREAD_ENV` makes them sleep instead; it must be in the environment before torch
  is imported, so processes apply it first thing.

torch, transformers and bitsandbytes are imported inside the functions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Literal

Device = Literal["cuda", "cpu"]

#: Environment for processes that run torch on the CPU (see the module docstring).
CPU_THREAD_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false"}


def apply_cpu_thread_env(environ: MutableMapping[str, str] | None = None) -> None:
    """Put :data:`CPU_THREAD_ENV` into ``environ`` (default ``os.environ``) unless already set."""
    target = os.environ if environ is None else environ
    for name, value in CPU_THREAD_ENV.items():
        target.setdefault(name, value)


def pick_device(setting: str = "auto") -> Device:
    """``cuda`` or ``cpu`` for ``Settings.device``; ``cuda`` without a visible GPU is an error."""
    if setting == "cpu":
        return "cpu"
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("OPENFT_DEVICE=cuda but no CUDA device is visible")
    return "cuda" if torch.cuda.is_available() else "cpu"


def compute_dtype(device: str) -> str:
    """The dtype base weights are loaded and computed in: ``bfloat16`` on CUDA, ``float32`` on the CPU."""
    return "bfloat16" if device == "cuda" else "float32"


def nf4_config(dtype: str = "bfloat16", *, shardable: bool = False) -> Any:
    """The 4-bit config of QLoRA: NF4, double quantization, compute in ``dtype``. ``shardable``:
    the packed weights are stored in ``dtype`` blocks rather than bytes, which FSDP needs to
    flatten them with the other parameters (FSDP + QLoRA)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, dtype),
        bnb_4bit_quant_storage=getattr(torch, dtype) if shardable else torch.uint8,
    )


#: One thread at a time in transformers' loading, per process. Its lazy imports race when server
#: threads first import at once (twenty concurrent first chats got an ImportError), and a run of
#: the suite in which threads loaded at once left one model's tied output matrix on the meta
#: device ("lm_head.weight MISSING", then "Cannot copy out of meta tensor").
TRANSFORMERS_LOCK = threading.Lock()


def load_base_model(model_dir: Path, device: str, quantization: str = "none", *, dtype: str | None = None,
                    attn_implementation: str | None = None, shardable: bool = False) -> Any:
    """The base model from ``model_dir`` on ``device``; 4-bit NF4 when ``quantization == "4bit"``.

    ``dtype`` defaults to :func:`compute_dtype` of the device (``"auto"`` keeps the checkpoint's).
    """
    import torch

    with TRANSFORMERS_LOCK:
        from transformers import AutoModelForCausalLM
    dtype = dtype or compute_dtype(device)
    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": False,
                              "dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if quantization == "4bit":
        kwargs["quantization_config"] = nf4_config(compute_dtype(device) if dtype == "auto" else dtype,
                                                   shardable=shardable)
    if device == "cuda":
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    with TRANSFORMERS_LOCK:
        return AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
