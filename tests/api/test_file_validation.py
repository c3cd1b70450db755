"""``GET /v1/files/{id}/validation``: a job's full file check on demand, with line numbers and tokens."""

from __future__ import annotations

from typing import Any

import openai
from factories import chat_jsonl


def _upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("train.jsonl", data), purpose="fine-tune").id


def test_a_format_error_names_its_line_and_a_valid_file_gets_token_counts(client: openai.OpenAI, http: Any) -> None:
    lines = chat_jsonl(12).decode().splitlines()
    bad = _upload(client, ("\n".join([*lines[:6], '{"prompt": "x"}', *lines[7:]]) + "\n").encode())
    body = http.get(f"/v1/files/{bad}/validation", params={"model": "tiny-chat"}).json()
    assert body["valid"] is False and body["stats"] is None
    assert body["error"]["line"] == 7 and body["error"]["param"] == "training_file"

    good = _upload(client, chat_jsonl(12))
    body = http.get(f"/v1/files/{good}/validation", params={"model": "tiny-chat"}).json()
    stats = body["stats"]
    assert body["valid"] and body["error"] is None
    assert stats["n_examples"] == 12 and stats["n_truncated"] == 0
    assert 0 < stats["min_example_tokens"] <= stats["max_example_tokens"] <= stats["max_length"]
    assert stats["min_example_tokens"] * 12 <= stats["total_tokens"] <= stats["max_example_tokens"] * 12


def test_unknown_model_method_and_file_are_caller_errors(client: openai.OpenAI, http: Any) -> None:
    good = _upload(client, chat_jsonl(12))
    r = http.get(f"/v1/files/{good}/validation", params={"model": "nope"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    r = http.get(f"/v1/files/{good}/validation", params={"model": "tiny-chat", "method": "magic"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "method"
    r = http.get("/v1/files/file-nope/validation", params={"model": "tiny-chat"})
    assert r.status_code == 404
