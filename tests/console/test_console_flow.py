"""The console in a real browser against ``openft serve``'s composition with a real tiny-chat job.

A new user signs in (a wrong key first), uploads a file with a planted error and reads its line
number, fixes it, creates a job and watches it succeed; the loss chart's points are the job's
metrics events; the playground's streamed answers of the base and the ``ft:`` model are the
API's own answers; a second job is cancelled from its page. 401, 404 and network errors show a
message; axe-core finds no serious violation; screenshots land in docs/console/.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl
from openft_env import clear_openft_env

from api.services.keys import create_key
from core.db import make_engine, upgrade
from core.settings import Settings
from core.store import store_from_settings
from sdk._client import Client

pytestmark = pytest.mark.slow

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
WIDTHS = (1280, 390)


@dataclass
class Site:
    url: str
    key: str
    admin_key: str
    client: Client
    data_dir: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("console")
    with pytest.MonkeyPatch.context() as mp:
        clear_openft_env(mp)
        settings = fast_settings(Settings(data_dir=data_dir / "data"))
        engine = make_engine(settings)
        upgrade(engine)
        key = create_key(engine, "proj-a")
        admin_key = create_key(engine, "proj-ops", admin=True)
        with embedded_server(settings, engine, store_from_settings(settings)) as live, \
                Client(base_url=live.url, api_key=key) as client:
            yield Site(live.url, key, admin_key, client, data_dir)
        engine.dispose()


@pytest.fixture(scope="module")
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.on("dialog", lambda d: d.accept())
    yield pg
    context.close()


def shoot(page: Any, name: str) -> None:
    """Screenshots at 1280 and 390 px, then back to 1280."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in result.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def sign_in(page: Any, site: Site, key: str) -> None:
    page.goto(site.url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")  # the keyboard submits the form


def test_sign_in_refuses_a_wrong_key_with_a_message(page: Any, site: Site) -> None:
    sign_in(page, site, "sk-wrong")
    alert = page.locator("#message")
    alert.get_by_text("401").wait_for()
    assert "Sign in again" in alert.inner_text()
    assert not serious_violations(page)
    shoot(page, "signin")
    sign_in(page, site, site.key)
    page.get_by_role("heading", name="Fine-tuning jobs").wait_for()
    assert page.locator("#message").inner_text() == ""
    assert page.get_by_role("link", name="Jobs").is_visible()
    assert not page.get_by_role("link", name="Admin").is_visible()  # a project key


def test_upload_shows_the_planted_error_then_the_job_succeeds_with_its_real_curve(
    page: Any, site: Site, tmp_path: Path
) -> None:
    good = chat_jsonl(16)
    lines = good.decode().splitlines()
    bad = "\n".join([*lines[:2], '{"messages": [oops', *lines[3:]]) + "\n"
    (tmp_path / "bad.jsonl").write_text(bad)
    (tmp_path / "train.jsonl").write_bytes(good)
    page.goto(site.url + "/#/new")
    page.get_by_label("JSONL file").set_input_files(str(tmp_path / "bad.jsonl"))
    page.get_by_role("button", name="Upload and check").click()
    report = page.locator("#file-check")
    report.get_by_text("was rejected").wait_for(timeout=30000)
    assert "Line 3: invalid JSON" in report.inner_text()
    assert page.locator("#upload-progress").evaluate("p => p.value") == 1
    # valid JSON everywhere, but line 5 is no chat example: only the job's validator sees it
    (tmp_path / "format.jsonl").write_text("\n".join([*lines[:4], '{"prompt": "no messages"}', *lines[5:]]) + "\n")
    page.get_by_label("Base model").select_option("tiny-chat")
    page.get_by_label("JSONL file").set_input_files(str(tmp_path / "format.jsonl"))
    page.get_by_role("button", name="Upload and check").click()
    report.get_by_text("is not valid for tiny-chat").wait_for(timeout=60000)
    assert "line 5: " in report.inner_text()
    page.get_by_label("JSONL file").set_input_files(str(tmp_path / "train.jsonl"))
    page.get_by_role("button", name="Upload and check").click()
    report.get_by_text("is valid for tiny-chat").wait_for(timeout=60000)
    file_id = page.locator("#training-file").input_value()
    check = httpx2.get(f"{site.url}/v1/files/{file_id}/validation", params={"model": "tiny-chat"},
                       headers={"Authorization": f"Bearer {site.key}"}, timeout=60).json()
    stats = check["stats"]
    assert check["valid"] and stats["n_examples"] == 16
    assert (f"16 examples, {stats['total_tokens']} tokens ({stats['min_example_tokens']}–{stats['max_example_tokens']} "
            f"per example), {stats['n_truncated']} truncated at {stats['max_length']} tokens") in report.inner_text()
    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Batch size").fill("4")
    page.get_by_label("Suffix").fill("web")
    assert not serious_violations(page)
    shoot(page, "new-job")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url("**/#/jobs/ftjob-*")
    job_id = page.url.rsplit("/", 1)[1]
    page.locator("#job-status").get_by_text("succeeded").wait_for(timeout=300000)

    events = site.client.fine_tuning.jobs.list_events(job_id, limit=1000).data
    expected = sorted((e.data["step"], e.data["train_loss"]) for e in events
                      if e.type == "metrics" and e.data and "train_loss" in e.data)
    assert len(expected) == 8  # 16 examples / batch 4 x 2 epochs
    page.locator('[data-series="train_loss"] circle').nth(len(expected) - 1).wait_for()
    drawn = page.locator('[data-series="train_loss"] circle').evaluate_all(
        "cs => cs.map(c => [Number(c.dataset.step), Number(c.dataset.value)])")
    assert [tuple(p) for p in drawn] == [(float(s), float(v)) for s, v in expected]
    steps = {c.step_number for c in site.client.fine_tuning.jobs.checkpoints.list(job_id).data}
    marks = page.locator("line.checkpoint").evaluate_all("ls => ls.map(l => Number(l.dataset.step))")
    assert steps and set(marks) == steps
    assert not serious_violations(page)
    shoot(page, "job")
    page.goto(site.url + "/#/jobs")
    page.get_by_role("link", name=job_id).wait_for()
    row = page.locator("tr", has=page.get_by_role("link", name=job_id)).inner_text()
    assert "succeeded" in row and "tiny-chat" in row and "web" in row and "100%" in row
    assert not serious_violations(page)
    shoot(page, "jobs")


def test_playground_streams_base_and_ft_answers_that_match_the_api(page: Any, site: Site) -> None:
    job = site.client.fine_tuning.jobs.list().data[0]
    assert job.status == "succeeded" and job.fine_tuned_model
    page.goto(site.url + "/#/playground")
    page.get_by_label("Model 1").select_option("tiny-chat")
    page.get_by_role("button", name="Add a model to compare").click()
    page.get_by_label("Model 2").select_option(job.fine_tuned_model)
    prompt = "Say something about sample 3."
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Max tokens").fill("12")
    page.get_by_role("button", name="Send").click()
    for i in (1, 2):
        page.locator(f'#answer-{i}[aria-busy="false"]').wait_for(timeout=300000)
    shown = [page.locator(f"#answer-{i}").inner_text() for i in (1, 2)]
    for model, text in zip(("tiny-chat", job.fine_tuned_model), shown, strict=True):
        answer = site.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=12)
        assert text == answer.choices[0].message.content and text
    assert not serious_violations(page)
    shoot(page, "playground")


