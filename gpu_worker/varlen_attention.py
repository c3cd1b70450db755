"""``openft_varlen`` attention for padding-free micro-batches on CUDA (docs/training.md, "Speed").

A padding-free micro-batch (sequences concatenated, positions restarting at 0, boundaries in
``cu_seq_lens_q``) goes through the variable-length FlashAttention kernel that ships with
PyTorch (``torch.nn.attention.varlen``): attention cost follows the sum of squared sequence
lengths, with no mask. Stock TRL's packing with SDPA builds a dense block-diagonal mask over the
whole packed row instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

VARLEN_ATTENTION = "openft_varlen"
_registered = False
_varlen_impl: Callable[..., Any] | None = None  # tests inject a CPU reference here


def _kernel() -> Callable[..., Any] | None:
    if _varlen_impl is not None:
        return _varlen_impl
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def varlen_available() -> bool:
    """True when the varlen kernel can run here (CUDA, a torch that ships it), or one is injected."""
    import torch

    if _varlen_impl is not None:
        return True
    return torch.cuda.is_available() and _kernel() is not None


def register_varlen_attention() -> bool:
    """Register ``openft_varlen`` with transformers; False when it cannot run here."""
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
    """Like flash attention: boundaries come from ``cu_seq_lens_q``, not from a mask."""
    return None


def _call_kernel(q: Any, k: Any, v: Any, cu: Any, max_len: int, scale: float | None) -> Any:
    kernel = _kernel()
    assert kernel is not None
    params = inspect.signature(kernel).parameters
    kwargs: dict[str, Any] = {}
    if "is_causal" in params:  # torch 2.9-2.11
        kwargs["is_causal"] = True
    else:  # later releases express causality as a window
        kwargs["window_size"] = (-1, 0)
    if scale is not None and "scale" in params:
        kwargs["scale"] = scale
    if k.shape[1] != q.shape[1]:
        if "enable_gqa" in params:
            kwargs["enable_gqa"] = True
        else:
            k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
            v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    return kernel(q, k, v, cu, cu, max_len, max_len, **kwargs)


def varlen_attention_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                             scaling: float | None = None, dropout: float = 0.0,
                             **kwargs: Any) -> tuple[Any, None]:
    """A transformers attention function: (B, H, T, D) in, (B, T, H, D) out, causal per sequence.

    Without ``cu_seq_lens_q`` (generation, or a padded batch) it is SDPA without a mask
    (causal when the query spans several positions): right padding sits after the real
    tokens, so a causal mask alone keeps it out of their attention.
    """
    import torch

    cu = kwargs.get("cu_seq_lens_q")
    b, hq, t, d = query.shape
    if cu is None or b != 1 or key.shape[2] != t:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, None, scaling=scaling, dropout=dropout, **kwargs)
    hk = key.shape[1]
    q = query.transpose(1, 2).reshape(t, hq, d)
    k = key.transpose(1, 2).reshape(t, hk, d)
    v = value.transpose(1, 2).reshape(t, hk, d)
    max_len = int(kwargs.get("max_length_q") or t)
    out = _call_kernel(q, k, v, cu.to(device=query.device, dtype=torch.int32), max_len, scaling)
    return out.reshape(1, t, hq, d), None
