"""A 1 GB upload through ``/v1/files``: byte-identical read-back, server peak RSS, throughput.

Starts the API in a subprocess (SQLite + local store in a temporary data dir), uploads a
generated fine-tune JSONL file with the official client, samples the server's RSS (psutil,
every 20 ms, the process and its children) through the upload and the file check that follows,
downloads the file back and compares sha256. The baseline is a plain copy of the same file on
the same disk (1 MiB reads and writes, fsynced), measured before and after the upload in the
same run; the figure that matters is the ratio.

    .venv/bin/python bench/upload_rss.py [--gib 1.0] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import openai
import psutil

RSS_LIMIT_MB = 300


def make_jsonl(path: Path, size: int) -> str:
    """Write about ``size`` bytes of distinct chat examples; return their sha256."""
    digest = hashlib.sha256()
    block = []
    i = 0
    written = 0
    with path.open("wb") as fh:
        while written < size:
            line = (
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": f"question {i}: what is {i} plus {i}?"},
                            {"role": "assistant", "content": f"The answer is {2 * i}."},
                        ]
                    }
                ).encode()
                + b"\n"
            )
            block.append(line)
            i += 1
            if len(block) == 4096:
                data = b"".join(block)
                fh.write(data)
                digest.update(data)
                written += len(data)
                block = []
        if block:
            data = b"".join(block)
            fh.write(data)
            digest.update(data)
    return digest.hexdigest()


def plain_copy(src: Path, dst: Path) -> float:
    """Seconds to copy ``src`` to ``dst`` in 1 MiB reads and writes, fsynced (what ``cp`` does
    without reflinks); the copy is removed afterwards."""
    t0 = time.perf_counter()
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(1 << 20):
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    seconds = time.perf_counter() - t0
    dst.unlink()
    return seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RssSampler(threading.Thread):
    """Peak resident memory of a process tree, sampled in the background."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.stop = threading.Event()

    def current(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="file size in GiB")
    parser.add_argument("--dir", default=None, help="where the data dir and files go (same disk)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="openft-bench-", dir=args.dir))
    try:
        return run(root, int(args.gib * 1024**3))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, size: int) -> int:
    from api.services.keys import create_key
    from core.db import make_engine, upgrade
    from core.settings import Settings

    data_dir = root / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENFT_")},
        "OPENFT_DATA_DIR": str(data_dir),
        "OPENFT_MAX_FILE_BYTES": str(2 * size + 2**20),
    }
    engine = make_engine(Settings(data_dir=data_dir))
    upgrade(engine)
    key = create_key(engine, "bench")
    engine.dispose()

    src = root / "train.jsonl"
    print(f"generating {size / 1e9:.2f} GB of JSONL ...", flush=True)
    src_sha = make_jsonl(src, size)
    nbytes = src.stat().st_size

    copy_before = plain_copy(src, root / "copy.jsonl")

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=3600
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                client.files.list(limit=1)
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        sampler = RssSampler(server.pid)
        idle_rss = sampler.current()
        sampler.start()
        t0 = time.perf_counter()
        with src.open("rb") as fh:
            created = client.files.create(file=fh, purpose="fine-tune")
        upload_s = time.perf_counter() - t0
        processed = client.files.wait_for_processing(created.id, poll_interval=0.5, max_wait_seconds=1800)
        down = hashlib.sha256()
        with client.files.with_streaming_response.content(created.id) as resp:
            for chunk in resp.iter_bytes(1 << 20):
                down.update(chunk)
        sampler.stop.set()
        sampler.join()
    finally:
        server.terminate()
        server.wait(30)
    copy_s = (copy_before + plain_copy(src, root / "copy.jsonl")) / 2

    ok = down.hexdigest() == src_sha and created.bytes == nbytes
    peak_mb = sampler.peak / 2**20
    print(f"file:                 {nbytes / 1e9:.3f} GB, status after check: {processed.status}")
    print(f"sha256 match:         {ok} ({src_sha[:16]}…)")
    print(
        f"server RSS:           idle {idle_rss / 2**20:.0f} MB, peak {peak_mb:.0f} MB "
        f"(limit {RSS_LIMIT_MB} MB: {'OK' if peak_mb < RSS_LIMIT_MB else 'OVER'})"
    )
    print(f"upload /v1/files:     {upload_s:.2f} s = {nbytes / upload_s / 1e6:.0f} MB/s")
    print(
        f"plain copy same disk: {copy_s:.2f} s = {nbytes / copy_s / 1e6:.0f} MB/s "
        "(1 MiB read/write + fsync, mean of a copy before and after the upload)"
    )
    print(f"ratio upload/copy throughput: {copy_s / upload_s:.2f}")
    return 0 if ok and peak_mb < RSS_LIMIT_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
