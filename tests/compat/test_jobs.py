"""Checklist items 17–32: the official client drives fine-tuning jobs end to end.

The ``server`` here is the embedded mode (API + scheduler + a local worker training tiny-chat in
child processes), so jobs really validate, queue, train and publish models.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator

import openai
import psutil
import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl, jsonl, preference_example
from live_server import LiveServer
from polling import job_messages, wait_for, wait_status
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.settings import Settings
from core.store import Store
from core.tables import Job
from scheduler.transitions import TERMINAL


@pytest.fixture
def server(settings: Settings, engine: Engine, store: Store, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The embedded mode; tests marked ``no_worker`` get the scheduler alone (jobs stay queued)."""
    worker = request.node.get_closest_marker("no_worker") is None
    with embedded_server(fast_settings(settings), engine, store, worker=worker) as live:
        yield live
    errors = [e for e in live.log.entries if e[2] >= 500]
    assert not errors, f"the server answered 5xx: {errors}"


@pytest.fixture
def lenient(server: LiveServer, api_key: str) -> Iterator[openai.OpenAI]:
    """A non-strict client, for responses with status ``paused`` (not in the client's enum)."""
    with openai.OpenAI(base_url=server.base_url, api_key=api_key) as c:
        yield c


def upload(client: openai.OpenAI, data: bytes, name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, data, "application/jsonl"), purpose="fine-tune").id




def count(log: list[str], prefix: str) -> int:
    return sum(m.startswith(prefix) for m in log)


FAST = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 4}}}


# --- creation (no worker needed) ------------------------------------------------------------
@pytest.mark.no_worker
def test_create_returns_a_fresh_job(client: openai.OpenAI) -> None:  # item 17
    fid = upload(client, chat_jsonl(12))
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid)
    assert job.id.startswith("ftjob-") and job.object == "fine_tuning.job"
    assert job.status in {"validating_files", "queued"}
    assert job.fine_tuned_model is None and job.finished_at is None and job.trained_tokens is None
    assert job.result_files == [] and job.error is None
    assert isinstance(job.seed, int) and job.organization_id == "proj-a"
    assert job.hyperparameters is not None and job.method is not None and job.method.type == "supervised"
    assert client.fine_tuning.jobs.retrieve(job.id).id == job.id


@pytest.mark.no_worker
def test_create_echoes_seed_suffix_metadata_validation_file(client: openai.OpenAI) -> None:  # item 18
    fid, vid = upload(client, chat_jsonl(12)), upload(client, chat_jsonl(10), "valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=fid, validation_file=vid, seed=7, suffix="abc", metadata={"k": "v"}
    )
    assert (job.seed, job.metadata, job.validation_file) == (7, {"k": "v"}, vid)
    nulls = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=fid, suffix=None, metadata=None, validation_file=None, seed=None
    )
    assert nulls.metadata is None and nulls.validation_file is None and isinstance(nulls.seed, int)
    wait_status(client, job.id, {"queued"})
    resolved = client.fine_tuning.jobs.retrieve(job.id).hyperparameters
    assert "auto" not in (resolved.n_epochs, resolved.batch_size, resolved.learning_rate_multiplier)


@pytest.mark.no_worker
def test_unknown_training_file(client: openai.OpenAI) -> None:  # item 19
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="tiny-chat", training_file="file-nope")
    assert err.value.param == "training_file"
    assert err.value.body["message"] == "invalid training_file: file-nope"


@pytest.mark.no_worker
def test_other_projects_file_is_unknown(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    theirs = upload(other_client, chat_jsonl(12))
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="tiny-chat", training_file=theirs)
    assert err.value.param == "training_file"


