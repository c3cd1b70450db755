"""Validation with and without the data quality pass, in one run: time ratio and peak RSS.

Writes a synthetic chat JSONL file of ``--mb`` megabytes (varied sentences, a few planted
duplicates and e-mail addresses), then validates it twice in fresh child processes, as the
scheduler's ``validating_files`` stage does (token counts with ``--model``'s tokenizer and chat
template), once without and once with ``core.data_quality.QualityPass``. Prints both wall times,
their ratio, and each child's peak RSS.

    python bench/validate_quality.py [--mb 500] [--model tiny-chat]
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

WORDS = ["river", "mountain", "coffee", "window", "garden", "yellow", "quiet", "travel", "museum", "engine", "ticket", "winter", "orange", "library", "forest", "bridge", "market", "silver", "planet", "doctor", "music", "summer", "village", "camera", "theater", "kitchen", "harbor", "letter", "morning", "island", "pencil", "rocket", "tunnel", "violin", "wallet", "castle", "desert", "feather", "glacier", "honey", "jungle"]


def write_file(path: Path, megabytes: float) -> int:
    rng = random.Random(1)
    target, written, n = int(megabytes * 1024 * 1024), 0, 0
    with path.open("w") as fh:
        while written < target:
            user = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
            if n % 500 == 7:
                user += " contact me at someone@example.com"
            row = {"messages": [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": user},
                                {"role": "assistant", "content": " ".join(rng.choice(WORDS) for _ in range(8))}]}
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

    q = QualityPass() if quality else None
    start = time.perf_counter()
    result = validate_local(path, model, Settings(), quality=q)
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    warnings = q.report()["warnings"] if q is not None else []
    print(json.dumps({"seconds": elapsed, "rss_mb": rss, "examples": result.n_examples, "warnings": warnings}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=500)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.model, args.child[1] == "on")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        n = write_file(path, args.mb)
        print(f"file: {args.mb:g} MB, {n} examples")
        runs = {}
        for mode in ("off", "on"):
            out = subprocess.run([sys.executable, __file__, "--model", args.model, "--child", str(path), mode],
                                 check=True, capture_output=True, text=True).stdout
            runs[mode] = json.loads(out.strip().splitlines()[-1])
            print(f"quality {mode:<3s}: {runs[mode]['seconds']:8.1f} s  peak RSS {runs[mode]['rss_mb']:7.0f} MB")
        print(f"time ratio (on / off): {runs['on']['seconds'] / runs['off']['seconds']:.2f}")
        print("warnings:", *runs["on"]["warnings"], sep="\n  ")


if __name__ == "__main__":
    main()
