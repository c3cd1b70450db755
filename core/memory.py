"""The one memory model of a LoRA/QLoRA training job: placement and the engine both use it.

The scheduler places a job on a device that can hold :func:`estimate_for_job`; the engine
(``gpu_worker.recompute``) picks how many decoder layers keep their activations with
:func:`layers_that_fit`, from the same per-token activation terms; both take their default
micro-batch from :data:`core.micro_batch.DEFAULT_MICRO_BATCH`.

The estimate adds four terms (all in bytes)::

    weights      frozen base weights: the linear layers at 0.52 byte/param in NF4 (4 bits plus
                 the double-quantized block scales), 2 in bf16, 4 in fp32; embeddings and the
                 LM head stay at 16 bits when the rest is 4-bit (bitsandbytes quantizes only
                 the decoder's linear layers)
    adapter      LoRA A and B on q, k, v, o, gate, up, down: rank * (9h + 2kv + 3i) per layer,
                 16 bytes each (fp32 weight, gradient, two Adam moments)
    activations  tokens = micro_batch * seq_len (twice that for DPO: chosen and rejected) times
                 per-token bytes. With gradient checkpointing (the GPU default) each layer's
                 input is kept (2 * layers * h) plus the larger of two peaks: the logits
                 (1 * vocab) or one layer recomputed with its gradients (8 * (4h + 3i) for
                 QLoRA, 9.5 * (4h + 3i) for bf16 LoRA). Without it (CPU training) every layer
                 keeps 5 * (4h + 3i), plus the logits. Doubled for fp32 activations.
    overhead     15% for the caching allocator (reserved over allocated: 2-18% measured) plus
                 768 MiB (the CUDA context and cuBLAS workspaces, ~0.75 GiB on an H100; or the
                 Python and torch runtime of a CPU job)

Several devices (``openft.devices``, docs/multi-device.md): data-parallel keeps a full copy of
weights and adapter on every device; FSDP shards weights, adapter and optimizer state over the
``n`` devices (:func:`per_device_bytes`: ``(weights + adapter) / n``); each rank keeps the
activations of its own micro-batch in full either way.

Calibration (tests/scheduler/test_memory_estimate.py holds every figure): the seven runs of
shared/reference/gpu-baseline.md (Llama-3.1-8B and -3.2-1B shapes, QLoRA and bf16 LoRA r16,
micro-batch 4 and 8, length 2048) and four runs measured for this module with the engine's TRL
settings on an H100 (tests/scheduler/measure_gpu_memory.py: Qwen2.5-0.5B and tied Llama-3.2-1B
shapes at length 4096, bf16 LoRA, DPO). weights + adapter + activations lands 3-38% above the
measured peak allocated memory, and ``total`` above what the device had in use. Pure
arithmetic: nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from core.micro_batch import micro_batch_cap
from core.protocol import Hyperparameters

Quantization = Literal["4bit", "16bit", "32bit"]
DeviceKind = Literal["cuda", "cpu"]

GiB: Final = 1024**3
MiB: Final = 1024**2

NF4_BYTES_PER_PARAM: Final = 0.52
WEIGHT_BYTES: Final[Mapping[str, float]] = {"4bit": NF4_BYTES_PER_PARAM, "16bit": 2.0, "32bit": 4.0}
ADAPTER_BYTES_PER_PARAM: Final = 16
LOGITS_BYTES_PER_VOCAB: Final = 1.0
RECOMPUTE_BYTES_PER_UNIT: Final[Mapping[str, float]] = {"4bit": 8.0, "16bit": 9.5, "32bit": 9.5}
STORED_BYTES_PER_UNIT: Final = 5.0
FRAGMENTATION: Final = 0.15
FIXED_OVERHEAD: Final = 768 * MiB

DEFAULT_LORA_RANK: Final = 16


@dataclass(frozen=True)
class ModelShape:
    """The figures of a Llama-like decoder that memory depends on.

    ``kv_dim`` is ``num_kv_heads * head_dim`` (``hidden`` for full multi-head attention).
    """

    hidden: int
    layers: int
    vocab: int
    intermediate: int
    kv_dim: int
    tied_embeddings: bool = False
    n_params: int | None = None

    @property
    def embedding_params(self) -> int:
        """Input embedding plus LM head (once when they are tied)."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def layer_linear_params(self) -> int:
        h, kv, i = self.hidden, self.kv_dim, self.intermediate
        return 2 * h * h + 2 * h * kv + 3 * h * i

    @property
    def total_params(self) -> int:
        """``n_params`` when known, else counted from the shape (norms included)."""
        if self.n_params:
            return self.n_params
        per_layer = self.layer_linear_params + 2 * self.hidden  # + the two RMSNorm weights
        return self.embedding_params + self.layers * per_layer + self.hidden

    @property
    def linear_params(self) -> int:
        """Parameters of the decoder's linear layers (what 4-bit quantization shrinks)."""
        return max(0, self.total_params - self.embedding_params)

    def lora_params(self, rank: int) -> int:
        """LoRA A and B on all seven projections of every layer."""
        return rank * self.layers * (9 * self.hidden + 2 * self.kv_dim + 3 * self.intermediate)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelShape:
        """From a Hugging Face ``config.json`` of a Llama-like model."""
        hidden = int(config["hidden_size"])
        heads = int(config.get("num_attention_heads") or 1)
        head_dim = int(config.get("head_dim") or hidden // heads)
        return cls(
            hidden=hidden,
            layers=int(config["num_hidden_layers"]),
            vocab=int(config["vocab_size"]),
            intermediate=int(config.get("intermediate_size") or 4 * hidden),
            kv_dim=int(config.get("num_key_value_heads") or heads) * head_dim,
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        )


def shape_of(entry: Any) -> ModelShape | None:
    """The shape of a catalog entry (``core.catalog.ModelEntry``), or None when it has no figures.

    An entry with only ``n_params`` gets a Llama-proportioned guess (layers ~ n^(1/3) / 60,
    ``12 * layers * hidden^2`` parameters, a 128k vocabulary), which errs on the large side.
    """
    hidden = getattr(entry, "hidden_size", None)
    layers = getattr(entry, "num_layers", None)
    n_params = getattr(entry, "n_params", None)
    if hidden and layers:
        heads = getattr(entry, "num_attention_heads", None) or 1
        kv_heads = getattr(entry, "num_kv_heads", None) or heads
        return ModelShape(
            hidden=hidden, layers=layers, vocab=getattr(entry, "vocab_size", None) or 128_256,
            intermediate=getattr(entry, "intermediate_size", None) or 4 * hidden,
            kv_dim=kv_heads * (hidden // heads), n_params=n_params,
        )
    if n_params:
        layers = max(2, round(n_params ** (1 / 3) / 60))
        hidden = int(math.sqrt(n_params / (12 * layers)))
        return ModelShape(hidden=hidden, layers=layers, vocab=128_256, intermediate=4 * hidden,
                          kv_dim=hidden, n_params=n_params)
    return None


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimate with its terms; ``total`` is what a device must have free."""

    quantization: str
    weights: int
    adapter: int
    activations: int
    overhead: int

    @property
    def allocated(self) -> int:
        """What ``torch.cuda.max_memory_allocated`` would show (no context, no fragmentation)."""
        return self.weights + self.adapter + self.activations

    @property
    def total(self) -> int:
        return self.allocated + self.overhead

    def describe(self) -> str:
        """``weights 5.3 GiB, adapter 0.6 GiB, activations 4.7 GiB, overhead 1.6 GiB``."""
        terms = ("weights", "adapter", "activations", "overhead")
        return ", ".join(f"{k} {gib(getattr(self, k))}" for k in terms)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def per_device_bytes(terms: Mapping[str, Any], devices: int, *, sharded: bool) -> int:
    """What each of ``devices`` devices must have free for a job whose one-device estimate has
    ``terms`` (:meth:`MemoryEstimate.to_dict`): weights and adapter (with its optimizer state)
    divided among the devices when ``sharded`` (FSDP), the activations of one rank's micro-batch,
    and the overhead on that."""
    n = max(1, devices) if sharded else 1
    allocated = (int(terms["weights"]) + int(terms["adapter"])) / n + int(terms["activations"])
    return int(allocated * (1 + FRAGMENTATION) + FIXED_OVERHEAD)


def gib(n: int | float) -> str:
    """``10.3 GiB``."""
    return f"{n / GiB:.1f} GiB"


def estimate_job_memory(
    shape: ModelShape,
    *,
    quantization: Quantization,
    lora_rank: int = DEFAULT_LORA_RANK,
    micro_batch: int = 4,
    seq_len: int = 2048,
    preference: bool = False,
    gradient_checkpointing: bool = True,
) -> MemoryEstimate:
    """Memory to train a LoRA adapter of ``lora_rank`` on ``shape`` (see the module docstring).

    ``quantization`` is the storage of the frozen weights: ``4bit`` (QLoRA, bf16 compute),
    ``16bit`` (bf16 LoRA) or ``32bit`` (fp32 LoRA, the CPU path; activations in fp32 too).
    ``preference`` doubles the sequences (DPO's chosen and rejected answers).
    """
    if quantization not in WEIGHT_BYTES:
        raise ValueError(f"unknown quantization {quantization!r}")
    if quantization == "4bit":
        weights = shape.linear_params * NF4_BYTES_PER_PARAM + shape.embedding_params * 2
    else:
        weights = shape.total_params * WEIGHT_BYTES[quantization]
    adapter = shape.lora_params(lora_rank) * ADAPTER_BYTES_PER_PARAM
    kept = 0 if gradient_checkpointing else shape.layers
    tokens = micro_batch * seq_len * (2 if preference else 1)
    activations = activation_bytes_per_token(shape, quantization, kept_layers=kept) * tokens
    allocated = weights + adapter + activations
    overhead = FRAGMENTATION * allocated + FIXED_OVERHEAD
    return MemoryEstimate(quantization, int(weights), int(adapter), int(activations), int(overhead))


def activation_bytes_per_token(shape: ModelShape, quantization: Quantization, *, kept_layers: int) -> float:
    """Activation bytes per token when the first ``kept_layers`` decoder layers keep their
    activations and the others recompute them (activation checkpointing).

    A kept layer holds ``5 * (4h + 3i)``; a recomputing one only its input (``2h``) plus, once,
    the peak of recomputing one layer with its gradients; the logits (``1 * vocab``) count when
    they are larger than that peak, or always when nothing recomputes. Doubled for fp32.
    """
    h = shape.hidden
    kept = max(0, min(shape.layers, kept_layers))
    unit = 4 * h + 3 * shape.intermediate
    logits = LOGITS_BYTES_PER_VOCAB * shape.vocab
    per_token = kept * STORED_BYTES_PER_UNIT * unit
    if kept < shape.layers:
        per_token += (shape.layers - kept) * 2 * h + max(logits, RECOMPUTE_BYTES_PER_UNIT[quantization] * unit)
    else:
        per_token += logits
    return per_token * (2 if quantization == "32bit" else 1)


def layers_that_fit(shape: ModelShape, quantization: Quantization, tokens: int, spare_bytes: float) -> int:
    """How many decoder layers may keep their activations for a micro-batch of ``tokens``
    when ``spare_bytes`` are left for activations (the most that fit, 0 if even full recompute
    does not)."""
    for kept in range(shape.layers, 0, -1):
        if activation_bytes_per_token(shape, quantization, kept_layers=kept) * tokens <= spare_bytes:
            return kept
    return 0


def allocated_limit(budget_bytes: int) -> int:
    """The allocated memory a device budget holds, after the allocator's slack and the fixed
    overhead that :attr:`MemoryEstimate.overhead` adds on top of the allocated terms."""
    return max(0, int((budget_bytes - FIXED_OVERHEAD) / (1 + FRAGMENTATION)))


# --- what a job asks of a device ----------------------------------------------------------
def micro_batch_size(hp: Hyperparameters, extensions: Mapping[str, Any] | None = None,
                     kind: DeviceKind = "cuda") -> int:
    """The largest micro-batch the engine may run: ``openft.micro_batch_size`` or its default
    (4 on CUDA, 16 on the CPU), never above ``batch_size``. The engine takes the largest divisor
    of the batch size under this cap, so this bounds it from above."""
    return micro_batch_cap(hp.batch_size, kind, (extensions or {}).get("micro_batch_size"))


def quantization_for(kind: DeviceKind, requested: str | None) -> Quantization:
    """Weight storage on a device kind: QLoRA by default on CUDA, fp32 LoRA on CPU.

    ``requested`` is the job's ``openft.quantization`` or the catalog entry's (``auto``,
    ``4bit``, ``none``).
    """
    if requested == "4bit":
        return "4bit"
    if kind == "cuda":
        return "16bit" if requested == "none" else "4bit"
    return "32bit"


def estimate_for_job(base: Any, hp: Hyperparameters, extensions: Mapping[str, Any] | None = None,
                     *, preference: bool | None = None) -> dict[str, Any]:
    """A job's ``requirements``: bytes per device kind it can run on, with the terms of each.

    ``base`` is the catalog entry (shape figures, ``max_length``, ``quantization``);
    ``preference`` (DPO) defaults to whether ``hp`` has a ``beta``; a reinforcement job's micro-batch
    holds at least one prompt's group of generations (:func:`core.rft.num_generations`). Returns
    ``{"memory": {"cuda": n, "cpu": n}, "detail": {kind: MemoryEstimate.to_dict()},
    "micro_batch_size": {kind: n}, "seq_len", "lora_rank"}``; ``memory`` is None when the entry has no
    shape figures (the job then fits any device). Read back by
    :meth:`scheduler.placement.JobRequirement.from_job`.
    """
    ext = extensions or {}
    if preference is None:
        preference = hp.beta is not None
    rank = int(ext.get("lora_rank") or DEFAULT_LORA_RANK)
    seq_len = int(getattr(base, "max_length", 2048))
    requested = ext.get("quantization")
    if requested in (None, "auto"):
        requested = getattr(base, "quantization", "auto")
    micro = {kind: micro_batch_size(hp, ext, kind) for kind in ("cuda", "cpu")}
    if hp.reinforcement:  # GRPO scores a prompt's whole group of generations in one forward pass
        from core.rft import num_generations

        group = num_generations(float(hp.reinforcement.get("compute_multiplier", 1.0)))
        micro = {kind: max(n, group) for kind, n in micro.items()}
    out: dict[str, Any] = {"micro_batch_size": micro, "seq_len": seq_len, "lora_rank": rank,
                           "memory": None, "detail": None}
    shape = shape_of(base)
    if shape is None:
        return out
    memory: dict[str, int] = {}
    detail: dict[str, Any] = {}
    for kind in ("cuda", "cpu"):
        est = estimate_job_memory(
            shape, quantization=quantization_for(kind, requested), lora_rank=rank, micro_batch=micro[kind],
            seq_len=seq_len, preference=preference, gradient_checkpointing=kind == "cuda",
        )
        memory[kind] = est.total
        detail[kind] = est.to_dict()
    out["memory"], out["detail"] = memory, detail
    return out
