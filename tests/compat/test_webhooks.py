"""Webhooks through the official client (strict): every route, signed deliveries that
``client.webhooks.unwrap`` verifies, the durable outbox (retries with one webhook-id, a restart
between attempts), the target guard, isolation and bad requests in OpenAI's error shape."""

from __future__ import annotations

import json

import httpx2 as httpx
import openai
import pytest
from live_server import LiveServer, make_client, run_server_in_thread
from sqlalchemy.engine import Engine
from webhook_receiver import receiver

from api.app import create_app
from core.settings import Settings
from core.store import Store

JOB_EVENTS = ["fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled"]


@pytest.fixture
def allow_private() -> bool:
    """Tests deliver to loopback; ``parametrize("allow_private", [False])`` checks the guard."""
    return True


@pytest.fixture
def settings(settings: Settings, allow_private: bool) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private_targets": allow_private,
                                       "webhooks_retry_base_seconds": 0.3, "webhooks_interval_seconds": 0.1})


def _queued_job(client: openai.OpenAI) -> str:
    """A job that stays in validation (no scheduler here) until it is cancelled."""
    from factories import chat_jsonl

    fid = client.files.create(file=("t.jsonl", chat_jsonl(12), "application/jsonl"), purpose="fine-tune").id
    return client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid).id


def test_every_route_through_the_client(client: openai.OpenAI, admin: openai.OpenAI) -> None:
    with receiver() as rec:
        created = client.webhooks.create(name="ci", url=rec.url, event_types=JOB_EVENTS)
        assert created.signing_secret.startswith("whsec_") and created.object == "webhook_endpoint"
        assert created.signing_secret_hint and created.signing_secret not in created.signing_secret_hint
        got = client.webhooks.retrieve(created.id)
        assert (got.name, got.url, got.event_types) == ("ci", rec.url, JOB_EVENTS)
        assert not hasattr(got, "signing_secret") or getattr(got, "signing_secret", None) is None
        assert [e.id for e in client.webhooks.list()] == [created.id]

        updated = client.webhooks.update(created.id, name="ci2", event_types=["fine_tuning.job.succeeded"])
        assert (updated.name, updated.event_types) == ("ci2", ["fine_tuning.job.succeeded"])
        same = client.webhooks.update(created.id, name="ci2")
        assert same.updated_at == updated.updated_at  # unchanged updates do not advance it

        result = client.webhooks.test(created.id, event_type="fine_tuning.job.succeeded")
        assert (result.status_code, result.success, result.webhook_endpoint_id) == (200, True, created.id)
        headers, body, _ = rec.wait(1)[0]
        event = client.webhooks.unwrap(body, headers, secret=created.signing_secret)
        assert event.type == "fine_tuning.job.succeeded"

        rotated = client.webhooks.rotate_secret(created.id)
        assert rotated.signing_secret != created.signing_secret
        client.webhooks.test(created.id, event_type="fine_tuning.job.failed")
        headers, body, _ = rec.wait(2)[1]
        assert client.webhooks.unwrap(body, headers, secret=rotated.signing_secret).type == "fine_tuning.job.failed"
        with pytest.raises(openai.InvalidWebhookSignatureError):  # the old secret is gone at once
            client.webhooks.unwrap(body, headers, secret=created.signing_secret)

        kept = client.webhooks.rotate_secret(created.id, keep_old_secret_active_for_24_hours=True)
        client.webhooks.test(created.id, event_type="fine_tuning.job.cancelled")
        headers, body, _ = rec.wait(3)[2]
        for secret in (kept.signing_secret, rotated.signing_secret):  # both sign for 24 h
            assert client.webhooks.unwrap(body, headers, secret=secret).type == "fine_tuning.job.cancelled"

        assert set(client.webhooks.event_types.list().data) >= set(JOB_EVENTS) | {"eval.run.succeeded"}
        deleted = client.webhooks.delete(created.id)
        assert (deleted.id, deleted.deleted) == (created.id, True)
        with pytest.raises(openai.NotFoundError):
            client.webhooks.retrieve(created.id)

    raw = admin.admin.organization.audit_logs.with_raw_response.list(
        project_ids=["proj-a"], extra_query={"include_openft_events": "true"}).http_response.json()
    audit = [e for e in raw["data"] if e["type"].startswith("webhook_endpoint.")]  # type: ignore[index]
    assert [e["type"] for e in audit] == ["webhook_endpoint.deleted", *["webhook_endpoint.updated"] * 3,
                                          "webhook_endpoint.created"]
    assert audit[-1]["webhook_endpoint.created"]["id"] == created.id
    assert all(e["actor"]["api_key"]["id"] for e in audit)
    for secret in (created.signing_secret, rotated.signing_secret, kept.signing_secret):
        assert secret not in json.dumps(raw)