@pytest.mark.no_worker
@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"suffix": "x" * 65}, "suffix"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}}, "n_epochs"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 51}}}}, "n_epochs"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 0}}}}, "batch_size"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 257}}}}, "batch_size"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 0}}}},
         "learning_rate_multiplier"),
        ({"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0}}}}, "beta"),
        ({"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 2.5}}}}, "beta"),
        ({"hyperparameters": {"n_epochs": 0}}, "n_epochs"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"model": "no-such-model"}, "model"),
        ({"method": {"type": "reinforcement"}}, "method[reinforcement][grader]"),
        ({"extra_body": {"openft": {"no_such_field": 1}}}, "openft[no_such_field]"),
        ({"extra_body": {"openft": {"quantization": "8bit"}}}, "openft[quantization]"),
        ({"extra_body": {"openft": {"lora_rank": 0}}}, "openft[lora_rank]"),
        ({"extra_body": {"openft": {"lora_dropout": 1.0}}}, "openft[lora_dropout]"),
        ({"extra_body": {"openft": {"adapter_dtype": "float16"}}}, "openft[adapter_dtype]"),
        ({"extra_body": {"openft": {"memory_budget_gib": 0}}}, "openft[memory_budget_gib]"),
        ({"extra_body": {"openft": {"priority": "high"}}}, "openft[priority]"),
        ({"extra_body": {"openft": {"devices": 0}}}, "openft[devices]"),
        ({"extra_body": {"openft": {"devices": "two"}}}, "openft[devices]"),
        ({"extra_body": {"openft": {"devices": 1.5}}}, "openft[devices]"),
        ({"extra_body": {"openft": {"devices": True}}}, "openft[devices]"),
        ({"extra_body": {"openft": {"devices": 65}}}, "openft[devices]"),
    ],
)
def test_out_of_range_values_are_400(client: openai.OpenAI, kwargs: dict, param: str) -> None:  # item 20
    fid = upload(client, chat_jsonl(12))
    args = {"model": "tiny-chat", "training_file": fid, **kwargs}
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(**args)
    assert err.value.param is not None and param in err.value.param
    assert client.fine_tuning.jobs.list().data == []  # nothing was created


@pytest.mark.no_worker
def test_every_documented_extension_field_is_accepted(client: openai.OpenAI, engine: Engine) -> None:
    """What docs/training.md lists is what the engine resolves (core.protocol.Extensions)."""
    from core.tables import Job

    fields = {"lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.0, "quantization": "4bit",
              "adapter_dtype": "bfloat16", "micro_batch_size": 2, "checkpoint_every_steps": 0,
              "eval_every_steps": 0, "packing": False, "recompute": "all", "memory_budget_gib": 12.5,
              "devices": 2}
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(12)),
                                         extra_body={"openft": {**fields, "priority": 5}})
    with Session(engine) as session:
        row = session.get(Job, job.id)
        assert row is not None and row.extensions == fields and row.priority == 5


@pytest.mark.no_worker
def test_too_few_examples_fails_validation(client: openai.OpenAI) -> None:  # item 21
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(9)))
    seen: list[str] = []
    status = wait_status(client, job.id, TERMINAL, seen=seen)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert status == "failed" and "running" not in seen
    assert job.error is not None and job.error.code == "invalid_n_examples"
    assert job.error.param == "training_file"
    assert job.error.message == "Training file has 9 example(s), but must have at least 10 examples"
    assert job.fine_tuned_model is None


@pytest.mark.no_worker
@pytest.mark.parametrize(
    "bad_line",
    [b"{not json\n", b'{"messages": [{"role": "user", "content": "hi"}]}\n',
     b'{"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n'],
    ids=["invalid-json", "no-assistant", "unknown-role"],
)
def test_bad_line_fails_validation_naming_the_line(client: openai.OpenAI, bad_line: bytes) -> None:  # item 22
    data = chat_jsonl(12).splitlines(keepends=True)
    data.insert(4, bad_line)
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, b"".join(data)))
    wait_status(client, job.id, TERMINAL)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "failed" and job.error is not None
    assert job.error.param == "training_file" and job.error.code
    assert "5" in job.error.message  # the 1-based line number of the bad line


@pytest.mark.no_worker
def test_supervised_file_sent_as_dpo_fails(client: openai.OpenAI) -> None:  # item 24, second half
    job = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=upload(client, chat_jsonl(12)), method={"type": "dpo"}
    )
    wait_status(client, job.id, TERMINAL)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "failed" and job.error is not None and job.error.param == "training_file"


@pytest.mark.no_worker
def test_list_newest_first_paginates_and_filters(client: openai.OpenAI, server: LiveServer) -> None:  # item 25
    fid = upload(client, chat_jsonl(12))
    ids = [client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid,
                                          metadata={"k": "v" if i % 2 else "w"}).id for i in range(5)]
    listed = [j.id for j in client.fine_tuning.jobs.list()]
    assert listed == ids[::-1]
    before = len(server.log.entries)
    assert [j.id for j in client.fine_tuning.jobs.list(limit=1)] == ids[::-1]
    assert len(server.log.entries) - before >= 5
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"k": "v"})] == [ids[3], ids[1]]


