"""The contract between the control plane and GPU workers.

The scheduler writes a :class:`JobSpec` to the artifact store under :func:`spec_key` and sends
only ids through the queue (``job_id``, ``attempt``). The worker runs the job in a child
process, which prints :class:`Report` lines on stdout prefixed by :data:`REPORT_PREFIX`; the
worker relays them to the scheduler over the bus, and the scheduler applies them to the
database (the worker never touches it). Artifacts are exchanged through the store under the
keys defined here.

Control: the worker sends the child SIGUSR1 to pause (the child writes a checkpoint at the next
step boundary, reports ``paused`` and exits 0) and SIGTERM/SIGKILL to cancel.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

REPORT_PREFIX = "@@openft "
MAX_DEVICES = 64  # devices one job may ask for (a worker rarely has more than 8)

Parallelism = Literal["single", "data_parallel", "fsdp"]


# --- store keys ---------------------------------------------------------------------------
def file_key(file_id: str) -> str:
    return f"files/{file_id}"


def spec_key(job_id: str) -> str:
    return f"jobs/{job_id}/spec.json"


def checkpoint_prefix(job_id: str, step: int) -> str:
    """Full trainer state (adapter, optimizer, scheduler, RNG, data position) at ``step``."""
    return f"jobs/{job_id}/checkpoints/step-{step}"


def results_key(job_id: str) -> str:
    """The results CSV written by the engine (copied into a ``fine-tune-results`` file)."""
    return f"jobs/{job_id}/results.csv"


def succeeded_report_key(job_id: str) -> str:
    """The final :class:`Report` of kind ``succeeded``, also kept in the store for reconciliation."""
    return f"jobs/{job_id}/succeeded_report.json"


def data_copy_key(job_id: str, param: str) -> str:
    """The deduplicated or redacted copy of a job's ``training_file`` / ``validation_file``."""
    return f"jobs/{job_id}/data/{param}.jsonl"


def data_report_key(job_id: str) -> str:
    """The job's data quality report (JSON)."""
    return f"jobs/{job_id}/data_report.json"


def model_prefix(model_id: str) -> str:
    """Adapter, tokenizer, chat template and ``lineage.json`` of a fine-tuned model."""
    return f"models/{model_id.replace(':', '_')}"


# --- the job spec -------------------------------------------------------------------------
class BaseModelSpec(BaseModel):
    """A catalog entry as the worker needs it (see core.catalog)."""

    name: str
    source: str
    revision: str | None = None
    max_length: int = 2048
    learning_rate: float = 2e-4
    chat_template: str | None = None
    quantization: Literal["auto", "4bit", "none"] = "auto"


class ParentModelSpec(BaseModel):
    """An ``ft:`` model a job continues from (its adapter is loaded and trained further)."""

    id: str
    artifact_key: str


