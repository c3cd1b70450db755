"""The console's cost to the API: /v1 latency with the console open on a live job, against without.

Starts the embedded composition (API, scheduler, local worker) in this process, creates a long
tiny-chat job, and while it trains times ``GET /v1/fine_tuning/jobs`` and ``GET …/events`` for
``--seconds`` per window, in rounds of two windows side by side: one with headless Chromium
showing the job's page live (charts and events), one without it: the same page frozen
(Chromium's page lifecycle: no timers, no requests, no rendering), or with ``--reopen`` closed
and opened again ``--settle`` seconds before the next window. Short windows whose order
alternates each round (ABBA) let a load change on a shared machine hit both sides. Prints each
round's medians and ratio, the median ratio (1.00 = no cost) and the ratio of all samples
pooled, and what the live page cost while timed: its /v1 requests per minute and the CPU time
of the browser's processes.

    PYTHONPATH=$PWD python bench/console_overhead.py [--rounds 40] [--seconds 3] [--reopen]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def timed(client: Any, job_id: str, seconds: float) -> list[float]:
    """Alternating list/events requests for ``seconds``; their latencies in ms."""
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        if len(out) % 2:
            client.fine_tuning.jobs.list(limit=10)
        else:
            client.fine_tuning.jobs.list_events(job_id, limit=20)
        out.append((time.perf_counter() - start) * 1000)
    return out


def browser_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) so far of each Chromium process this one started."""
    import psutil

    out = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in proc.name():
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


class ConsoleTab:
    """A browser tab signed in and showing a job's page."""

    def __init__(self, browser: Any, url: str, key: str) -> None:
        self.browser, self.url, self.key = browser, url, key

    def open(self, job_id: str) -> Any:
        page = self.browser.new_page()
        page.goto(self.url + "/")
        page.evaluate(f"sessionStorage.setItem('openft.key', {self.key!r})")
        page.goto(self.url + f"/#/jobs/{job_id}")
        page.evaluate("performance.setResourceTimingBufferSize(100000)")
        page.locator("#job-status").wait_for()
        return page

    @staticmethod
    def live(page: Any, on: bool) -> None:
        """Let the page run, or freeze it (Chromium's page lifecycle: no timers, no requests)."""
        cdp = page.context.new_cdp_session(page)
        cdp.send("Page.setWebLifecycleState", {"state": "active" if on else "frozen"})
        cdp.detach()

    @staticmethod
    def now(page: Any) -> float:
        """The page's clock (ms)."""
        return float(page.evaluate("performance.now()"))

    @staticmethod
    def requests_since(page: Any, t0: float) -> int:
        """How many /v1 requests the page started since its clock read ``t0``."""
        return int(page.evaluate("t0 => performance.getEntriesByType('resource')"
                                 ".filter(e => e.name.includes('/v1/') && e.startTime >= t0).length", t0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each timed window")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between opening the page and timing")
    parser.add_argument("--reopen", action="store_true",
                        help="open a new page for each console window and close it after (page loads in between) "
                             "instead of keeping one page and freezing it for the windows without")
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
        tab = ConsoleTab(browser, live.url, key)
        timed(client, job.id, args.settle)  # warm up the server and the client before timing
        ratios: list[float] = []
        samples: dict[str, list[float]] = {"without": [], "with": []}
        console_seconds, console_requests, console_cpu = 0.0, 0, 0.0
        page: Any = None if args.reopen else tab.open(job.id)
        for r in range(args.rounds):
            medians: dict[str, float] = {}
            for side in (("without", "with") if r % 2 == 0 else ("with", "without")):
                if args.reopen and side == "with":
                    page = tab.open(job.id)
                    time.sleep(args.settle)
                elif not args.reopen:
                    tab.live(page, side == "with")
                if side == "without":
                    got = timed(client, job.id, args.seconds)
                else:
                    t0, start, cpu = tab.now(page), time.monotonic(), browser_cpu_seconds()
                    got = timed(client, job.id, args.seconds)
                    console_seconds += time.monotonic() - start
                    console_requests += tab.requests_since(page, t0)
                    console_cpu += sum(t - cpu.get(pid, 0.0) for pid, t in browser_cpu_seconds().items())
                    if args.reopen:
                        page.close()
                samples[side] += got
                medians[side] = statistics.median(got)
            ratios.append(medians["with"] / medians["without"])
            print(f"round {r + 1}: without {medians['without']:.2f} ms, with console {medians['with']:.2f} ms, "
                  f"ratio {ratios[-1]:.3f}", flush=True)
        browser.close()
        status = client.fine_tuning.jobs.retrieve(job.id).status
        client.fine_tuning.jobs.cancel(job.id)
    pooled = statistics.median(samples["with"]) / statistics.median(samples["without"])
    print(f"median ratio with/without over {args.rounds} rounds: {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}; all samples pooled: {pooled:.3f}); "
          f"the job was still {status} at the end; "
          f"the open page made {60 * console_requests / console_seconds:.1f} /v1 requests per minute and its "
          f"browser used {100 * console_cpu / console_seconds:.1f}% of one CPU core")


if __name__ == "__main__":
    main()
