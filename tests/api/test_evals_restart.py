"""A real restart: ``openft serve`` killed (SIGKILL) mid-run; the next one resumes the run."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest
from serve_process import openft_serve
from serving import tasks
from serving.fixtures import tiny_cache  # noqa: F401

KEY = "sk-openft-restart-test-key-0123456789abcdef"


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=KEY, _strict_response_validation=True, max_retries=0)


def _wait(client: openai.OpenAI, eval_id: str, run_id: str, done: Any, timeout: float = 600) -> Any:
    deadline = time.monotonic() + timeout
    while not done(run := client.evals.runs.retrieve(run_id, eval_id=eval_id)):
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
    return run


@pytest.mark.slow
def test_run_of_a_killed_server_is_resumed_by_the_next_one(tmp_path: Path, tiny_cache: Path) -> None:
    env = {"OPENFT_API_KEY": KEY, "OPENFT_MODEL_CACHE_DIR": str(tiny_cache),
           "OPENFT_EVAL_STALE_CLAIM_SECONDS": "3", "OPENFT_EVAL_INTERVAL_SECONDS": "0.2"}
    _, held_out = tasks.sentiment()
    content = [{"item": {"messages": ex["messages"], "expected": want}} for ex, want in held_out[:12]]
    with openft_serve(tmp_path, env=env) as first:
        client = _client(first.url)
        ev = client.evals.create(data_source_config={"type": "custom", "item_schema": {"type": "object"}},
                                 testing_criteria=[{"type": "string_check", "name": "answer", "operation": "eq",
                                                    "input": "{{sample.output_text}}",
                                                    "reference": "{{item.expected}}"}])
        run = client.evals.runs.create(ev.id, data_source={
            "type": "completions", "model": "tiny-chat", "source": {"type": "file_content", "content": content},
            "input_messages": {"type": "item_reference", "item_reference": "item.messages"},
            "sampling_params": {"temperature": 0, "max_completion_tokens": 8}})
        before = _wait(client, ev.id, run.id, lambda r: r.result_counts.total >= 2)
        first.proc.kill()  # no shutdown: the claim stays in the database, stamped by a dead process
        first.proc.wait()
    assert before.status == "in_progress"
    with openft_serve(tmp_path, env=env) as second:
        client = _client(second.url)
        after = _wait(client, ev.id, run.id, lambda r: r.status not in ("queued", "in_progress"))
        assert after.status == "completed", after.error
        assert after.result_counts.total == 12
        items = client.evals.runs.output_items.list(run.id, eval_id=ev.id, limit=100).data
        assert sorted(i.datasource_item_id for i in items) == list(range(12))  # each item once
        usage = {u.run_model_name: u.invocation_count for u in after.per_model_usage}
        assert usage == {"tiny-chat": 12}
