"""``openft webhooks …``: every webhook route from the command line (tables for people, --json for
scripts), against a live server delivering to a receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable

import openai
import pytest
from factories import chat_jsonl
from webhook_receiver import receiver

from core.settings import Settings

CliRun = Callable[..., tuple[int, str]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private_targets": True, "webhooks_interval_seconds": 0.1})


def test_webhooks_cli(cli: CliRun, api_key: str, other_key: str, client: openai.OpenAI) -> None:
    with receiver() as rec:
        code, out = cli(api_key, "--json", "webhooks", "create", rec.url, "--name", "ops",
                        "--event", "fine_tuning.job.cancelled", "--event", "fine_tuning.job.failed")
        assert code == 0, out
        made = json.loads(out)
        secret = made["signing_secret"]
        assert made["event_types"] == ["fine_tuning.job.cancelled", "fine_tuning.job.failed"]

        code, out = cli(api_key, "webhooks", "list")
        assert code == 0 and made["id"] in out and "ops" in out and secret not in out
        code, out = cli(api_key, "--json", "webhooks", "get", made["id"])
        assert json.loads(out)["url"] == rec.url and "signing_secret" not in json.loads(out)
        code, out = cli(api_key, "--json", "webhooks", "update", made["id"], "--name", "ops2")
        assert (json.loads(out)["name"], json.loads(out)["event_types"]) == ("ops2", made["event_types"])

        code, out = cli(api_key, "webhooks", "test", made["id"], "--event", "fine_tuning.job.failed")
        assert (code, out.strip()) == (0, "fine_tuning.job.failed -> HTTP 200")
        headers, body, _ = rec.wait(1)[0]
        assert client.webhooks.unwrap(body, headers, secret=secret).type == "fine_tuning.job.failed"

        fid = client.files.create(file=("t.jsonl", chat_jsonl(12), "application/jsonl"), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid)
        client.fine_tuning.jobs.cancel(job.id)
        headers, body, _ = rec.wait(2)[1]
        code, out = cli(api_key, "--json", "webhooks", "deliveries", made["id"])
        [delivery] = json.loads(out)
        assert (delivery["id"], delivery["event_type"], delivery["status"]) == (
            headers["webhook-id"], "fine_tuning.job.cancelled", "delivered")
        code, out = cli(api_key, "webhooks", "deliveries", made["id"])
        assert delivery["id"] in out and "delivered" in out and "200" in out

        code, out = cli(api_key, "--json", "webhooks", "rotate-secret", made["id"])
        rotated = json.loads(out)["signing_secret"]
        assert rotated != secret
        cli(api_key, "webhooks", "test", made["id"], "--event", "fine_tuning.job.cancelled")
        headers, body, _ = rec.wait(3)[2]
        assert client.webhooks.unwrap(body, headers, secret=rotated).type == "fine_tuning.job.cancelled"

    code, out = cli(other_key, "--json", "webhooks", "get", made["id"])  # another project: as if missing
    assert code == 1 and json.loads(out)["error"]["status"] == 404
    code, out = cli(api_key, "--json", "webhooks", "delete", made["id"])
    assert (code, json.loads(out)["deleted"]) == (0, True)
    code, out = cli(api_key, "webhooks", "list")
    assert out.strip() == "(no items)"
