"""``sdk.Client``/``AsyncClient``: configuration, the official resources and exception classes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from factories import chat_jsonl
from openai.types import FileObject

from sdk._client import AsyncClient, Client
from sdk._config import resolve_base_url


def test_public_names() -> None:
    """``from sdk import …`` in a clean interpreter (pytest's path would shadow ``sdk``)."""
    code = ("from sdk import Client, AsyncClient, NotFoundError, BadRequestError, LossCurves; "
            "import openai; assert NotFoundError is openai.NotFoundError; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert done.stdout.strip() == "ok", done.stderr


def test_base_url_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENFT_BASE_URL", raising=False)
    assert resolve_base_url(None) == "http://127.0.0.1:8000/v1"
    assert resolve_base_url("http://h:9000") == "http://h:9000/v1"
    assert resolve_base_url("http://h:9000/") == "http://h:9000/v1"
    assert resolve_base_url("http://h:9000/v1/") == "http://h:9000/v1"
    assert resolve_base_url("https://h/openft/v1") == "https://h/openft/v1"
    monkeypatch.setenv("OPENFT_BASE_URL", "http://env:1")
    assert resolve_base_url(None) == "http://env:1/v1"
    assert resolve_base_url("http://arg:2") == "http://arg:2/v1"


def test_official_resources_and_errors(sdk: Client, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(10))
    file = sdk.files.create(file=path, purpose="fine-tune")
    assert isinstance(file, FileObject) and file.bytes == path.stat().st_size
    assert sdk.files.retrieve(file.id).id == file.id
    assert sdk.files.content(file.id).content == path.read_bytes()
    assert isinstance(sdk.files, openai.resources.Files)  # the official resource, extended
    with pytest.raises(openai.NotFoundError) as exc:
        sdk.files.retrieve("file-doesnotexist")
    assert exc.value.status_code == 404 and exc.value.request_id


def test_export_of_an_unknown_model_is_not_found_and_leaves_nothing(sdk: Client, tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    with pytest.raises(openai.NotFoundError):
        sdk.models.export("ft:tiny-chat:proj-a::zzzzzzzz", format="adapter", dest=out / "a.tar")
    assert list(out.iterdir()) == []  # no partial file left behind
    with pytest.raises(ValueError, match="format"):
        sdk.models.export("tiny-chat", format="pickle", dest=out / "a.tar")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extract"):
        sdk.models.export("tiny-chat", format="gguf", dest=out / "a", extract=True)


def test_wrong_key_is_the_official_authentication_error(server: Any) -> None:
    with Client(base_url=server.url, api_key="sk-wrong") as client, pytest.raises(openai.AuthenticationError):
        client.files.list()


async def test_async_twin(openft_env: None, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(10))
    async with AsyncClient(_strict_response_validation=True) as client:
        file = await client.files.create(file=path, purpose="fine-tune")
        listed = [f.id async for f in client.files.list()]
        assert listed == [file.id]
        with pytest.raises(openai.NotFoundError):
            await client.models.export("ft:tiny-chat:proj-a::zzzzzzzz", dest=tmp_path / "m.tar")
        result = await client.files.validate_local(path, model="tiny-chat")
    assert result.n_examples == 10 and result.total_tokens and result.total_tokens > 0
