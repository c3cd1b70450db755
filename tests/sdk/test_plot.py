"""``openft jobs plot`` / ``jobs.plot``: the PNG's curves follow the job's metrics events.

The image is checked, not just its existence: the train-loss line is found by its colour, its
height in each pixel column is read back, and it must track the loss values the job reported
(linear fit, tight residual), while a different loss series does not fit.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from job_factories import add_events, create_job, metrics_event
from png_curves import colour_mask, fit_residual, line_heights
from sqlalchemy.engine import Engine

from sdk._client import Client
from sdk.plotting import COLORS

STEPS = list(range(1, 41))


def train_loss(step: int) -> float:
    """Falling with a bump, so a wrong or flipped curve cannot fit by accident."""
    return 2.5 - 0.04 * step + 0.35 * math.sin(step / 4)


def valid_loss(step: int) -> float:
    return train_loss(step) + 0.2


@pytest.fixture
def job_with_metrics(engine: Engine, jobs_api: None) -> str:
    job = create_job(engine, "proj-a", status="succeeded")
    events: list[dict[str, Any]] = [{"message": "Fine-tuning job started"}]
    for step in STEPS:
        metrics: dict[str, float] = {"train_loss": train_loss(step), "train_mean_token_accuracy": step / 50}
        if step % 10 == 0:
            metrics.update(valid_loss=valid_loss(step), valid_mean_token_accuracy=step / 60)
        events.append(metrics_event(step, STEPS[-1], **metrics))
    events.append(metrics_event(STEPS[-1], STEPS[-1], train_loss=train_loss(STEPS[-1]),
                                full_valid_loss=1.5, full_valid_mean_token_accuracy=0.7))
    add_events(engine, job.id, events)
    return job.id


def test_cli_plot_draws_the_reported_losses(
    cli: Callable[..., Any], job_with_metrics: str, tmp_path: Path
) -> None:
    out = tmp_path / "plots" / "loss.png"
    result = cli("jobs", "plot", job_with_metrics, "-o", out, "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["path"] == str(out.resolve())
    assert [s for s, _ in report["series"]["train_loss"]] == STEPS
    assert report["series"]["valid_loss"] == [[s, pytest.approx(valid_loss(s))] for s in (10, 20, 30, 40)]
    assert report["series"]["full_valid_loss"] == [[40, 1.5]]

    import matplotlib.image

    image = matplotlib.image.imread(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    columns, rows = line_heights(image, COLORS["train_loss"])
    assert len(columns) > 200  # the curve spans most of the plot's width
    span = (STEPS[0], STEPS[-1])
    assert fit_residual(columns, rows, train_loss, *span) < 0.03
    mirrored = lambda s: train_loss(STEPS[-1] + STEPS[0] - s)  # noqa: E731
    assert fit_residual(columns, rows, mirrored, *span) > 0.1
    assert fit_residual(columns, rows, lambda s: 2.5 - 0.04 * s, *span) > 0.1  # the trend without its bump

    height = image.shape[0]
    loss_rows = colour_mask(image, COLORS["train_loss"]).nonzero()[0]
    accuracy_rows = colour_mask(image, COLORS["train_mean_token_accuracy"]).nonzero()[0]
    assert loss_rows.max() < height / 2 < accuracy_rows.min()  # loss on top, token accuracy below
    assert colour_mask(image, COLORS["valid_loss"]).sum() > 20  # validation points are drawn


def test_sdk_plot_and_history(sdk: Client, job_with_metrics: str, tmp_path: Path) -> None:
    curves = sdk.jobs.history(job_with_metrics)
    assert curves.total_steps == STEPS[-1]
    assert curves.values("train_loss") == pytest.approx([train_loss(s) for s in STEPS])
    assert curves.steps("valid_mean_token_accuracy") == [10, 20, 30, 40]
    path = sdk.jobs.plot(job_with_metrics, tmp_path / "loss.png")
    assert path.stat().st_size > 10_000


def test_plot_of_a_job_without_metrics(cli: Callable[..., Any], engine: Engine, jobs_api: None,
                                       tmp_path: Path) -> None:
    job = create_job(engine, "proj-a", status="queued")
    result = cli("jobs", "plot", job.id, "-o", tmp_path / "x.png")
    assert result.code == 2 and "no loss values yet" in result.err
    assert not (tmp_path / "x.png").exists()
    missing = cli("jobs", "plot", "ftjob-doesnotexist", "-o", tmp_path / "x.png")
    assert missing.code == 1 and "404" in missing.err



def test_validation_points_on_the_training_curve_do_not_hide_it(tmp_path: Path) -> None:
    """A validation loss equal to the training loss at every step must not cut the drawn curve short."""
    import matplotlib.image
    import numpy as np

    from sdk.plotting import LossCurves, render

    steps = list(range(1, 9))
    losses = [train_loss(5 * s) for s in steps]
    curves = LossCurves(job_id="ftjob-x", series={
        "train_loss": list(zip(steps, losses, strict=True)),
        "valid_loss": list(zip(steps, losses, strict=True)),  # every marker sits on the line
        "train_mean_token_accuracy": [(s, s / 10) for s in steps],
    })
    image = matplotlib.image.imread(render(curves, tmp_path / "loss.png"))
    columns, rows = line_heights(image, COLORS["train_loss"])
    assert columns[-1] - columns[0] > 400  # the whole width, not the stretch up to the first marker
    assert fit_residual(columns, rows, lambda s: float(np.interp(s, steps, losses)), 1, 8) < 0.03


def test_cli_plot_without_matplotlib_says_what_to_install(
    cli: Callable[..., Any], job_with_metrics: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("matplotlib", "matplotlib.backends.backend_agg", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # as in an install without the [plot] extra
    result = cli("jobs", "plot", job_with_metrics, "-o", tmp_path / "loss.png")
    assert result.code == 2 and not (tmp_path / "loss.png").exists()
    assert result.err == "error: plotting needs matplotlib: pip install 'openft[plot]'\n"


def test_a_reinforcement_job_plots_its_reward_below_the_loss(tmp_path: Path) -> None:
    """Reward series (train_reward_mean) take the lower panel, drawn along the reported values."""
    import matplotlib.image

    from sdk._progress import JobProgress
    from sdk.plotting import LossCurves, render

    reward = lambda s: 0.2 + 0.015 * s + 0.1 * math.sin(s / 3)  # noqa: E731
    curves = LossCurves(job_id="ftjob-rft", series={
        "train_loss": [(s, 0.01 * math.cos(s)) for s in STEPS],
        "train_reward_mean": [(s, reward(s)) for s in STEPS],
        "valid_reward_mean": [(s, reward(s) - 0.05) for s in (10, 20, 30, 40)],
    })
    image = matplotlib.image.imread(render(curves, tmp_path / "rft.png"))
    reward_rows = colour_mask(image, COLORS["train_reward_mean"]).nonzero()[0]
    assert reward_rows.min() > image.shape[0] / 2  # the lower panel
    columns, rows = line_heights(image, COLORS["train_reward_mean"])
    assert fit_residual(columns, rows, reward, STEPS[0], STEPS[-1]) < 0.03
    assert colour_mask(image, COLORS["valid_reward_mean"]).sum() > 20
    progress = JobProgress(stream=open(tmp_path / "p.txt", "w"))  # noqa: SIM115
    progress.metrics = {"train_reward_mean": 0.625, "valid_reward_mean": 0.5}
    assert "reward 0.6250" in progress.text() and "val_reward 0.5000" in progress.text()
