"""Merge quality: two fine-tunes on two tasks, and their merges, scored on both tasks in one run.

Starts ``openft serve`` (a subprocess, its own data dir) and, with the official client plus our
SDK, fine-tunes the base on task A and on task B (all hyperparameters "auto", or as given), then
merges the two ``ft:`` models with each ``--methods`` entry through ``POST /v1/models/merges``
(equal weights, ``--density`` for ties/dare). Prints the held-out exact match (greedy) of the
base, each parent and each merge on both tasks side by side: each parent is the baseline for its
own task, measured in the same run.

    python bench/merge_quality.py [--tasks ticket,number_word] [--methods ties,linear] [--n-train 200]

The tasks are those of ``bench/finetune_quality.py`` (held-out prompts share the rule, not the
sentence).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from finetune_quality import KEY, TASKS, free_port, score, start_server, wait_ready  # noqa: E402


def fine_tune(client: Any, name: str, train: list[dict[str, Any]], base: str, hyperparameters: dict[str, Any]) -> str:
    """Upload ``train``, run a job, return its ``ft:`` model (raises when the job fails)."""
    body = "".join(json.dumps(row) + "\n" for row in train).encode()
    upload = client.files.create(file=(f"{name}.jsonl", body), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=base, training_file=upload.id, suffix=name.replace("_", "-"),
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}})
    while job.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(1)
        job = client.fine_tuning.jobs.retrieve(job.id)
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise RuntimeError(f"fine-tune on {name} ended {job.status}: {job.error}")
    return str(job.fine_tuned_model)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="ticket,number_word", help="two tasks of bench/finetune_quality.py")
    parser.add_argument("--methods", default="ties,linear", help="merge methods, comma-separated")
    parser.add_argument("--density", type=float, default=0.5, help="for ties and dare_*")
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=40)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--hyperparameters", type=json.loads, default={},
                        help='JSON, e.g. {"n_epochs": 5} (default: all "auto")')
    args = parser.parse_args()
    from sdk import Client

    names = args.tasks.split(",")
    if len(names) != 2:
        parser.error("--tasks names exactly two tasks")
    data = {name: TASKS[name](args.n_train, args.n_test, seed=1) for name in names}
    with tempfile.TemporaryDirectory(prefix="openft-merge-") as tmp:
        port = free_port()
        server = start_server(Path(tmp), port)
        try:
            wait_ready(f"http://127.0.0.1:{port}")
            client = Client(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=600)
            started = time.monotonic()
            parents = {name: fine_tune(client, name, data[name][0], args.model, args.hyperparameters)
                       for name in names}
            print(f"fine-tuned {', '.join(parents.values())} in {time.monotonic() - started:.0f} s", flush=True)
            rows: list[tuple[str, str]] = [("base", args.model)] + [(f"parent: {n}", m) for n, m in parents.items()]
            for method in args.methods.split(","):
                density = args.density if method in ("ties", "dare_ties", "dare_linear") else None
                merge = client.models.merge(list(parents.values()), method=method,  # type: ignore[arg-type]
                                            weights=[1.0, 1.0], density=density, suffix=f"merge-{method}")
                merge = client.models.wait_merge(merge.id, timeout=900)
                if merge.status != "succeeded":
                    print(f"merge {method}: {merge.status} {merge.error}")
                    continue
                rows.append((f"merge: {method}", merge.fine_tuned_model))
            print(f"\n{'model':<20} " + " ".join(f"{n:>10}" for n in names) + "   (held-out exact match, greedy)")
            for label, model in rows:
                scores = [score(client, model, data[n][1], 0.0) for n in names]
                print(f"{label:<20} " + " ".join(f"{s:>10.0%}" for s in scores), flush=True)
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