@pytest.mark.no_worker
def test_unknown_job_is_404(client: openai.OpenAI, other_client: openai.OpenAI) -> None:  # item 32
    for call in (client.fine_tuning.jobs.retrieve, client.fine_tuning.jobs.cancel,
                 client.fine_tuning.jobs.list_events, client.fine_tuning.jobs.pause):
        with pytest.raises(openai.NotFoundError):
            call("ftjob-nope")
    mine = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(12)))
    for call in (other_client.fine_tuning.jobs.retrieve, other_client.fine_tuning.jobs.cancel,
                 other_client.fine_tuning.jobs.list_events, other_client.fine_tuning.jobs.checkpoints.list):
        with pytest.raises(openai.NotFoundError):
            call(mine.id)
    assert other_client.fine_tuning.jobs.list().data == []


@pytest.mark.no_worker
def test_cancel_queued_then_cancel_again_is_400(client: openai.OpenAI) -> None:  # item 30
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(12)))
    wait_status(client, job.id, {"queued"})
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.cancel(job.id)
    assert err.value.type == "invalid_request_error"


@pytest.mark.no_worker
def test_pause_and_resume_a_queued_job(client: openai.OpenAI, lenient: openai.OpenAI) -> None:  # item 31 (queued)
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(12)))
    wait_status(client, job.id, {"queued"})
    assert lenient.fine_tuning.jobs.pause(job.id).status == "paused"
    with pytest.raises(openai.BadRequestError):
        lenient.fine_tuning.jobs.pause(job.id)
    assert lenient.fine_tuning.jobs.resume(job.id).status == "queued"
    with pytest.raises(openai.BadRequestError):
        lenient.fine_tuning.jobs.resume(job.id)


# --- training (the local worker runs tiny-chat) ----------------------------------------------
@pytest.mark.slow
def test_supervised_happy_path(client: openai.OpenAI) -> None:  # items 23, 26, 27, 28, 29
    fid, vid = upload(client, chat_jsonl(16)), upload(client, chat_jsonl(10), "valid.jsonl")
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid, validation_file=vid,
                                         suffix="happy", method=FAST)
    seen: list[str] = []
    status = wait_status(client, job.id, TERMINAL, seen=seen)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert status == "succeeded", job.error
    order = ["validating_files", "queued", "running", "succeeded"]
    assert [s for s in order if s in seen] == seen  # never goes back
    assert re.fullmatch(r"ft:[^:]+:[^:]+:[^:]*:[A-Za-z0-9]{8}", job.fine_tuned_model or "")
    assert "happy" in job.fine_tuned_model
    assert job.finished_at is not None and job.finished_at >= job.created_at
    assert job.trained_tokens and job.trained_tokens > 0
    assert (job.hyperparameters.n_epochs, job.hyperparameters.batch_size) == (3, 4)
    assert job.hyperparameters.learning_rate_multiplier != "auto"

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    assert all(e.object == "fine_tuning.job.event" and e.level in {"info", "warn", "error"} for e in events)
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    text = "\n".join(e.message for e in events)
    for needle in (f"Created fine-tuning job: {job.id}", f"Validating training file: {fid}",
                   "Files validated, moving job to queued state", "Fine-tuning job started",
                   f"New fine-tuned model created: {job.fine_tuned_model}", "The job has successfully completed"):
        assert needle in text
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and {"step", "train_loss", "total_steps"} <= set(metrics[0].data)
    assert any("valid_loss" in (e.data or {}) for e in metrics)
    assert metrics[0].message.startswith(f"Step {metrics[0].data['step']}/12: training loss=")
    paged = [e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=2)]  # item 27
    assert paged == [e.id for e in events]

    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data  # item 28
    assert 1 <= len(ckpts) <= 3
    assert [c.step_number for c in ckpts] == sorted((c.step_number for c in ckpts), reverse=True)
    for c in ckpts:
        assert c.id.startswith("ftckpt_") and c.fine_tuning_job_id == job.id
        assert c.metrics.step == c.step_number
    assert ckpts[0].fine_tuned_model_checkpoint == job.fine_tuned_model
    for c in ckpts[1:]:  # defect 3: the job's own id, not a new hash per checkpoint
        assert c.fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-{c.step_number}"
    named = [e.message.rsplit(" ", 1)[-1] for e in events if e.message.startswith("Checkpoint created at step")]
    assert named == [f"{job.fine_tuned_model}:ckpt-step-{c.step_number}" for c in ckpts]  # 3 epochs, all kept
    for model_id in {*named, *(c.fine_tuned_model_checkpoint for c in ckpts)}:
        assert client.models.retrieve(model_id).id == model_id
    answer = client.chat.completions.create(model=named[0], max_tokens=4,
                                            messages=[{"role": "user", "content": "question 1"}])
    assert answer.model == named[0] and answer.choices[0].message.role == "assistant"

    result = client.files.retrieve(job.result_files[0])  # item 29
    assert result.purpose == "fine-tune-results"
    table = list(csv.reader(io.StringIO(client.files.content(result.id).text)))
    assert table[0] == ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"]
    assert len(table) > 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_dpo_happy_path(client: openai.OpenAI) -> None:  # item 24
    data = jsonl(preference_example(i) for i in range(12))
    job = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=upload(client, data),
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": 1, "batch_size": 4}}},
    )
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.1
    status = wait_status(client, job.id, TERMINAL)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert status == "succeeded", job.error
    assert job.method.dpo.hyperparameters.beta == 0.1 and job.fine_tuned_model