class Hyperparameters(BaseModel):
    """Resolved numbers; nothing here is ``"auto"``."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    learning_rate: float
    beta: float | None = None
    reinforcement: dict[str, Any] | None = Field(
        None, description="reinforcement only: compute_multiplier, eval_interval, eval_samples, reasoning_effort")


class Extensions(BaseModel):
    """openft extension fields of a fine-tuning job (``extra_body={"openft": {...}}``), all optional.

    Validated by the API when a job is created and resolved by ``gpu_worker.config.resolve_plan``
    (docs/training.md). ``priority`` is the scheduler's, not the engine's, and is not among them.
    """

    model_config = ConfigDict(extra="forbid")

    lora_rank: int = Field(16, ge=1, le=1024, description="LoRA rank r")
    lora_alpha: int = Field(32, ge=1, le=4096, description="LoRA alpha (scale = alpha / r)")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the LoRA input")
    quantization: Literal["auto", "4bit", "none"] = Field("auto", description="auto | 4bit (QLoRA) | none")
    adapter_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="trainable LoRA weights: auto = bfloat16 under QLoRA on CUDA (the QLoRA recipe), "
        "else float32")
    micro_batch_size: int | None = Field(None, ge=1, le=256, description="examples per forward pass")
    checkpoint_every_steps: int | None = Field(None, ge=0, description="recovery checkpoints; 0 = epoch ends")
    eval_every_steps: int | None = Field(None, ge=0, description="validation sample every N steps; 0 = never")
    packing: bool | None = Field(None, description="padding-free packing of micro-batches (CUDA)")
    recompute: Literal["auto", "all"] = Field(
        "auto", description="CUDA activation checkpointing: auto = only as many layers as memory needs")
    memory_budget_gib: float | None = Field(None, gt=0, description="accelerator memory the job may use")
    dedupe: Literal["off", "exact", "near"] = Field(
        "off", description="drop duplicate examples before training: exact copies, or near ones too")
    pii: Literal["warn", "fail", "redact"] = Field(
        "warn", description="personal data or secrets found: warn, fail the job, or train on a redacted copy")
    max_duplicate_share: float | None = Field(
        None, ge=0, le=1, description="fail when more than this share of training examples are duplicates")
    devices: Literal["auto"] | int = Field(
        "auto", description="devices of one worker the job trains on: auto = the fewest its memory needs "
        "(docs/multi-device.md), or a number (data-parallel when the job fits one device, else FSDP)")

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        if value == "auto" and isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DEVICES:
            return value
        raise ValueError(f"must be 'auto' or a whole number from 1 to {MAX_DEVICES}, got {value!r}")


class WandbSpec(BaseModel):
    """A job's Weights & Biases integration as the worker needs it (``integrations[].wandb``).

    ``api_key`` is the project's own key (set through the admin API); None: the worker's
    ``OPENFT_WANDB_API_KEY``. The spec lives in the artifact store, which only the control plane
    and the workers can read.
    """

    project: str
    entity: str | None = None
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    api_key: str | None = None


class JobSpec(BaseModel):
    job_id: str
    attempt: int = 1
    project_id: str
    method: Literal["supervised", "dpo", "reinforcement"]
    grader: dict[str, Any] | None = Field(None, description="the reinforcement method's grader (OpenAI's JSON)")
    base_model: BaseModelSpec
    parent_model: ParentModelSpec | None = None
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters
    seed: int
    fine_tuned_model: str = Field(description="the ft: id the job will publish")
    extensions: dict[str, Any] = Field(
        default_factory=dict,
        description="openft extension fields: lora_rank, lora_alpha, lora_dropout, quantization, "
        "micro_batch_size, checkpoint_every_steps, eval_every_steps, packing",
    )
    wandb: WandbSpec | None = Field(None, description="log metrics, config and hyperparameters to W&B")
    resume_step: int | None = Field(None, description="resume from checkpoint_prefix(job_id, step)")
    n_train_examples: int
    total_steps: int
    file_sha256: dict[str, str] = Field(
        default_factory=dict, description="sha256 of the bytes validation read, by param (training_file, ...)"
    )
    data_keys: dict[str, str] = Field(
        default_factory=dict, description="by param: store key of a deduplicated or redacted copy to train on "
        "instead of the uploaded file (core.protocol.data_copy_key)"
    )
    devices: list[int] = Field(
        default_factory=list, description="indices of the worker's devices placement gave this attempt "
        "(empty: any one free device); one training process per device")
    parallelism: Parallelism = Field(
        "single", description="single (one device), data_parallel (DDP: a full copy per device) or fsdp "
        "(weights and optimizer state sharded over the devices)")

    def retry_with(self, micro_batch_size: int, resume_step: int | None) -> JobSpec:
        """This attempt run again with a smaller micro-batch (an out-of-memory retry), from
        ``resume_step`` when a checkpoint was written; the effective batch size is unchanged."""
        update: dict[str, Any] = {"extensions": {**self.extensions, "micro_batch_size": micro_batch_size}}
        if resume_step is not None:
            update["resume_step"] = resume_step
        return self.model_copy(update=update)


# --- reports from the child (relayed by the worker) ----------------------------------------
ReportKind = Literal["started", "event", "metrics", "checkpoint", "paused", "succeeded", "failed"]


class Report(BaseModel):
    """One message from a training child; ``kind`` says which fields matter.

    - started: total_steps
    - event: level, message, data
    - metrics: step, total_steps, metrics (train_loss, train_mean_token_accuracy, valid_*,
      full_valid_*), trained_tokens
    - checkpoint: step, epoch_end (True for the end of an epoch: published as a checkpoint
      model), metrics, key (checkpoint_prefix), adapter_key (the adapter inside it)
    - paused: step (the checkpoint written before exiting)
    - succeeded: trained_tokens, model_key, results_key, samples (greedy answers for the
      train-to-serve check: list of {messages, answer})
    - failed: code, message
    """

    kind: ReportKind
    job_id: str
    attempt: int = 1
    worker_id: str | None = None
    step: int | None = None
    total_steps: int | None = None
    epoch_end: bool = False
    metrics: dict[str, float] = Field(default_factory=dict)
    trained_tokens: int | None = None
    level: Literal["info", "warn", "error"] = "info"
    message: str | None = None
    code: str | None = None
    data: dict[str, Any] | None = None
    key: str | None = None
    adapter_key: str | None = None
    model_key: str | None = None
    results_key: str | None = None
    samples: list[dict[str, Any]] | None = None

    def line(self) -> str:
        """The stdout line a child prints for this report."""
        return REPORT_PREFIX + self.model_dump_json(exclude_defaults=True)

    @classmethod
    def parse_line(cls, line: str) -> Report | None:
        """The report in a child's stdout line, or None for ordinary output."""
        if not line.startswith(REPORT_PREFIX):
            return None
        return cls.model_validate_json(line[len(REPORT_PREFIX):])


# --- workers ------------------------------------------------------------------------------
class Device(BaseModel):
    """What a worker offers: one GPU, or the CPU."""

    kind: Literal["cuda", "cpu"]
    name: str
    memory_total: int = Field(description="bytes")
    memory_free: int = Field(description="bytes, as last measured")
    index: int = 0


class WorkerInfo(BaseModel):
    """A worker's heartbeat: its devices and the jobs it is running."""

    id: str
    devices: list[Device]
    running: list[str] = Field(default_factory=list, description="job ids")
    capacity: int = Field(1, description="jobs it runs at once")
    heartbeat_at: float = 0.0
