"""The SDK and CLI against the embedded mode with a real tiny-chat job, trained once per module.

``openft jobs create --wait`` uploads the local files, creates the job and draws live progress
until it succeeds, while an SDK ``follow`` and a ``/metrics`` scraper run beside it. The
finished job is then plotted, exported (adapter and merged weights, loaded with peft and
transformers), chatted with and deleted.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl
from openft_env import clear_openft_env
from prometheus_client.parser import text_string_to_metric_families

from api.services.keys import create_key
from core.db import make_engine, upgrade
from core.settings import Settings
from core.store import store_from_settings
from sdk._client import Client
from sdk.cli.main import main
from sdk.plotting import COLORS

pytestmark = pytest.mark.slow

N_TRAIN, BATCH, EPOCHS = 16, 4, 2
TOTAL_STEPS = N_TRAIN // BATCH * EPOCHS


@dataclass
class Run:
    """What the module's one training run left behind."""

    client: Client
    base_url: str
    api_key: str
    settings: Settings
    cli_code: int = -1
    cli_out: str = ""
    job_id: str = ""
    followed: list[str] = field(default_factory=list)
    follow_error: BaseException | None = None
    scrapes: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = field(default_factory=list)


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _follow_first_job(run: Run, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            jobs = run.client.fine_tuning.jobs.list().data
            if jobs:
                events = run.client.jobs.follow(jobs[0].id, poll_interval=0.2, timeout=600)
                run.followed = [e.id for e in events]
                return
            time.sleep(0.05)
    except BaseException as exc:  # reported by the test that reads it
        run.follow_error = exc


def metrics_now(run: Run) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    import httpx2

    return scrape(httpx2.get(run.base_url.removesuffix("/v1") + "/metrics", timeout=10).text)


def _scrape_metrics(run: Run, stop: threading.Event) -> None:
    while not stop.is_set():
        run.scrapes.append(metrics_now(run))
        stop.wait(0.5)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data_dir = tmp_path_factory.mktemp("sdk-e2e")
    with pytest.MonkeyPatch.context() as mp:
        clear_openft_env(mp)
        mp.setenv("OPENFT_DATA_DIR", str(data_dir / "data"))  # the CLI's offline tokenizer cache
        settings = fast_settings(Settings(data_dir=data_dir / "data"))
        engine = make_engine(settings)
        upgrade(engine)
        store = store_from_settings(settings)
        key = create_key(engine, "proj-a")
        (data_dir / "train.jsonl").write_bytes(chat_jsonl(N_TRAIN))
        (data_dir / "valid.jsonl").write_bytes(chat_jsonl(4))
        with (
            embedded_server(settings, engine, store) as live,
            Client(base_url=live.url, api_key=key) as client,
        ):
            result = Run(client=client, base_url=live.base_url, api_key=key, settings=settings)
            stop = threading.Event()
            threads = [threading.Thread(target=fn, args=(result, stop), daemon=True)
                       for fn in (_follow_first_job, _scrape_metrics)]
            for thread in threads:
                thread.start()
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                result.cli_code = main([
                    "jobs", "create", "--base-url", live.url, "--api-key", key, "-m", "tiny-chat",
                    "-t", str(data_dir / "train.jsonl"), "-v", str(data_dir / "valid.jsonl"),
                    "--n-epochs", str(EPOCHS), "--batch-size", str(BATCH), "--suffix", "sdk",
                    "--wait", "--poll-interval", "0.2",
                ])
            result.cli_out = out.getvalue()
            threads[0].join(60)
            stop.set()
            threads[1].join(10)
            result.job_id = client.fine_tuning.jobs.list().data[0].id
            yield result
        engine.dispose()


@pytest.fixture
def cli(run: Run, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    def invoke(*argv: Any) -> tuple[int, str]:
        capsys.readouterr()
        code = main([*map(str, argv), "--base-url", run.base_url, "--api-key", run.api_key])
        return code, capsys.readouterr().out

    return invoke


def fine_tuned_model(run: Run) -> str:
    model = run.client.fine_tuning.jobs.retrieve(run.job_id).fine_tuned_model
    assert model, "the job published no model"
    return model


def test_create_wait_draws_live_progress_and_succeeds(run: Run) -> None:
    job = run.client.fine_tuning.jobs.retrieve(run.job_id)
    assert run.cli_code == 0, run.cli_out
    assert job.status == "succeeded" and job.fine_tuned_model and ":sdk:" in job.fine_tuned_model
    lines = run.cli_out.splitlines()
    assert lines[0] == f"created {run.job_id}"
    assert any("Files validated, moving job to queued state" in line for line in lines)
    progress = [line for line in lines if f"/{TOTAL_STEPS}" in line and "loss" in line and "[" in line]
    assert progress and f"{TOTAL_STEPS}/{TOTAL_STEPS}" in progress[-1]
    assert lines[-1] == f"{run.job_id}: succeeded -> {job.fine_tuned_model}"


def test_follow_saw_every_event_once_in_order(run: Run) -> None:
    assert run.follow_error is None, run.follow_error
    listed = [e.id for e in run.client.fine_tuning.jobs.list_events(run.job_id, limit=100)]
    assert run.followed == list(reversed(listed))
    assert len(set(run.followed)) == len(run.followed)
    final = run.client.jobs.wait(run.job_id, timeout=5)  # a finished job returns at once
    assert final.status == "succeeded"


def test_metrics_were_scraped_during_the_job(run: Run) -> None:
    running = [s for s in run.scrapes if s.get(("openft_jobs", (("status", "running"),))) == 1]
    assert running, f"no scrape saw the job running ({len(run.scrapes)} scrapes)"
    assert all(s[("openft_state_up", ())] == 1 for s in run.scrapes)
    assert any(s.get(("openft_workers", (("state", "live"),)), 0) >= 1 for s in running)
    last = metrics_now(run)
    assert last[("openft_jobs", (("status", "succeeded"),))] == 1
    create = ("openft_http_request_duration_seconds_count",
              (("method", "POST"), ("route", "/v1/fine_tuning/jobs"), ("status", "200")))
    assert last[create] == 1


def test_plot_of_the_trained_job(run: Run, cli: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    import json

    import matplotlib.image
    from png_curves import fit_residual, line_heights

    code, out = cli("jobs", "plot", run.job_id, "-o", tmp_path / "loss.png", "--json")
    assert code == 0
    series = json.loads(out)["series"]
    train = {step: loss for step, loss in series["train_loss"]}
    assert sorted(train) == list(range(1, TOTAL_STEPS + 1))
    assert series.get("valid_loss")
    columns, rows = line_heights(matplotlib.image.imread(tmp_path / "loss.png"), COLORS["train_loss"])

    def loss_at(step: float) -> float:
        low = max(1, min(TOTAL_STEPS - 1, int(step)))
        return train[low] + (train[low + 1] - train[low]) * (step - low)

    assert fit_residual(columns, rows, loss_at, 1, TOTAL_STEPS) < 0.05


def test_exported_adapter_and_merged_weights_load_and_agree(
    run: Run, cli: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.catalog import get_catalog
    from core.model_cache import ensure_model_dir

    model = fine_tuned_model(run)
    code, _ = cli("models", "export", model, "--format", "adapter", "-o", tmp_path / "adapter", "--extract")
    assert code == 0
    adapter_dir = tmp_path / "adapter"
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b), "B matrices start at zero: trained ones are not"

    merged_path = run.client.models.export(model, format="merged", dest=tmp_path / "merged.tar")
    assert merged_path.stat().st_size > 0
    from sdk.resources.models import extract_archive

    merged_dir = extract_archive(merged_path, tmp_path / "merged")

    base_dir = ensure_model_dir(get_catalog(run.settings).require("tiny-chat").spec(), run.settings)
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "question 3"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        base_logits = base(**ids).logits
        tuned = PeftModel.from_pretrained(base, adapter_dir)
        tuned_logits = tuned(**ids).logits
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
        merged_logits = merged(**ids).logits
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-3), "the adapter changes nothing"
    assert torch.allclose(tuned_logits, merged_logits, atol=1e-3), "merged weights differ from base+adapter"


def test_chat_answers_one_prompt_and_piped_lines(
    run: Run, cli: Callable[..., tuple[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    model = fine_tuned_model(run)

    def greedy(prompt: str) -> str:
        return run.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=8,
        ).choices[0].message.content or ""

    # a training prompt the briefly trained model answers with some text (a few may get the
    # end-of-turn token first); the streamed CLI answer must be exactly that text
    prompt, expected = next((p, a) for p in (f"question {i}" for i in range(N_TRAIN)) if (a := greedy(p)))
    code, out = cli("chat", "-m", model, "-p", prompt, "--temperature", "0", "--max-tokens", "8", "--json")
    assert code == 0
    first = json.loads(out)
    assert first == {"model": model, "prompt": prompt, "answer": expected}

    # piped lines: one answer line per non-blank input line (the blank one is skipped)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{prompt}\n\nquestion 2\n"))
    code, out = cli("chat", "-m", model, "--temperature", "0", "--max-tokens", "8")
    assert code == 0
    assert out.split("\n") == [expected, greedy("question 2"), ""]


def test_list_then_delete_the_model(run: Run, cli: Callable[..., tuple[int, str]]) -> None:
    import json

    model = fine_tuned_model(run)
    code, out = cli("models", "list", "--json")
    assert code == 0 and model in [m["id"] for m in json.loads(out)]
    code, out = cli("models", "delete", model, "--json")
    assert code == 0 and json.loads(out) == {"id": model, "object": "model", "deleted": True}
    code, _ = cli("models", "get", model)
    assert code == 1
