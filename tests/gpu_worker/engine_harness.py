"""Run the training child for real (``python -m gpu_worker.train_attempt``) against a LocalStore.

:class:`Harness` owns a data dir with a local store; tiny-chat is built once per test session
into a shared model cache. :meth:`Harness.start` writes the job spec and starts the child with
the ``OPENFT_*`` environment a worker would pass; :class:`ChildRun` reads its reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safety_nets import safety_net

from core.catalog import get_catalog
from core.protocol import Hyperparameters, JobSpec, ParentModelSpec, Report, file_key, model_prefix, spec_key
from core.settings import Settings
from core.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ChildRun:
    proc: subprocess.Popen[str]
    reports: list[Report] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _cv: threading.Condition = field(default_factory=threading.Condition)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            report = Report.parse_line(line.rstrip("\n"))
            if report is not None:
                with self._cv:
                    self.reports.append(report)
                    self._cv.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_for(self, kind: str, timeout: float = safety_net(60), **match: Any) -> Report:
        """The first report of ``kind`` (and field values ``match``), waiting for it."""
        def found() -> Report | None:
            for r in self.reports:
                if r.kind == kind and all(getattr(r, k) == v for k, v in match.items()):
                    return r
            return None

        with self._cv:
            ok = self._cv.wait_for(lambda: found() is not None or self.proc.poll() is not None, timeout)
        report = found()
        if report is None:
            raise AssertionError(f"no {kind} report {match} (ok={ok}); stderr tail:\n{''.join(self.stderr[-30:])}")
        return report

    def finish(self, timeout: float = safety_net(180)) -> int:
        rc = self.proc.wait(timeout)
        self._threads_join()
        return rc

    def _threads_join(self) -> None:
        for t in getattr(self, "_threads", []):
            t.join(10)

    def of(self, kind: str) -> list[Report]:
        return [r for r in self.reports if r.kind == kind]

    def last(self, kind: str) -> Report:
        found = self.of(kind)
        assert found, f"no {kind} report; stderr tail:\n{''.join(self.stderr[-30:])}"
        return found[-1]


class Harness:
    """A data dir + local store for child runs; ``model_cache`` is shared across tests."""

    def __init__(self, root: Path, model_cache: Path, device: str = "cpu") -> None:
        self.device = device
        self.settings = Settings(data_dir=root, model_cache_dir=model_cache)
        self.store = LocalStore(self.settings.resolved_store_url)
        self.catalog = get_catalog(self.settings)

    def upload(self, file_id: str, rows: list[dict[str, Any]]) -> str:
        self.store.write_bytes(file_key(file_id), "".join(json.dumps(r) + "\n" for r in rows).encode())
        return file_id

    def spec(self, job_id: str, *, training_file: str, n_examples: int, batch_size: int, n_epochs: int,
             method: str = "supervised", validation_file: str | None = None, multiplier: float = 1.0,
             beta: float | None = None, extensions: dict[str, Any] | None = None, seed: int = 42,
             parent: str | None = None, resume_step: int | None = None, model: str = "tiny-chat") -> JobSpec:
        base = self.catalog.require(model)
        return JobSpec(
            job_id=job_id, project_id="proj", method=method, base_model=base.spec(),
            parent_model=ParentModelSpec(id=parent, artifact_key=model_prefix(parent)) if parent else None,
            training_file=training_file, validation_file=validation_file,
            hyperparameters=Hyperparameters(n_epochs=n_epochs, batch_size=batch_size,
                                            learning_rate_multiplier=multiplier,
                                            learning_rate=base.learning_rate * multiplier, beta=beta),
            seed=seed, fine_tuned_model=f"ft:{model}:proj::{job_id[-8:]}", extensions=extensions or {},
            resume_step=resume_step, n_train_examples=n_examples,
            total_steps=-(-n_examples // batch_size) * n_epochs,
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFT_")}
        env.update(OPENFT_DATA_DIR=str(self.settings.data_dir),
                   OPENFT_MODEL_CACHE_DIR=str(self.settings.model_cache_dir),
                   OPENFT_DEVICE=self.device,
                   OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        return env

    def start(self, spec: JobSpec) -> ChildRun:
        """Start the child for ``spec``; under torchrun with one process per device when the
        spec names several (``spec.devices``), as the worker does."""
        from gpu_worker.launch import command

        key = spec_key(spec.job_id)
        self.store.write_json(key, json.loads(spec.model_dump_json()))
        argv = command([sys.executable, "-m", "gpu_worker.train_attempt"], key, len(spec.devices))
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        run = ChildRun(proc)
        threads = [threading.Thread(target=run._read, daemon=True), threading.Thread(target=run._read_err, daemon=True)]
        for t in threads:
            t.start()
        run._threads = threads  # type: ignore[attr-defined]
        return run

    def run(self, spec: JobSpec, timeout: float = safety_net(180)) -> ChildRun:
        run = self.start(spec)
        rc = run.finish(timeout)
        assert rc == (1 if run.of("failed") else 0), f"exit {rc}; stderr:\n{''.join(run.stderr[-40:])}"
        return run


def load_trained(base_dir: Path, adapter_dir: Path | None) -> Any:
    """The base model (fp32, CPU) with an adapter applied when given, in eval mode."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    return model.eval()


def exact_match(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> tuple[float, float, list[str]]:
    """Share of held-out rows answered exactly, share that stopped at end-of-turn, the answers."""
    from gpu_worker import data, generate

    hits = stops = 0
    answers = []
    for row in rows:
        messages, tools, want = data.prompt_of(row)
        answer, stopped = generate.greedy(model, tokenizer, messages, tools, max_new_tokens=16)
        hits += answer == want
        stops += stopped
        answers.append(answer)
    return hits / len(rows), stops / len(rows), answers
