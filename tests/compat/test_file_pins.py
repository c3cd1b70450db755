"""A job pins the files it trains on: deleting one mid-job hides it from its owner at once, yet
the job still validates, trains and publishes; the bytes go when the job has ended.

Before this, ``DELETE /v1/files/{id}`` removed the bytes at once and the job trained to its last
step, then failed with ``store_error`` ("Artifact store error: files/file-…", a store key in a
user-facing message) because publishing read the training file again.
"""

from __future__ import annotations

import hashlib
import json

import openai
import pytest
from factories import chat_jsonl, row_counts, store_leftovers
from live_server import LiveServer
from polling import DONE, wait_status
from sqlalchemy.engine import Engine

from api.services.housekeeping import sweep
from core.protocol import file_key, model_prefix
from core.store import Store

FAST = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}}


def _upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("train.jsonl", data, "application/jsonl"), purpose="fine-tune").id


def _assert_gone_for_the_owner(client: openai.OpenAI, file_id: str) -> None:
    for call in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(file_id)
    assert file_id not in [f.id for f in client.files.list()]
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="tiny-chat", training_file=file_id)
    assert err.value.param == "training_file"


@pytest.mark.no_worker
def test_a_deleted_file_stays_pinned_until_its_job_ends(
    jobs_client: openai.OpenAI, embedded: LiveServer, store: Store, engine: Engine
) -> None:
    client = jobs_client
    used, unused = _upload(client, chat_jsonl(12)), _upload(client, chat_jsonl(12))
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=used, validation_file=used)
    for file_id in (used, unused):
        assert client.files.delete(file_id).deleted is True
        _assert_gone_for_the_owner(client, file_id)
    assert wait_status(client, job.id, {"queued"}) == "queued"  # validation still read it
    # the unused file is gone at once; the job's file is hidden but its row and bytes remain,
    # beside the job's own output: its data quality report, kept as a results file
    report_files = [f for f in client.files.list() if f.purpose == "fine-tune-results"]
    assert len(report_files) == 1
    report_keys = [file_key(report_files[0].id), f"jobs/{job.id}/data_report.json"]
    assert sorted(store_leftovers(store)) == sorted([file_key(used), *report_keys])
    assert row_counts(engine)["files"] == 2
    assert sweep(embedded.app.state.openft)[1] == 0  # pinned while the job may still run
    assert store.exists(file_key(used))

    client.fine_tuning.jobs.cancel(job.id)
    assert sweep(embedded.app.state.openft)[1] == 1  # the job ended: the file goes
    assert sorted(store_leftovers(store)) == sorted(report_keys)
    assert not store.exists(file_key(used)) and row_counts(engine)["files"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_deleting_the_training_file_mid_job_does_not_waste_the_run(
    jobs_client: openai.OpenAI, embedded: LiveServer, store: Store
) -> None:
    client = jobs_client
    data = chat_jsonl(16)
    file_id = _upload(client, data)
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=file_id, method=FAST)
    wait_status(client, job.id, {"running"} | DONE)
    assert client.files.delete(file_id).deleted is True
    _assert_gone_for_the_owner(client, file_id)

    assert wait_status(client, job.id, DONE) == "succeeded", client.fine_tuning.jobs.retrieve(job.id).error
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model and client.models.retrieve(done.fine_tuned_model).id == done.fine_tuned_model
    lineage = json.loads(store.read_bytes(f"{model_prefix(done.fine_tuned_model)}/lineage.json"))
    assert lineage["data"]["training_file"] == {"id": file_id, "sha256": hashlib.sha256(data).hexdigest()}
    assert sweep(embedded.app.state.openft)[1] == 1
    assert not store.exists(file_key(file_id))
