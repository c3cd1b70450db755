"""``/v1/models`` with the official client (strict): list, retrieve, delete, tenancy.

Checklist items 33-35 of the wire-format reference.
"""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401

from core.protocol import model_prefix
from core.store import Store


@pytest.fixture
def published(publish_model: Callable[..., str], trained: dict[str, Path]) -> dict[str, str]:
    """An ft: model and a checkpoint model of proj-a, and an ft: model of proj-b."""
    return {
        "ft": publish_model("proj-a", trained["next_day"], suffix="days"),
        "ckpt": publish_model("proj-a", trained["next_day"], suffix="days", kind="checkpoint",
                              artifact_key="jobs/ftjob-x/checkpoints/step-10/adapter"),
        "other": publish_model("proj-b", trained["sentiment"], suffix="theirs"),
    }


def test_list_has_base_models_and_the_projects_own(client: openai.OpenAI, server: Any,
                                                   published: dict[str, str]) -> None:
    page = client.models.list()
    assert page.object == "list"
    by_id = {m.id: m for m in page.data}
    assert by_id["tiny-chat"].owned_by == "openft"
    assert by_id[published["ft"]].owned_by == "proj-a"
    assert published["ckpt"] in by_id
    assert published["other"] not in by_id
    for m in page.data:
        assert m.object == "model" and isinstance(m.created, int) and isinstance(m.owned_by, str)
    assert [e[:2] for e in server.log.entries].count(("GET", "/v1/models")) == 1  # one request, no paging


def test_retrieve_with_literal_colons(client: openai.OpenAI, server: Any, published: dict[str, str]) -> None:
    for key in ("ft", "ckpt"):
        model = client.models.retrieve(published[key])
        assert (model.id, model.object, model.owned_by) == (published[key], "model", "proj-a")
        assert isinstance(model.created, int)
    assert ("GET", f"/v1/models/{published['ft']}") in [e[:2] for e in server.log.entries]
    assert client.models.retrieve("tiny-chat").owned_by == "openft"


def test_other_projects_and_unknown_models_are_404(client: openai.OpenAI, other_client: openai.OpenAI,
                                                  published: dict[str, str]) -> None:
    for model in (published["other"], "ft:tiny-chat:proj-a::nope1234", "no-such-model"):
        with pytest.raises(openai.NotFoundError) as err:
            client.models.retrieve(model)
        assert err.value.code == "model_not_found" and err.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        other_client.models.delete(published["ft"])
    assert client.models.retrieve(published["ft"]).id == published["ft"]  # untouched
    assert other_client.models.retrieve(published["other"]).owned_by == "proj-b"


def test_delete_removes_model_and_artifacts(client: openai.OpenAI, store: Store, published: dict[str, str]) -> None:
    model_id = published["ft"]
    assert store.list(model_prefix(model_id) + "/")
    deleted = client.models.delete(model_id)
    assert (deleted.id, deleted.deleted, deleted.object) == (model_id, True, "model")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(model_id)
    with pytest.raises(openai.NotFoundError):
        client.models.delete(model_id)
    assert store.list(model_prefix(model_id) + "/") == []
    assert model_id not in [m.id for m in client.models.list()]
    assert client.models.retrieve(published["ckpt"]).id == published["ckpt"]  # other models stay


def test_deleting_a_checkpoint_model_removes_its_checkpoint_files(client: openai.OpenAI, store: Store,
                                                                  published: dict[str, str]) -> None:
    assert store.list("jobs/ftjob-x/checkpoints/step-10/")
    client.models.delete(published["ckpt"])
    assert store.list("jobs/ftjob-x/checkpoints/step-10/") == []


def test_base_model_cannot_be_deleted(client: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.models.delete("tiny-chat")
    assert err.value.status_code == 403 and err.value.type == "permission_error"
    assert client.models.retrieve("tiny-chat").id == "tiny-chat"