def test_delivery_retries_with_one_id_until_it_succeeds(client: openai.OpenAI, server: LiveServer,
                                                       api_key: str) -> None:
    with receiver([500, 500, 200]) as rec:
        endpoint = client.webhooks.create(name="r", url=rec.url, event_types=JOB_EVENTS)
        job_id = _queued_job(client)
        client.fine_tuning.jobs.cancel(job_id)
        got = rec.wait(3)
        assert [g[2] for g in got] == [500, 500, 200]
        assert len({g[0]["webhook-id"] for g in got}) == 1  # never a second id
        for headers, body, _ in got:
            event = client.webhooks.unwrap(body, headers, secret=endpoint.signing_secret)
            assert event.type == "fine_tuning.job.cancelled" and event.data.id == job_id
        assert len({json.loads(g[1])["id"] for g in got}) == 1

    page = httpx.get(f"{server.base_url}/webhook_endpoints/{endpoint.id}/deliveries",
                     headers={"authorization": f"Bearer {api_key}"}).json()
    [delivery] = page["data"]
    assert (delivery["id"], delivery["status"]) == (got[0][0]["webhook-id"], "delivered")
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]


def test_a_restart_between_attempts_loses_no_delivery(settings: Settings, engine: Engine, store: Store,
                                                      api_key: str) -> None:
    with receiver([503]) as rec:
        with run_server_in_thread(create_app(settings, engine=engine, store=store)) as first, \
                make_client(first, api_key) as c:
            endpoint = c.webhooks.create(name="r", url=rec.url, event_types=JOB_EVENTS)
            job_id = _queued_job(c)
            c.fine_tuning.jobs.cancel(job_id)
            rec.wait(1)
        assert len(rec.received) == 1  # stopped after the failed attempt
        with run_server_in_thread(create_app(settings, engine=engine, store=store)) as second:
            got = rec.wait(2)
            with make_client(second, api_key) as c:
                event = c.webhooks.unwrap(got[1][1], got[1][0], secret=endpoint.signing_secret)
        assert event.data.id == job_id and got[1][2] == 200
        assert got[0][0]["webhook-id"] == got[1][0]["webhook-id"]


@pytest.mark.parametrize("allow_private", [False])
def test_private_targets_are_refused(client: openai.OpenAI) -> None:
    for url in ("http://127.0.0.1:9/h", "http://localhost/h", "http://10.1.2.3/h", "http://169.254.169.254/latest",
                "http://[::1]/h", "http://192.168.0.1/h", "http://[::ffff:127.0.0.1]/h"):
        with pytest.raises(openai.BadRequestError) as err:
            client.webhooks.create(name="x", url=url, event_types=JOB_EVENTS)
        assert err.value.body["param"] == "url" and "private" in err.value.body["message"]  # type: ignore[index]


def test_another_project_sees_nothing(client: openai.OpenAI, other_client: openai.OpenAI, server: LiveServer,
                                     other_key: str) -> None:
    endpoint = client.webhooks.create(name="mine", url="http://127.0.0.1:9/h", event_types=JOB_EVENTS)
    assert list(other_client.webhooks.list()) == []
    calls = [lambda: other_client.webhooks.retrieve(endpoint.id),
             lambda: other_client.webhooks.update(endpoint.id, name="theirs"),
             lambda: other_client.webhooks.rotate_secret(endpoint.id),
             lambda: other_client.webhooks.test(endpoint.id, event_type="fine_tuning.job.failed"),
             lambda: other_client.webhooks.delete(endpoint.id)]
    for call in calls:
        with pytest.raises(openai.NotFoundError):
            call()
    r = httpx.get(f"{server.base_url}/webhook_endpoints/{endpoint.id}/deliveries",
                  headers={"authorization": f"Bearer {other_key}"})
    assert r.status_code == 404
    assert client.webhooks.retrieve(endpoint.id).name == "mine"


