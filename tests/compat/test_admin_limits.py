"""Rate limits and usage through the official client (strict): per-minute limits held in the
database (exactly L of N concurrent requests pass), ``x-ratelimit-*`` headers, and the usage and
costs reports summing to what each request and job recorded."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from live_server import LiveServer, make_client
from serving.fixtures import tiny_cache  # noqa: F401
from sqlalchemy.engine import Engine

from core.db import session_scope
from core.settings import Settings
from core.tables import Job, UsageRecord
from scheduler.jobs import change_status

HELLO = [{"role": "user", "content": "hello"}]
PRICES = {"price_per_1m_input_tokens": 2.0, "price_per_1m_output_tokens": 8.0,
          "price_per_1m_trained_tokens": 25.0, "price_per_gpu_hour": 3.5}


@pytest.fixture
def settings(settings: Settings, tiny_cache: Path) -> Settings:  # noqa: F811
    return settings.model_copy(update={"model_cache_dir": tiny_cache, **PRICES})


def _fresh_window() -> None:
    """Wait out the end of a one-minute window, so a burst stays inside one window."""
    if time.time() % 60 > 45:
        time.sleep(60 - time.time() % 60 + 0.2)


def test_list_and_update_rate_limits(admin: openai.OpenAI, api_key: str, other_key: str) -> None:
    rl = admin.admin.organization.projects.rate_limits
    limits = {r.model: r for r in rl.list_rate_limits("proj-a")}
    assert limits["tiny-chat"].id == "rl-tiny-chat" and limits["tiny-chat"].max_requests_per_1_minute == 10_000
    updated = rl.update_rate_limit("rl-tiny-chat", project_id="proj-a", max_requests_per_1_minute=7,
                                   max_tokens_per_1_minute=900)
    assert (updated.max_requests_per_1_minute, updated.max_tokens_per_1_minute) == (7, 900)
    again = {r.model: r for r in rl.list_rate_limits("proj-a")}["tiny-chat"]
    assert (again.max_requests_per_1_minute, again.max_tokens_per_1_minute) == (7, 900)
    other = {r.model: r for r in rl.list_rate_limits("proj-b")}["tiny-chat"]  # another project: untouched
    assert other.max_requests_per_1_minute == 10_000
    with pytest.raises(openai.NotFoundError):
        rl.update_rate_limit("rl-no-such-model", project_id="proj-a", max_requests_per_1_minute=1)
    with pytest.raises(openai.BadRequestError) as err:
        rl.update_rate_limit("rl-tiny-chat", project_id="proj-a", max_images_per_1_minute=3)
    assert err.value.body["param"] == "max_images_per_1_minute"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as err:
        rl.update_rate_limit("rl-tiny-chat", project_id="proj-a", max_requests_per_1_minute=0)
    assert err.value.body["param"] == "max_requests_per_1_minute"  # type: ignore[index]
    entry = admin.admin.organization.audit_logs.list(event_types=["rate_limit.updated"]).data[0]
    assert entry.rate_limit_updated and entry.rate_limit_updated.id == "rl-tiny-chat"
    assert entry.rate_limit_updated.changes_requested
    assert entry.rate_limit_updated.changes_requested.max_requests_per_1_minute == 7


def test_twenty_concurrent_chats_against_five_per_minute(admin: openai.OpenAI, server: LiveServer,
                                                         api_key: str, other_key: str) -> None:
    admin.admin.organization.projects.rate_limits.update_rate_limit(
        "rl-tiny-chat", project_id="proj-a", max_requests_per_1_minute=5)
    _fresh_window()

    def ask(_: int) -> tuple[int, dict[str, str], Any]:
        with make_client(server, api_key, max_retries=0) as c:
            try:
                raw = c.chat.completions.with_raw_response.create(model="tiny-chat", messages=HELLO, max_tokens=2)
                return raw.status_code, dict(raw.headers), raw.parse()
            except openai.RateLimitError as exc:
                return 429, dict(exc.response.headers), exc.body

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(ask, range(20)))
    refused = [a for a in answers if a[0] == 429]
    passed = [a for a in answers if a[0] == 200]
    assert (len(passed), len(refused)) == (5, 15)
    for _, headers, body in refused:
        assert body["code"] == "rate_limit_exceeded" and body["type"] == "requests"
        assert headers["x-ratelimit-limit-requests"] == "5" and headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s") and int(headers["retry-after"]) >= 1
    assert sorted(int(h["x-ratelimit-remaining-requests"]) for _, h, _ in passed) == [0, 1, 2, 3, 4]
    with make_client(server, other_key, max_retries=0) as theirs:  # another project has its own window
        assert theirs.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=2).choices


def test_token_limit(admin: openai.OpenAI, server: LiveServer, api_key: str) -> None:
    admin.admin.organization.projects.rate_limits.update_rate_limit(
        "rl-tiny-chat", project_id="proj-a", max_tokens_per_1_minute=10)
    _fresh_window()
    with make_client(server, api_key, max_retries=0) as c:
        first = c.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=4)
        assert first.usage and first.usage.total_tokens >= 10  # the first request used the whole minute
        with pytest.raises(openai.RateLimitError) as err:
            c.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=4)
    assert err.value.body["type"] == "tokens"  # type: ignore[index]
    assert err.value.response.headers["x-ratelimit-remaining-tokens"] == "0"


def test_usage_and_costs_sum_to_what_was_recorded(admin: openai.OpenAI, server: LiveServer, api_key: str,
                                                  other_key: str, engine: Engine) -> None:
    start = int(time.time()) - 5
    tokens: dict[tuple[str, str], list[int]] = {}
    with make_client(server, api_key) as a, make_client(server, other_key) as b:
        for client, project in ((a, "proj-a"), (a, "proj-a"), (b, "proj-b")):
            r = client.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=3)
            assert r.usage
            got = tokens.setdefault((project, "tiny-chat"), [0, 0, 0])
            got[0] += r.usage.prompt_tokens; got[1] += r.usage.completion_tokens; got[2] += 1  # noqa: E702
        stream = a.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=3, stream=True,
                                           stream_options={"include_usage": True})
        usage = [c.usage for c in stream if c.usage][0]
        legacy = a.completions.create(model="tiny-chat", prompt="once upon", max_tokens=3)
        assert legacy.usage
        got = tokens.setdefault(("proj-a", "tiny-chat"), [0, 0, 0])
        got[0] += usage.prompt_tokens + legacy.usage.prompt_tokens
        got[1] += usage.completion_tokens + legacy.usage.completion_tokens
        quiet = a.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=3, stream=True)
        assert len(list(quiet)) > 0  # no usage asked for; still recorded
    with session_scope(engine) as s:  # a job that ran, as the scheduler accounts it
        job = Job(id="ftjob-usage", project_id="proj-b", model="tiny-chat", base_model="tiny-chat",
                  training_file="file-x", seed=1, status="running", started_at=time.time() - 7200,
                  trained_tokens=40_000)
        s.add(job)
        s.flush()
        change_status(s, job, "succeeded", None)
    end = int(time.time()) + 5

    page = admin.admin.organization.usage.completions(start_time=start, end_time=end, bucket_width="1h",
                                                      group_by=["project_id", "model"])
    results = [r for bucket in page.data for r in bucket.results]
    by = {(r.project_id, r.model): r for r in results}
    assert by[("proj-b", "tiny-chat")].input_tokens == tokens[("proj-b", "tiny-chat")][0]
    a_row = by[("proj-a", "tiny-chat")]
    assert a_row.input_tokens >= tokens[("proj-a", "tiny-chat")][0]  # + the quiet stream
    assert a_row.num_model_requests == 5 and by[("proj-b", "tiny-chat")].num_model_requests == 1
    with session_scope(engine) as s:
        recorded = [r for r in s.query(UsageRecord).all() if r.kind == "completions"]
    assert sum(r.input_tokens for r in recorded) == sum(r.input_tokens for r in results)
    assert sum(r.output_tokens for r in recorded) == sum(r.output_tokens for r in results)

    costs = admin.admin.organization.usage.costs(start_time=start, end_time=end, group_by=["project_id", "line_item"])
    items = {(r.project_id, r.line_item): r for b in costs.data for r in b.results}
    trained = items[("proj-b", "tiny-chat, fine-tuning trained tokens")]
    assert trained.quantity == 40_000 and trained.amount and trained.amount.value == pytest.approx(40_000 * 25 / 1e6)
    hours = items[("proj-b", "tiny-chat, fine-tuning device hours")]
    assert hours.quantity == pytest.approx(2.0, abs=0.01) and hours.amount
    assert hours.amount.value == pytest.approx(hours.quantity * 3.5)
    served_in = sum(r.input_tokens for r in recorded) * 2 / 1e6
    served_out = sum(r.output_tokens for r in recorded) * 8 / 1e6
    total = sum(r.amount.value or 0 for b in costs.data for r in b.results if r.amount)
    assert total == pytest.approx(served_in + served_out + 40_000 * 25 / 1e6 + hours.quantity * 3.5)
    flat = admin.admin.organization.usage.costs(start_time=start, end_time=end)
    assert sum(r.amount.value or 0 for b in flat.data for r in b.results if r.amount) == pytest.approx(total)


def test_usage_paging_and_bad_queries(admin: openai.OpenAI) -> None:
    usage = admin.admin.organization.usage
    start = int(time.time()) - 10 * 3600
    first = usage.completions(start_time=start, bucket_width="1h", limit=4)
    assert len(first.data) == 4 and first.has_more and first.next_page
    rest = usage.completions(start_time=start, bucket_width="1h", limit=24, page=first.next_page)
    assert rest.data[0].start_time == first.data[-1].end_time and not rest.has_more
    for kwargs, param in [
        ({"bucket_width": "1w"}, "bucket_width"), ({"limit": 0}, "limit"), ({"limit": 32}, "limit"),
        ({"group_by": ["color"]}, "group_by"), ({"end_time": start - 1}, "end_time"), ({"page": "abc"}, "page"),
    ]:
        with pytest.raises(openai.BadRequestError) as err:
            usage.completions(start_time=start, **kwargs)
        assert err.value.body["param"] == param, kwargs  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as err:
        usage.costs(start_time=start, bucket_width="1h")  # type: ignore[arg-type]
    assert err.value.body["param"] == "bucket_width"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as err:
        admin.admin.organization.usage.completions(start_time=0, extra_query={"start_time": "soon"})
    assert err.value.body["param"] == "start_time"  # type: ignore[index]


def test_queued_jobs_quota_answers_429_at_create(admin: openai.OpenAI, server: LiveServer, api_key: str) -> None:
    from factories import chat_jsonl

    project = admin.admin.organization.projects.update("proj-a", extra_body={"quotas": {"max_queued_jobs": 1}})
    assert project.model_extra and project.model_extra["quotas"]["max_queued_jobs"] == 1
    with make_client(server, api_key, max_retries=0) as c:
        fid = c.files.create(file=("t.jsonl", chat_jsonl(12)), purpose="fine-tune").id
        first = c.fine_tuning.jobs.create(model="tiny-chat", training_file=fid)
        with pytest.raises(openai.RateLimitError) as err:
            c.fine_tuning.jobs.create(model="tiny-chat", training_file=fid)
        assert err.value.body["code"] == "quota_exceeded"  # type: ignore[index]
        assert [j.id for j in c.fine_tuning.jobs.list()] == [first.id]  # nothing committed
        c.fine_tuning.jobs.cancel(first.id)
        assert c.fine_tuning.jobs.create(model="tiny-chat", training_file=fid).status == "validating_files"
