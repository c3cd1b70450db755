"""The one settings object of openft.

Everything configurable comes from here (environment prefix ``OPENFT_``); no other module reads
the environment. Build it once at start-up and pass it down; tests construct their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
GiB = 1024 * MiB


class Settings(BaseSettings):
    """Process-wide configuration, read from ``OPENFT_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="OPENFT_", extra="ignore")

    # --- where things live -------------------------------------------------------------
    data_dir: Path = Field(Path("./openft-data"), description="SQLite, local artifacts, model cache")
    database_url: str | None = Field(
        None, description="postgresql://user@host:port/db; default: SQLite under data_dir"
    )
    store_url: str | None = Field(
        None, description="s3://bucket/prefix or a local directory; default: data_dir/artifacts"
    )
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto_server)")
    s3_region: str = Field("us-east-1", description="region passed to boto3")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="arq queue and worker bus")
    model_cache_dir: Path | None = Field(None, description="base models are fetched here; default data_dir/models")
    catalog_path: Path | None = Field(None, description="JSON file with extra base-model catalog entries")
    base_build_cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "openft", description="machine-wide cache of base "
        "models built locally (the pretrained tiny-chat, keyed by its recipe's hash); model caches hard-link "
        "from it; default ~/.cache/openft")

    # --- API ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: SecretStr | None = Field(None, description="bootstraps an admin key for project 'default'")
    max_file_bytes: int = Field(512 * MiB, description="largest /v1/files upload")
    max_upload_bytes: int = Field(8 * GiB, description="largest /v1/uploads total")
    max_part_bytes: int = Field(64 * MiB, description="largest /v1/uploads part")
    upload_ttl_seconds: int = 3600
    log_json: bool = True
    vllm_servers: dict[str, str] = Field(
        default_factory=dict, description="base model name -> URL (…/v1) of a vLLM server started with "
        "--enable-lora that serves it and its ft: models (JSON in OPENFT_VLLM_SERVERS)")
    vllm_adapter_dir: Path | None = Field(
        None, description="directory the vLLM servers read too (same path); default data_dir/vllm-adapters")
    serve_check: bool = Field(
        True, description="after a job succeeds, ask the served ft: model the worker's sample prompts and add a "
        "warn event when the answers differ (the train-to-serve check, run by an API process)")
    serve_check_interval_seconds: float = Field(2.0, description="how often an API process looks for checks to run")
    eval_runs: bool = Field(True, description="run queued eval runs in this API process (background, claimed)")
    eval_interval_seconds: float = Field(1.0, description="how often an API process looks for eval runs to run")
    eval_stale_claim_seconds: float = Field(
        60.0, description="an eval run whose API process has not stamped its claim for this long is taken over")
    eval_max_items: int = Field(10_000, description="most data source items one eval run may have")

    # --- limits, usage and prices (admin API) ------------------------------------------------
    rate_limit_requests_per_minute: int = Field(
        10_000, description="chat/completions requests per minute per project and model, unless the admin "
        "API sets the model's own limit")
    rate_limit_tokens_per_minute: int = Field(
        10_000_000, description="chat/completions tokens (prompt + completion) per minute per project and model, "
        "unless the admin API sets the model's own limit")
    price_per_1m_input_tokens: float = Field(0.0, description="cost of 1M prompt tokens served (usage/costs)")
    price_per_1m_output_tokens: float = Field(0.0, description="cost of 1M completion tokens served")
    price_per_1m_trained_tokens: float = Field(0.0, description="cost of 1M fine-tuning trained tokens")
    price_per_gpu_hour: float = Field(0.0, description="cost of one device-hour of fine-tuning")
    price_currency: str = Field("usd", description="currency of the prices above")

    webhooks_allow_private_targets: bool = Field(
        False, description="let webhook URLs resolve to loopback, link-local or private addresses (tests, labs)")
    webhooks_retry_base_seconds: float = Field(
        30.0, description="first retry of a failed webhook delivery after this long, doubling each time")
    webhooks_retry_max_seconds: float = Field(
        3 * 24 * 3600.0, description="a delivery is retried until this long after the event, then marked failed")
    webhooks_timeout_seconds: float = Field(10.0, description="one delivery attempt gives up after this long")
    webhooks_interval_seconds: float = Field(1.0, description="how often an API process looks for due deliveries")

    # --- Weights & Biases (jobs created with integrations=[{"type": "wandb", ...}]) -------------
    wandb_api_key: SecretStr | None = Field(
        None, description="W&B API key the workers log with, unless the job's project set its own through the "
        "admin API (/v1/organization/projects/{id}/integrations/wandb)")
    wandb_mode: Literal["online", "offline"] = Field(
        "online", description="offline: runs are written under wandb_dir only (sync them later with `wandb sync`)")
    wandb_base_url: str | None = Field(None, description="a self-hosted W&B server; default api.wandb.ai")
    wandb_dir: Path | None = Field(None, description="where workers keep W&B run files; default data_dir/wandb")
    wandb_timeout_seconds: float = Field(
        60.0, description="longest wait for W&B to start or finish a run; past it the job goes on without it")

    # --- scheduler ----------------------------------------------------------------------
    scheduler_tick_seconds: float = 0.5
    worker_lease_seconds: float = Field(15.0, description="a worker silent this long loses its jobs")
    dispatch_timeout_seconds: float = Field(30.0, description="re-dispatch a job no worker picked up")
    max_attempts: int = Field(3, description="worker losses a job survives before it fails")

    # --- worker -------------------------------------------------------------------------
    worker_name: str | None = None
    heartbeat_seconds: float = 1.0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_memory_gib: float | None = Field(None, description="memory a CPU worker offers; default: free RAM")
    worker_cpu_devices: int = Field(1, ge=1, le=64, description=(
        "devices a worker without a GPU offers (OPENFT_WORKER_CPU_DEVICES): its memory split evenly among them, "
        "one training process each, so multi-device jobs run (gloo) without GPUs"))
    collective_timeout_seconds: float = Field(600.0, gt=0, description=(
        "a multi-device job's ranks give up on a collective operation after this long, so a dead rank "
        "never hangs the others"))
    checkpoint_every_steps: int = Field(0, description="recovery checkpoints every N steps; 0 = auto")
    job_budget_seconds: int = Field(24 * 3600, description="the longest a training task may run")

    # --- graders ---------------------------------------------------------------------------
    grader_embeddings_model_dir: Path | None = Field(
        None, description="local sentence-transformers directory for text_similarity 'cosine'")
    grader_embeddings_url: str | None = Field(
        None, description="OpenAI-compatible base URL (…/v1) whose /embeddings serves 'cosine'")
    grader_embeddings_model: str | None = Field(None, description="embedding model name at grader_embeddings_url")
    grader_embeddings_api_key: SecretStr | None = Field(None, description="API key for grader_embeddings_url")
    grader_judge_url: str | None = Field(
        None, description="OpenAI-compatible base URL (…/v1) for score_model/label_model judges this service "
        "does not serve itself (e.g. gpt-4.1)")
    grader_judge_api_key: SecretStr | None = Field(None, description="API key for grader_judge_url")
    grader_judge_timeout_seconds: float = Field(120.0, description="longest wait for one judge answer")
    python_grader_timeout_seconds: float = Field(10.0, description="wall-clock limit of one python grader call")
    python_grader_memory_mib: int = Field(512, description="address-space limit of a python grader process")
    python_grader_max_output_bytes: int = Field(65536, description="largest answer a python grader may write")
    python_grader_concurrency: int = Field(4, description="python grader processes running at once per process")
    python_grader_allow_unsandboxed: bool = Field(
        False, description="run python graders with rlimits only where Linux namespaces are unavailable "
        "(they could then read what the service user can read); off: such graders are refused")

    @property
    def resolved_database_url(self) -> str:
        """SQLAlchemy URL: SQLite under data_dir by default, psycopg for postgresql:// URLs."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'openft.db').resolve()}"
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain):]
        return url

    @property
    def resolved_store_url(self) -> str:
        """``s3://bucket/prefix`` or an absolute local directory."""
        if self.store_url:
            if self.store_url.startswith("s3://"):
                return self.store_url
            return str(Path(self.store_url).resolve())
        return str((self.data_dir / "artifacts").resolve())

    @property
    def resolved_model_cache_dir(self) -> Path:
        return (self.model_cache_dir or self.data_dir / "models").resolve()
