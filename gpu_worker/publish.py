"""The end of a successful job: the ``ft:`` model, its lineage, the results file, samples.

Under ``core.protocol.model_prefix(fine_tuned_model)`` (sealed by the store's manifest):
the adapter (``adapter_model.safetensors``, ``adapter_config.json``), the tokenizer and chat
template it was trained with, and ``lineage.json``. The results CSV goes to
``results_key(job_id)`` and the ``succeeded`` report to ``succeeded_report_key(job_id)`` as well.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from core.protocol import Report, file_key, model_prefix, results_key, succeeded_report_key
from core.store import Store
from gpu_worker import data, distributed, generate
from gpu_worker.callbacks import results_csv
from gpu_worker.checkpoints import ADAPTER_FILES
from gpu_worker.job import Job, Trained

N_SAMPLES = 3
LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "tokenizers", "openft")


def file_sha256(store: Store, file_id: str) -> str:
    h = hashlib.sha256()
    for chunk in store.iter_bytes(file_key(file_id)):
        h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware(device: str) -> dict[str, Any]:
    import torch

    if device == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        return {"device": "cuda", "name": props.name, "memory_bytes": props.total_memory,
                "cuda": torch.version.cuda}
    return {"device": "cpu", "name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def lineage(job: Job, trained: Trained, trained_tokens: int) -> dict[str, Any]:
    spec = job.spec
    files: dict[str, dict[str, str]] = {}
    for param, file_id in (("training_file", spec.training_file), ("validation_file", spec.validation_file)):
        if file_id:
            sha = spec.file_sha256.get(param) or file_sha256(job.store, file_id)
            files[param] = {"id": file_id, "sha256": sha}
    return {
        "model": spec.fine_tuned_model,
        "job_id": spec.job_id,
        "method": spec.method,
        "base_model": spec.base_model.model_dump(),
        "parent_model": spec.parent_model.model_dump() if spec.parent_model else None,
        "data": files,
        "hyperparameters": spec.hyperparameters.model_dump(),
        "extensions": spec.extensions,
        "plan": trained.plan.as_dict(),
        "seed": spec.seed,
        "trained_tokens": trained_tokens,
        "steps": trained.plan.total_steps,
        "versions": versions(),
        "hardware": hardware(trained.plan.device),
        "created_at": int(time.time()),
    }


def samples(job: Job, model: Any) -> list[dict[str, Any]]:
    """Greedy answers to the first prompts of the validation file (else the training file)."""
    rows = (job.valid_rows or []) + job.train_rows
    out = []
    for row in rows[:N_SAMPLES]:
        messages, tools, _ = data.prompt_of(row)
        answer, stopped = generate.greedy(model, job.tokenizer, messages, tools, max_new_tokens=64)
        out.append({"messages": messages, "tools": tools, "answer": answer, "stopped": stopped})
    return out


def save_adapter(job: Job, trained: Trained, final: Path) -> None:
    """The adapter in ``final`` in the same format whatever the device count: under FSDP every
    rank takes part in gathering the full LoRA weights (the Trainer's ``save_model``)."""
    if trained.plan.parallelism == "fsdp" and trained.trainer is not None:
        trained.trainer.save_model(str(final))
        if distributed.is_main():
            for extra in [p for p in final.iterdir() if p.name not in ADAPTER_FILES]:
                shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
        return
    if distributed.is_main():
        trained.model.save_pretrained(str(final), selected_adapters=["default"])


def publish(job: Job, trained: Trained) -> Report | None:
    """Write the model, results and result record; return the ``succeeded`` report (not printed).
    Under torchrun only rank 0 writes and returns it (the others help gather FSDP weights and
    generate the samples through the sharded model, and return None)."""
    spec = job.spec
    trained_tokens = trained.callback.trained_tokens(trained.plan.total_steps)
    final = job.work_dir / "final"
    if distributed.is_main():
        shutil.rmtree(final, ignore_errors=True)
    distributed.barrier()
    save_adapter(job, trained, final)
    if not distributed.is_main():
        if trained.plan.parallelism == "fsdp":
            samples(job, trained.model)  # a sharded forward pass needs every rank
        return None
    job.tokenizer.save_pretrained(str(final))
    (final / "README.md").unlink(missing_ok=True)
    (final / "lineage.json").write_text(json.dumps(lineage(job, trained, trained_tokens), indent=1, sort_keys=True))
    key = model_prefix(spec.fine_tuned_model)
    job.store.upload_dir(final, key)
    job.store.write_bytes(results_key(spec.job_id), results_csv(trained.callback.history).encode())
    report = Report(
        kind="succeeded", job_id=spec.job_id, attempt=spec.attempt, step=trained.plan.total_steps,
        total_steps=trained.plan.total_steps, metrics=trained.callback.last_metrics,
        trained_tokens=trained_tokens, model_key=key, results_key=results_key(spec.job_id),
        samples=samples(job, trained.model),
    )
    job.store.write_json(succeeded_report_key(spec.job_id), json.loads(report.model_dump_json(exclude_defaults=True)))
    return report
