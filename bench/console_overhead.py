"""The console's cost to the API: /v1 latency with the console open on a live job, against without.

Starts the embedded composition (API, scheduler, local worker) in this process, creates a long
tiny-chat job, and while it runs times ``GET /v1/fine_tuning/jobs`` and ``GET …/events`` in
alternating rounds: with no browser, then with headless Chromium showing the job's page (its live
charts poll every 2 s). Prints each round's median and the ratio with/without (1.00 = no cost).

    PYTHONPATH=$PWD python bench/console_overhead.py [--rounds 4] [--requests 100]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def timed(client: object, job_id: str, n: int) -> list[float]:
    """``n`` alternating list/events requests; their latencies in ms."""
    out = []
    for i in range(n):
        start = time.perf_counter()
        if i % 2:
            client.fine_tuning.jobs.list(limit=10)  # type: ignore[attr-defined]
        else:
            client.fine_tuning.jobs.list_events(job_id, limit=20)  # type: ignore[attr-defined]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    from embedded import embedded_server, fast_settings
    from factories import chat_jsonl
    from playwright.sync_api import sync_playwright

    from api.services.keys import create_key
    from core.db import make_engine, upgrade
    from core.settings import Settings
    from core.store import store_from_settings
    from sdk._client import Client

    settings = fast_settings(Settings(data_dir=Path(tempfile.mkdtemp()) / "data"))
    engine = make_engine(settings)
    upgrade(engine)
    key = create_key(engine, "bench")
    with embedded_server(settings, engine, store_from_settings(settings)) as live, \
            Client(base_url=live.url, api_key=key) as client, sync_playwright() as pw:
        file = client.files.create(file=("train.jsonl", chat_jsonl(64)), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=file.id,
                                             hyperparameters={"n_epochs": 50, "batch_size": 1})
        while client.fine_tuning.jobs.retrieve(job.id).status != "running":
            time.sleep(0.5)
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                     args=["--no-sandbox"])
        without: list[float] = []
        with_console: list[float] = []
        for _ in range(args.rounds):
            without.append(statistics.median(timed(client, job.id, args.requests)))
            page = browser.new_page()
            page.goto(live.url + "/")
            page.evaluate(f"sessionStorage.setItem('openft.key', {key!r})")
            page.goto(live.url + f"/#/jobs/{job.id}")
            page.locator("#job-status").wait_for()
            with_console.append(statistics.median(timed(client, job.id, args.requests)))
            page.close()
        browser.close()
        client.fine_tuning.jobs.cancel(job.id)
    base, console = statistics.median(without), statistics.median(with_console)
    print(f"median /v1 latency without console: {base:.2f} ms; with the console open on a live job: "
          f"{console:.2f} ms; ratio {console / base:.3f}")


if __name__ == "__main__":
    main()
