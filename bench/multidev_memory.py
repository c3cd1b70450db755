"""Memory per device of a multi-device job: the estimate of ``core.memory`` against measured peaks.

Trains one SFT job through the real child (``gpu_worker.train_attempt``, under torchrun for more
than one device, as the worker launches it) on 1 and on N devices, and prints per device:

- ``estimate``: :func:`core.memory.per_device_bytes` of the job's one-device terms
  (:func:`core.memory.estimate_for_job`), sharded for FSDP, full for data-parallel;
- ``measured``: the peak while it trained. On the CPU the peak resident memory of each rank
  process (polled every 0.1 s); on CUDA the device's peak used memory (NVML, every 0.1 s), which
  includes the CUDA context as the estimate's overhead does.

Measured on the shared 2-core CPU machine (tiny-chat, 32 examples, batch 4, fp32 LoRA): one
device estimate 1.0 GiB, peak 0.6 GiB; two devices (data-parallel) estimate 1.0 GiB per device,
peaks 0.6 and 0.6 GiB per rank (estimate/measured 1.6: the fixed 768 MiB runtime overhead
dominates so small a model).

Usage: ``python bench/multidev_memory.py [--model tiny-chat] [--devices 2] [--parallelism data_parallel]
[--examples 64] [--batch-size 4]``. On the CPU run it with ``OPENFT_DEVICE=cpu``; a GPU machine
with fewer GPUs than ``--devices`` cannot run it (one process per device).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.catalog import get_catalog  # noqa: E402
from core.memory import estimate_for_job, gib, per_device_bytes  # noqa: E402
from core.protocol import Hyperparameters, JobSpec, file_key, spec_key  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.store import LocalStore  # noqa: E402
from gpu_worker.child_process import child_env  # noqa: E402
from gpu_worker.devices import child_visible_devices, detect_devices  # noqa: E402
from gpu_worker.launch import command, descendants  # noqa: E402


def rows(n: int) -> list[dict[str, Any]]:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    return [{"messages": [{"role": "user", "content": f"Spell {words[i % 8]} backwards, number {i}."},
                          {"role": "assistant", "content": words[i % 8][::-1] + f" {i}"}]} for i in range(n)]


class PeakSampler(threading.Thread):
    """Polls the peak memory of each rank (CPU: resident set) or each GPU (used memory)."""

    def __init__(self, launcher: subprocess.Popen[str], settings: Settings, kind: str) -> None:
        super().__init__(daemon=True)
        self.launcher, self.settings, self.kind = launcher, settings, kind
        self.peaks: dict[Any, int] = {}
        self.done = False

    def run(self) -> None:
        while not self.done:
            if self.kind == "cuda":
                for d in detect_devices(self.settings):
                    self.peaks[d.index] = max(self.peaks.get(d.index, 0), d.memory_total - d.memory_free)
            else:
                pids = descendants(self.launcher.pid) or [self.launcher.pid]
                for pid in pids:
                    try:
                        proc = psutil.Process(pid)
                        cmd = " ".join(proc.cmdline())
                        if "gpu_worker.train_attempt" not in cmd or "torch.distributed.run" in cmd:
                            continue  # not a rank (torchrun itself, or what a rank started)
                        self.peaks[pid] = max(self.peaks.get(pid, 0), proc.memory_info().rss)
                    except psutil.Error:
                        pass
            time.sleep(0.1)


def run(model: str, n_devices: int, parallelism: str, n_examples: int, batch_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = LocalStore(settings.resolved_store_url)
        entry = get_catalog(settings).require(model)
        store.write_bytes(file_key("file-bench"), "".join(json.dumps(r) + "\n" for r in rows(n_examples)).encode())
        hp = Hyperparameters(n_epochs=1, batch_size=batch_size, learning_rate_multiplier=1.0,
                             learning_rate=entry.learning_rate)
        spec = JobSpec(job_id="ftjob-memory", project_id="bench", method="supervised", base_model=entry.spec(),
                       training_file="file-bench", hyperparameters=hp, seed=1, fine_tuned_model="ft:bench",
                       extensions={"checkpoint_every_steps": 0}, n_train_examples=n_examples,
                       total_steps=-(-n_examples // batch_size), devices=list(range(n_devices)),
                       parallelism=parallelism if n_devices > 1 else "single")
        store.write_json(spec_key(spec.job_id), spec.model_dump(mode="json"))
        devices = detect_devices(settings.model_copy(update={"worker_cpu_devices": n_devices}))[:n_devices]
        env = child_env(settings, devices[0], child_visible_devices(devices))
        argv = command([sys.executable, "-m", "gpu_worker.train_attempt"], spec_key(spec.job_id), n_devices)
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        sampler = PeakSampler(proc, settings, devices[0].kind)
        sampler.start()
        out, _ = proc.communicate()
        sampler.done = True
        sampler.join()
        if proc.returncode != 0 or '"kind":"succeeded"' not in out:
            raise SystemExit(f"the {n_devices}-device run failed:\n{out[-2000:]}")
        kind = devices[0].kind
        terms = estimate_for_job(entry, hp, spec.extensions)["detail"][kind]
        estimate = per_device_bytes(terms, n_devices, sharded=spec.parallelism == "fsdp")
        return {"devices": n_devices, "parallelism": spec.parallelism, "kind": kind, "estimate": estimate,
                "measured": sorted(sampler.peaks.values()), "seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--parallelism", default="data_parallel", choices=["data_parallel", "fsdp"])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for n in (1, args.devices):
        r = run(args.model, n, args.parallelism, args.examples, args.batch_size)
        peak = max(r["measured"])
        print(f"{r['devices']} x {r['kind']} {r['parallelism']:>13}: estimate {gib(r['estimate'])} per device, "
              f"measured peak {', '.join(gib(m) for m in r['measured'])} per rank "
              f"(estimate/measured {r['estimate'] / peak:.2f}) in {r['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
