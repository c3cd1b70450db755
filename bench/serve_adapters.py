"""Serving throughput with hot-swapped adapters: the cost of spreading load over adapters.

Runs the real API (uvicorn, SQLite, local store) with ``tiny-chat`` and 4 LoRA adapters, then
drives it with N concurrent clients (the official async client) in three scenarios:

- ``one adapter``: every request on the same ``ft:`` model (the baseline);
- ``4 adapters``: requests spread round-robin over 4 ``ft:`` models of the same base
  (each request switches the active adapter: the swap cost);
- ``4 adapters, LRU 2``: the same with room for only 2 loaded adapters, so requests keep
  reloading adapters from disk (the eviction cost).

Each request generates exactly ``--max-tokens`` tokens (the end-of-turn token is banned with
``logit_bias``), so all scenarios do the same work. Prints requests/s, p50/p99 latency and the
ratios against the baseline measured in the same run.

    python bench/serve_adapters.py [--clients 8] [--requests 24] [--max-tokens 32] [--device auto]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_adapters(model_dir: Path, out: Path, n: int) -> list[Path]:
    """``n`` LoRA adapters with random (non-zero) weights; speed does not depend on their values."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    folders = []
    for i in range(n):
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir))
        peft = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules="all-linear",
                                                init_lora_weights=False))
        folder = out / f"adapter-{i}"
        peft.save_pretrained(str(folder))
        folders.append(folder)
    return folders


def publish(engine: Any, store: Any, project_id: str, folder: Path, suffix: str) -> str:
    """Upload an adapter and record the Job and Model rows a finished job leaves behind."""
    from core import ids
    from core.db import session_scope
    from core.protocol import model_prefix
    from core.tables import Job, Model

    model_id = ids.fine_tuned_model_id("tiny-chat", project_id, suffix)
    store.upload_dir(folder, model_prefix(model_id))
    with session_scope(engine) as session:
        job = Job(id=ids.job_id(), project_id=project_id, model="tiny-chat", base_model="tiny-chat",
                  training_file="file-bench", seed=0, status="succeeded", fine_tuned_model=model_id)
        session.add(job)
        session.flush()
        session.add(Model(id=model_id, project_id=project_id, job_id=job.id, base_model="tiny-chat",
                          artifact_key=model_prefix(model_id)))
    return model_id


def start_server(app: Any) -> tuple[str, Any, threading.Thread]:
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1", server, thread


async def drive(base_url: str, key: str, models: list[str], clients: int, per_client: int,
                max_tokens: int, eot: int) -> dict[str, float]:
    """Closed-loop load: each client sends its requests one after another."""
    import openai

    latencies: list[float] = []
    messages: Any = [{"role": "user", "content": "tell me about the weather today"}]

    async def client_loop(c: int, client: openai.AsyncOpenAI) -> None:
        for j in range(per_client):
            model = models[(c + j) % len(models)]
            t0 = time.perf_counter()
            r = await client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens,
                                                     temperature=0, logit_bias={str(eot): -100})
            latencies.append(time.perf_counter() - t0)
            assert r.usage is not None and r.usage.completion_tokens == max_tokens

    async with openai.AsyncOpenAI(base_url=base_url, api_key=key, timeout=600, max_retries=0) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(c, client) for c in range(clients)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "tokens_per_s": len(latencies) * max_tokens / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=24, help="requests per client and scenario")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--adapters", type=int, default=4)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from api.app import create_app
    from api.inference.server import STATE_KEY, ModelServer
    from api.services.keys import create_key
    from core.catalog import get_catalog
    from core.db import make_engine, upgrade
    from core.model_cache import ensure_model_dir
    from core.settings import Settings
    from core.store import store_from_settings

    tmp = Path(tempfile.mkdtemp(prefix="openft-bench-serve-"))
    settings = Settings(data_dir=tmp, device=args.device)
    engine, store = make_engine(settings), store_from_settings(settings)
    upgrade(engine)
    key = create_key(engine, "bench")
    model_dir = ensure_model_dir(get_catalog(settings).require("tiny-chat").spec(), settings)
    models = [publish(engine, store, "bench", folder, suffix=f"a{i}")
              for i, folder in enumerate(make_adapters(model_dir, tmp / "adapters", args.adapters))]
    eot = 3  # <|im_end|> in tiny-chat

    scenarios = [("one adapter", models[:1], 8), (f"{args.adapters} adapters", models, 8),
                 (f"{args.adapters} adapters, LRU 2", models, 2)]
    results: dict[str, dict[str, float]] = {}
    for name, used, lru in scenarios:
        server_obj = ModelServer(settings, store, max_adapters=lru)
        app = create_app(settings, engine=engine, store=store, extra_state={STATE_KEY: server_obj})
        url, server, thread = start_server(app)
        try:  # warm up: load the base and every adapter once
            asyncio.run(drive(url, key, used, 1, len(used), 4, eot))
            warm_loads = sum(v["loads"] for v in server_obj.engine.stats().values())
            results[name] = asyncio.run(drive(url, key, used, args.clients, args.requests, args.max_tokens, eot))
            loads = sum(v["loads"] for v in server_obj.engine.stats().values()) - warm_loads
            results[name]["adapter_loads"] = loads
        finally:
            server.should_exit = True
            thread.join(30)
            server_obj.engine.close()
    base = results["one adapter"]
    device = server_obj.engine.device
    print(f"tiny-chat on {device}: {args.clients} clients x {args.requests} requests x {args.max_tokens} tokens")
    print(f"{'scenario':<22}{'req/s':>8}{'tok/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'loads':>7}{'rps ratio':>11}")
    for name, r in results.items():
        print(f"{name:<22}{r['rps']:>8.2f}{r['tokens_per_s']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
              f"{int(r['adapter_loads']):>7}{r['rps'] / base['rps']:>11.3f}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "args": vars(args) | {"json": str(args.json)},
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
