"""Embedded mode: ``openft serve`` killed with SIGKILL while a reinforcement job trains; the next
``openft serve`` on the same data dir requeues the job and resumes it from its checkpoint."""

# ruff: noqa: F811  (the serving fixture is imported by name, then requested as an argument)
from __future__ import annotations

from pathlib import Path

import openai
import pytest
from polling import DONE, wait_status
from reinforcement_jobs import EXACT, assert_resumed_to_the_end, create_job, wait_past_first_checkpoint
from serve_process import openft_serve
from serving.fixtures import tiny_cache  # noqa: F401

KEY = "sk-openft-rft-kill-test-key-0123456789abcdef"


@pytest.mark.slow
def test_a_reinforcement_job_of_a_killed_server_resumes_from_its_checkpoint(tmp_path: Path, tiny_cache: Path) -> None:
    env = {"OPENFT_API_KEY": KEY, "OPENFT_MODEL_CACHE_DIR": str(tiny_cache), "OPENFT_WORKER_LEASE_SECONDS": "2",
           "OPENFT_HEARTBEAT_SECONDS": "0.5", "OPENFT_SCHEDULER_TICK_SECONDS": "0.2"}
    hp = {"n_epochs": 4, "batch_size": 2, "compute_multiplier": 0.25, "reasoning_effort": "low"}  # 6 steps an epoch
    with openft_serve(tmp_path, env=env) as first:
        client = openai.OpenAI(base_url=first.url, api_key=KEY, _strict_response_validation=True, max_retries=0)
        job_id = create_job(client, EXACT, hp)
        killed_at = wait_past_first_checkpoint(client, job_id)
        first.proc.kill()  # kill -9: no shutdown, the job stays running under a worker that is gone
        first.proc.wait()
    assert killed_at < 24
    with openft_serve(tmp_path, env=env) as second:
        client = openai.OpenAI(base_url=second.url, api_key=KEY, _strict_response_validation=True, max_retries=0)
        status = wait_status(client, job_id, DONE, timeout=400)
        assert status == "succeeded", client.fine_tuning.jobs.retrieve(job_id).error
        assert_resumed_to_the_end(client, job_id, total_steps=24)