def test_files_and_models_pages_preview_and_list(page: Any, site: Site) -> None:
    page.goto(site.url + "/#/files")
    page.get_by_role("button", name="Preview train.jsonl").first.click()
    preview = page.locator("#preview")
    preview.get_by_text("messages").first.wait_for()
    first = preview.inner_text().splitlines()[0]
    assert json.loads(first) == json.loads(chat_jsonl(16).decode().splitlines()[0])
    assert "error: Invalid file format" in page.locator("tr", has_text="bad.jsonl").inner_text()
    assert not serious_violations(page)
    shoot(page, "files")
    model = site.client.fine_tuning.jobs.list().data[0].fine_tuned_model
    page.goto(site.url + "/#/models")
    page.get_by_role("button", name=f"Details of {model}", exact=True).click()
    page.locator("#model-preview").get_by_text(model).first.wait_for()
    assert page.get_by_role("button", name=f"Export {model}", exact=True).is_visible()
    assert not serious_violations(page)
    shoot(page, "models")


def test_a_second_job_is_cancelled_from_its_page(page: Any, site: Site) -> None:
    train = site.client.files.list().data
    file_id = next(f.id for f in train if f.filename == "train.jsonl" and f.status == "processed")
    job = site.client.fine_tuning.jobs.create(model="tiny-chat", training_file=file_id,
                                             hyperparameters={"n_epochs": 50, "batch_size": 1})
    page.goto(site.url + f"/#/jobs/{job.id}")
    page.locator("#job-status").get_by_text("running").wait_for(timeout=120000)  # its worker is told to stop
    page.get_by_role("button", name="Cancel").click()
    page.locator("#job-status").get_by_text("cancelled").wait_for(timeout=60000)
    assert site.client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"


