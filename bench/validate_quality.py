"""Validation with and without the data quality pass, in one run: time ratio and peak RSS.

Writes a synthetic chat JSONL file of ``--mb`` megabytes (sentences of Zipf-drawn words from a
20,000-word made-up vocabulary, 0.5% planted exact duplicates, an e-mail address in 0.2%),
then validates it twice (``--repeat`` rounds, interleaved) in fresh child processes, as the
scheduler's ``validating_files`` stage does (token counts with ``--model``'s tokenizer and chat
template), once without and once with ``core.data_quality.QualityPass``. Prints both wall times,
their ratio (and that of CPU seconds, which a loaded machine disturbs less), and each child's
peak RSS.

    python bench/validate_quality.py [--mb 500] [--model tiny-chat] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SYLLABLES = ["ka", "lo", "mi", "ner", "sta", "vo", "tri", "pel", "dun", "gra", "shi", "bo", "an", "es", "ul", "rok"]


def vocabulary(rng: random.Random, n: int = 20_000) -> tuple[list[str], list[float]]:
    """``n`` made-up words of 1-4 syllables and Zipf weights (word ``k`` drawn in proportion to
    ``1 / k``), so sentences vary the way prose does instead of repeating a small word list."""
    words = sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(n)})
    rng.shuffle(words)
    total, cum = 0.0, []
    for k in range(1, len(words) + 1):
        total += 1 / k
        cum.append(total)
    return words, cum


def write_file(path: Path, megabytes: float) -> int:
    rng = random.Random(1)
    words, cum = vocabulary(rng)
    target, written, n = int(megabytes * 1024 * 1024), 0, 0
    with path.open("w") as fh:
        while written < target:
            user = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(12, 40)))
            if n % 500 == 7:
                user += " contact me at someone@example.com"
            answer = " ".join(rng.choices(words, cum_weights=cum, k=8))
            row = {"messages": [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": user},
                                {"role": "assistant", "content": answer}]}
            line = json.dumps(row) + "\n"
            for _ in range(2 if n % 200 == 3 else 1):  # a few exact duplicates
                fh.write(line)
                written += len(line)
                n += 1
    return n


def child(path: str, model: str, quality: bool) -> None:
    from core.data_quality import QualityPass
    from core.settings import Settings
    from core.validation import validate_local

    setup = time.perf_counter()
    q = QualityPass() if quality else None  # imports datasketch and detect-secrets: a fixed cost
    start = time.perf_counter()
    cpu_start = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    result = validate_local(path, model, Settings(), quality=q)
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_start
    rss = usage.ru_maxrss / 1024
    warnings = q.report()["warnings"] if q is not None else []
    print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "setup_seconds": start - setup, "rss_mb": rss,
                      "examples": result.n_examples, "warnings": warnings}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=500)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of off/on runs, interleaved")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.model, args.child[1] == "on")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        n = write_file(path, args.mb)
        print(f"file: {args.mb:g} MB, {n} examples")
        runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
        for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits both
            for mode in ("off", "on"):
                out = subprocess.run([sys.executable, __file__, "--model", args.model, "--child", str(path), mode],
                                     check=True, capture_output=True, text=True).stdout
                run = json.loads(out.strip().splitlines()[-1])
                runs[mode].append(run)
                print(f"quality {mode:<3s}: {run['seconds']:8.1f} s, {run['cpu_seconds']:8.1f} CPU s "
                      f"(+ {run['setup_seconds']:.1f} s setup)  "
                      f"peak RSS {run['rss_mb']:7.0f} MB", flush=True)
        ratios = [on["seconds"] / off["seconds"] for off, on in zip(runs["off"], runs["on"], strict=True)]
        print("time ratio (on / off) per round:", " ".join(f"{r:.2f}" for r in ratios),
              f"; overall {sum(r['seconds'] for r in runs['on']) / sum(r['seconds'] for r in runs['off']):.2f}")
        # CPU seconds: what a busy machine's share of the cores does not change
        print(f"CPU time ratio (on / off): "
              f"{sum(r['cpu_seconds'] for r in runs['on']) / sum(r['cpu_seconds'] for r in runs['off']):.2f}")
        print("warnings:", *runs["on"][-1]["warnings"], sep="\n  ")


if __name__ == "__main__":
    main()