BAD = [
    ("POST", "/webhook_endpoints", {}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://127.0.0.1/h"}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://127.0.0.1/h", "event_types": []}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://127.0.0.1/h", "event_types": ["batch.completed"]}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://127.0.0.1/h", "event_types": ["nope"]}, 400),
    ("POST", "/webhook_endpoints", {"name": "", "url": "http://127.0.0.1/h", "event_types": JOB_EVENTS}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "ftp://127.0.0.1/h", "event_types": JOB_EVENTS}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "not a url", "event_types": JOB_EVENTS}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://u:p@127.0.0.1/h", "event_types": JOB_EVENTS}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://nohost.invalid/h", "event_types": JOB_EVENTS}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://127.0.0.1:99999/h", "event_types": JOB_EVENTS}, 400),
    ("POST", "/webhook_endpoints", {"name": 5, "url": "http://127.0.0.1/h", "event_types": JOB_EVENTS}, 400),
    ("POST", "/webhook_endpoints", {"name": "x", "url": "http://127.0.0.1/h", "event_types": "x", "y": 1}, 400),
    ("POST", "/webhook_endpoints/{id}", {"event_types": ["response.completed"]}, 400),
    ("POST", "/webhook_endpoints/{id}", {"url": "gopher://x/"}, 400),
    ("POST", "/webhook_endpoints/{id}", {"name": ""}, 400),
    ("POST", "/webhook_endpoints/{id}/test", {}, 400),
    ("POST", "/webhook_endpoints/{id}/test", {"event_type": "video.completed"}, 400),
    ("POST", "/webhook_endpoints/{id}/test", {"event_type": "fine_tuning.job.failed"}, 400),  # nothing listens
    ("POST", "/webhook_endpoints/{id}/rotate_secret", {"keep_old_secret_active_for_24_hours": "maybe"}, 400),
    ("GET", "/webhook_endpoints?limit=0", None, 400),
    ("GET", "/webhook_endpoints?limit=101", None, 400),
    ("GET", "/webhook_endpoints?after=we_nope", None, 400),
    ("GET", "/webhook_endpoints/we_nope", None, 404),
    ("POST", "/webhook_endpoints/we_nope", {"name": "y"}, 404),
    ("DELETE", "/webhook_endpoints/we_nope", None, 404),
    ("POST", "/webhook_endpoints/we_nope/rotate_secret", {}, 404),
    ("POST", "/webhook_endpoints/we_nope/test", {"event_type": "fine_tuning.job.failed"}, 404),
    ("GET", "/webhook_endpoints/we_nope/deliveries", None, 404),
    ("GET", "/webhook_endpoints/{id}/deliveries?after=msg_nope", None, 400),
]


def test_bad_requests_answer_openai_errors(client: openai.OpenAI, server: LiveServer, api_key: str) -> None:
    endpoint = client.webhooks.create(name="e", url="http://127.0.0.1:9/h", event_types=JOB_EVENTS)
    with httpx.Client(base_url=server.base_url, headers={"authorization": f"Bearer {api_key}"}) as http:
        cases = [*BAD, *[(m, p, b, 401) for m, p, b, _ in BAD[:3]]]
        for i, (method, path, body, status) in enumerate(cases):
            headers = {"authorization": "Bearer sk-wrong"} if i >= len(BAD) else {}
            r = http.request(method, path.format(id=endpoint.id), json=body, headers=headers)
            assert r.status_code == status, (method, path, body, r.text)
            error = r.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["message"], r.text
    assert client.webhooks.retrieve(endpoint.id).event_types == JOB_EVENTS  # nothing changed


def test_an_eval_run_completion_is_delivered(client: openai.OpenAI) -> None:
    with receiver() as rec:
        endpoint = client.webhooks.create(name="evals", url=rec.url,
                                          event_types=["eval.run.succeeded", "eval.run.failed"])
        ev = client.evals.create(data_source_config={"type": "custom", "item_schema": {"type": "object"},
                                                     "include_sample_schema": True},
                                 testing_criteria=[{"type": "string_check", "name": "eq", "operation": "eq",
                                                    "input": "{{sample.output_text}}", "reference": "{{item.a}}"}])
        run = client.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {"type": "file_content",
                                       "content": [{"item": {"a": "x"}, "sample": {"output_text": "x"}}]}})
        headers, body, _ = rec.wait(1)[0]
        event = client.webhooks.unwrap(body, headers, secret=endpoint.signing_secret)
        assert event.type == "eval.run.succeeded" and event.data.id == run.id


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)  # one training run is enough
def test_a_real_job_success_is_delivered(settings: Settings, engine: Engine, store: Store, api_key: str) -> None:
    from embedded import embedded_server, fast_settings
    from factories import chat_jsonl

    with receiver() as rec, embedded_server(fast_settings(settings), engine, store) as live, \
            make_client(live, api_key) as c:
        endpoint = c.webhooks.create(name="jobs", url=rec.url, event_types=["fine_tuning.job.succeeded"])
        fid = c.files.create(file=("t.jsonl", chat_jsonl(16), "application/jsonl"), purpose="fine-tune").id
        job = c.fine_tuning.jobs.create(model="tiny-chat", training_file=fid, method={
            "type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}})
        headers, body, _ = rec.wait(1, timeout=240)[0]
        event = c.webhooks.unwrap(body, headers, secret=endpoint.signing_secret)
        assert event.type == "fine_tuning.job.succeeded" and event.data.id == job.id
        assert c.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