def test_a_file_over_8_mib_goes_up_in_parts_through_uploads(page: Any, site: Site, tmp_path: Path) -> None:
    example = {"messages": [{"role": "user", "content": "word " * 600}, {"role": "assistant", "content": "ok"}]}
    line = json.dumps(example)
    data = ((line + "\n") * (9 * 1024 * 1024 // len(line) + 1)).encode()
    assert 9 * 1024 * 1024 < len(data) <= 16 * 1024 * 1024  # two 8 MiB parts
    (tmp_path / "big.jsonl").write_bytes(data)
    calls: list[str] = []
    page.on("request", lambda r: "/v1/" in r.url and r.method == "POST" and calls.append(r.url.split("/v1", 1)[1]))
    page.goto(site.url + "/#/new")
    page.get_by_label("Base model").select_option("tiny-chat")
    page.get_by_label("JSONL file").set_input_files(str(tmp_path / "big.jsonl"))
    page.get_by_role("button", name="Upload and check").click()
    page.locator("#file-check").get_by_text("is valid for tiny-chat").wait_for(timeout=180000)
    file_id = page.locator("#training-file").input_value()
    upload_calls = [c for c in calls if c.startswith("/uploads")]
    assert upload_calls[0] == "/uploads" and upload_calls[-1].endswith("/complete")
    assert sum(c.endswith("/parts") for c in upload_calls) == 2 and "/files" not in calls
    assert page.locator("#upload-progress").evaluate("p => p.value") == 1
    stored = site.client.files.retrieve(file_id)
    assert (stored.filename, stored.bytes, stored.status) == ("big.jsonl", len(data), "processed")
    assert hashlib.sha256(site.client.files.content(file_id).read()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_404_and_network_errors_show_messages(page: Any, site: Site) -> None:
    asked: list[str] = []
    page.on("request", lambda r: "ftjob-doesnotexist" in r.url and asked.append(r.url))
    page.goto(site.url + "/#/jobs/ftjob-doesnotexist")
    page.locator("#message").get_by_text("404").wait_for()
    assert "ftjob-doesnotexist" in page.locator("#message").inner_text()
    page.wait_for_timeout(4500)  # two of the job page's 2 s ticks
    assert len(asked) == 1  # a 404 stops the page's polling
    page.goto(site.url + "/#/no-such-page")
    page.locator("#message").get_by_text("404").wait_for()
    page.route("**/v1/**", lambda route: route.abort())
    page.goto(site.url + "/#/files")
    page.locator("#message").get_by_text("network error").wait_for()
    page.unroute("**/v1/**")


def test_evals_page_shows_scores_per_criterion_items_and_a_comparison(page: Any, site: Site) -> None:
    check = {"type": "string_check", "name": "exact", "operation": "eq", "input": "{{item.got}}",
             "reference": "{{item.want}}"}
    ev = site.client.evals.create(name="letters", testing_criteria=[check],  # type: ignore[list-item]
                                  data_source_config={"type": "custom", "item_schema": {"type": "object"}})
    runs = []
    for name, rows in (("some", [{"item": {"got": "a" if i % 3 else "b", "want": "a"}} for i in range(9)]),
                       ("all", [{"item": {"got": "a", "want": "a"}} for _ in range(9)])):
        runs.append(site.client.evals.runs.create(ev.id, name=name, data_source={  # type: ignore[arg-type]
            "type": "jsonl", "source": {"type": "file_content", "content": rows}}))
    page.goto(site.url + "/#/evals")
    page.get_by_role("link", name=ev.id).click()
    page.locator("tr", has_text="some").get_by_text("66.7% (6/9)").wait_for(timeout=60000)
    page.locator("tr", has_text="all").get_by_text("100.0% (9/9)").wait_for(timeout=60000)
    page.get_by_label("Run A").select_option(runs[0].id)
    page.get_by_label("Run B").select_option(runs[1].id)
    compare = page.locator(".cmp tr", has_text="exact")
    compare.wait_for()
    assert compare.inner_text().split("\t")[1:] == ["66.7% (6/9)", "100.0% (9/9)"]
    page.locator("tr", has_text="some").get_by_role("button", name="Items").click()
    page.get_by_text("9 item(s)").wait_for()
    assert page.locator("tr", has_text="exact: fail").count() == 3
    assert not serious_violations(page)
    shoot(page, "evals")


def test_admin_key_sees_projects_keys_and_the_audit_log(page: Any, site: Site) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key").fill(site.admin_key)
    page.get_by_label("API key").press("Enter")
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("button", name="Keys of proj-a").click()
    page.get_by_role("heading", name="API keys of").wait_for()
    assert page.locator("text=1 key(s)").count() == 1
    page.get_by_label("Event type").fill("fine_tuning.job.created")
    page.get_by_role("button", name="Filter").click()
    created = page.locator('[data-series="fine_tuning.job.created"] circle')
    created.first.wait_for()
    per_day = created.evaluate_all("cs => cs.map(c => Number(c.dataset.value))")
    assert sum(per_day) == 2  # the job that succeeded and the one cancelled
    assert not serious_violations(page)
    shoot(page, "admin")


def admin_get(site: Site, path: str, **params: Any) -> Any:
    """An admin API answer, read next to the console to check what it shows."""
    res = httpx2.get(f"{site.url}/v1{path}", params=params, headers={"Authorization": f"Bearer {site.admin_key}"},
                     timeout=60)
    res.raise_for_status()
    return res.json()


def test_admin_switches_project_edits_its_limits_and_charts_its_usage(page: Any, site: Site) -> None:
    jobs = {j.id for j in site.client.fine_tuning.jobs.list().data}
    page.goto(site.url + "/#/jobs")
    page.get_by_text("No jobs match").wait_for()  # the admin key's own project has none
    page.locator("#project-select").select_option("proj-a")  # the header's switcher
    for job_id in jobs:
        page.get_by_role("link", name=job_id).wait_for()
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Limits").click()
    page.get_by_label("Jobs running at once").wait_for()
    assert page.locator("#limits-project").input_value() == "proj-a"
    page.get_by_label("Jobs running at once").fill("3")
    page.get_by_role("button", name="Save quotas").click()
    page.locator("#limits-saved").get_by_text("Saved the quotas of proj-a").wait_for()
    page.get_by_label("Requests per minute for tiny-chat", exact=True).fill("7")
    page.get_by_role("button", name="Save limits of tiny-chat", exact=True).click()
    page.locator("#limits-saved").get_by_text("Saved the limits of tiny-chat").wait_for()
    assert admin_get(site, "/organization/projects/proj-a")["quotas"]["max_running_jobs"] == 3
    limits = {r["model"]: r for r in admin_get(site, "/organization/projects/proj-a/rate_limits")["data"]}
    assert limits["tiny-chat"]["max_requests_per_1_minute"] == 7
    assert page.get_by_label("Requests per minute for tiny-chat", exact=True).input_value() == "7"
    assert not serious_violations(page)
    shoot(page, "admin-limits")
    page.get_by_role("link", name="Usage").click()
    today = int(time.time()) // 86400 * 86400
    usage = admin_get(site, "/organization/usage/completions", start_time=today, bucket_width="1d",
                      **{"group_by[]": "project_id"})["data"][0]["results"]
    tokens = sum(r["input_tokens"] + r["output_tokens"] for r in usage if r["project_id"] == "proj-a")
    assert tokens > 0  # the playground's and the test's chats
    drawn = page.locator('[data-chart="Tokens per day"] [data-series="proj-a"] circle')
    drawn.last.wait_for()
    assert float(drawn.last.get_attribute("data-value")) == tokens
    assert not serious_violations(page)
    shoot(page, "admin-usage")
    page.locator("#project-select").select_option("")
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_text("No jobs match").wait_for()
