"""CUDA speed-ups for the engine (see docs/training.md, "Speed").

- ``openft_varlen`` attention: padding-free micro-batches (sequences concatenated, positions
  restarting at 0) run through FlashAttention's variable-length kernel shipped with PyTorch
  (``torch.nn.attention.varlen``), instead of SDPA over a dense block-diagonal mask.
"""

from __future__ import annotations

from typing import Any

VARLEN_ATTENTION = "openft_varlen"
_registered = False


def varlen_available() -> bool:
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        from torch.nn.attention import varlen  # noqa: F401
    except ImportError:
        return False
    return True


def register_varlen_attention() -> bool:
    """Register ``openft_varlen`` with transformers; False when this torch/GPU cannot run it."""
    global _registered
    if _registered:
        return True
    if not varlen_available():
        return False
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention_forward)
    AttentionMaskInterface.register(VARLEN_ATTENTION, _no_mask)
    _registered = True
    return True


def _no_mask(*args: Any, **kwargs: Any) -> None:
    """Like flash attention: sequence boundaries come from cu_seq_lens, not from a mask."""
    return None


def varlen_attention_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                             scaling: float | None = None, dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """transformers attention function: (B, H, T, D) tensors, causal within each sequence."""
    import torch
    from torch.nn.attention.varlen import varlen_attn

    b, hq, t, d = query.shape
    hk = key.shape[1]
    cu = kwargs.get("cu_seq_lens_q")
    max_len = kwargs.get("max_length_q")
    if cu is None:  # a plain (unpacked) batch: every row is one sequence of length t
        cu = torch.arange(0, (b + 1) * t, t, dtype=torch.int32, device=query.device)
        max_len = t
    q = query.transpose(1, 2).reshape(b * t, hq, d)
    k = key.transpose(1, 2).reshape(b * t, hk, d)
    v = value.transpose(1, 2).reshape(b * t, hk, d)
    if hk != hq:
        k = k.repeat_interleave(hq // hk, dim=1)
        v = v.repeat_interleave(hq // hk, dim=1)
    cu = cu.to(device=query.device, dtype=torch.int32)
    out = varlen_attn(q, k, v, cu, cu, int(max_len), int(max_len), is_causal=True, scale=scaling)
    return out.reshape(b, t, hq, d), None