LONG = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 25, "batch_size": 1}}}


def _is_live_training_child(proc: psutil.Process) -> bool:
    """A training child still running (a zombie has exited: it only waits to be reaped)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE and "gpu_worker.train_attempt" in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_cancel_running_job_publishes_nothing(client: openai.OpenAI, engine: Engine) -> None:  # item 30
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(20)),
                                         method=LONG)
    wait_status(client, job.id, {"running"})
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = [p for p in psutil.Process().children(recursive=True) if _is_live_training_child(p)]
        if not children:
            break
        time.sleep(0.2)
    assert not children, "the training child outlived its cancelled job"
    # once the scheduler let go of the job, no report of its attempt can change it any more
    wait_for(lambda: reload_job(engine, job.id).worker_id is None, "the scheduler to release the job")
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "cancelled" and job.fine_tuned_model is None
    assert not [m.id for m in client.models.list() if m.id.startswith("ft:")]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_pause_running_job_then_resume_from_checkpoint(
    client: openai.OpenAI, lenient: openai.OpenAI, engine: Engine,
) -> None:
    """Item 31 and defect 2: each pause writes one checkpoint and frees the device; each resume
    continues from it with one new attempt: one paused, one resumed, one started event per cycle.

    A pause reaches the trainer a scheduler tick and a heartbeat after the request (5-14 steps
    here, more on a loaded machine), and a job that ends first succeeds instead of pausing, so
    the job runs 120 steps: two pauses land well before its end."""
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 10, "batch_size": 1}}}
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(12)),
                                         method=method)
    paused_steps: list[int] = []
    for cycle in (1, 2):
        last = paused_steps[-1] if paused_steps else 0
        wait_for(lambda: any(e.type == "metrics" and e.data["step"] > last  # noqa: B023
                             for e in client.fine_tuning.jobs.list_events(job.id, limit=5)), "training")
        attempts = _attempts(engine, job.id)
        assert lenient.fine_tuning.jobs.pause(job.id).status == "paused"
        wait_for(lambda: count(job_messages(client, job.id), "Fine-tuning job paused at step") == cycle,  # noqa: B023
                 "the pause checkpoint")
        assert lenient.fine_tuning.jobs.retrieve(job.id).status == "paused"
        paused_steps.append(int([m for m in job_messages(client, job.id) if m.startswith("Fine-tuning job paused")][-1]
                                .split()[-1]))
        assert lenient.fine_tuning.jobs.resume(job.id).status == "queued"
        wait_for(lambda: count(job_messages(client, job.id), "Fine-tuning job started") == cycle + 1,  # noqa: B023
                 "the restart")
        assert _attempts(engine, job.id) == attempts + 1
    status = wait_status(lenient, job.id, TERMINAL)
    assert status == "succeeded", (lenient.fine_tuning.jobs.retrieve(job.id).error, job_messages(client, job.id)[-8:])
    log = job_messages(client, job.id)
    assert _attempts(engine, job.id) == 3
    for prefix in ("Pausing fine-tuning job", "Fine-tuning job paused at step", "Fine-tuning job resumed"):
        assert count(log, prefix) == 2, (prefix, log)
    assert count(log, "Fine-tuning job started") == 3, log
    assert [m for m in log if m.startswith("Resuming from")] == [
        f"Resuming from checkpoint at step {step}" for step in paused_steps]
    steps = [int(m.split("/")[0].split()[1]) for m in log if m.startswith("Step ")]
    assert steps[-1] == 120 and 0 < paused_steps[0] < paused_steps[1] < 120


def reload_job(engine: Engine, job_id: str) -> Job:
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Job, job_id)
        assert row is not None
        return row


def _attempts(engine: Engine, job_id: str) -> int:
    return reload_job(engine, job_id).attempts
