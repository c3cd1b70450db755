"""Loss and token-accuracy curves of a job, from its ``metrics`` events, drawn with matplotlib.

:class:`LossCurves` is the data (one ``(step, value)`` series per metric); :func:`render`
draws it to a PNG (or any format matplotlib infers from the suffix) with the Agg backend and
no pyplot global state, so it is safe in threads and on machines without a display.
matplotlib is an optional dependency (``pip install openft[plot]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai.types.fine_tuning import FineTuningJobEvent

LOSS_SERIES = ("train_loss", "valid_loss", "full_valid_loss")
ACCURACY_SERIES = ("train_mean_token_accuracy", "valid_mean_token_accuracy", "full_valid_mean_token_accuracy")
REWARD_SERIES = ("train_reward_mean", "valid_reward_mean", "full_valid_reward_mean")  # reinforcement jobs
#: fixed colours, one per series, so a reader (or a test) can tell the lines apart in the image
COLORS = {
    "train_loss": "#1f77b4", "valid_loss": "#ff7f0e", "full_valid_loss": "#2ca02c",
    "train_mean_token_accuracy": "#9467bd", "valid_mean_token_accuracy": "#8c564b",
    "full_valid_mean_token_accuracy": "#e377c2",
    "train_reward_mean": "#17becf", "valid_reward_mean": "#d62728", "full_valid_reward_mean": "#bcbd22",
}
LABELS = {
    "train_loss": "train", "valid_loss": "validation", "full_valid_loss": "full validation",
    "train_mean_token_accuracy": "train", "valid_mean_token_accuracy": "validation",
    "full_valid_mean_token_accuracy": "full validation",
    "train_reward_mean": "train", "valid_reward_mean": "validation", "full_valid_reward_mean": "full validation",
}


@dataclass
class LossCurves:
    """Metric series of one job, each sorted by step; a step seen twice keeps its latest value."""

    job_id: str
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    total_steps: int | None = None

    @classmethod
    def from_events(cls, job_id: str, events: Iterable[FineTuningJobEvent]) -> LossCurves:
        """Build from events in chronological order (a resumed job may repeat steps)."""
        points: dict[str, dict[int, float]] = {}
        total: int | None = None
        for event in events:
            data: Any = event.data
            if event.type != "metrics" or not isinstance(data, dict) or "step" not in data:
                continue
            step = int(data["step"])
            total = int(data["total_steps"]) if data.get("total_steps") else total
            for name in (*LOSS_SERIES, *ACCURACY_SERIES, *REWARD_SERIES):
                value = data.get(name)
                if isinstance(value, int | float):
                    points.setdefault(name, {})[step] = float(value)
        series = {name: sorted(by_step.items()) for name, by_step in points.items()}
        return cls(job_id=job_id, series=series, total_steps=total)

    def steps(self, name: str) -> list[int]:
        return [s for s, _ in self.series.get(name, [])]

    def values(self, name: str) -> list[float]:
        return [v for _, v in self.series.get(name, [])]

    @property
    def empty(self) -> bool:
        return not any(self.series.get(name) for name in LOSS_SERIES)


def render(curves: LossCurves, path: str | Path, *, dpi: int = 100) -> Path:
    """Draw loss (top) and token accuracy or, for reinforcement jobs, mean grader reward (bottom, when
    reported) against step; returns ``path``.

    Raises ``ValueError`` when the job has no loss values yet, ``ModuleNotFoundError`` without
    matplotlib (the ``[plot]`` extra).
    """
    if curves.empty:
        raise ValueError(f"job {curves.job_id} has no metrics events with a loss yet")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ModuleNotFoundError("plotting needs matplotlib: pip install 'openft[plot]'", name="matplotlib") from exc

    has_reward = any(curves.series.get(name) for name in REWARD_SERIES)
    has_accuracy = has_reward or any(curves.series.get(name) for name in ACCURACY_SERIES)
    fig = Figure(figsize=(8, 6.5 if has_accuracy else 4), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if has_accuracy else 1, 1, sharex=True, squeeze=False)[:, 0]
    groups: list[tuple[Any, tuple[str, ...], str]] = [(axes[0], LOSS_SERIES, "loss")]
    if has_accuracy:
        groups.append((axes[1], REWARD_SERIES, "mean grader reward") if has_reward
                      else (axes[1], ACCURACY_SERIES, "token accuracy"))
    for ax, names, ylabel in groups:
        for name in names:
            if not curves.series.get(name):
                continue
            train = name in ("train_loss", "train_mean_token_accuracy", "train_reward_mean")
            # the training curve is drawn above the validation markers, which would otherwise
            # hide it wherever the two values meet
            ax.plot(curves.steps(name), curves.values(name), color=COLORS[name], label=LABELS[name],
                    marker=None if train else "o", markersize=4, linewidth=1.6, zorder=3 if train else 2)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        # outside the plotting area, so the legend never hides (or imitates) a curve
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    axes[-1].set_xlabel("step")
    axes[0].set_title(f"{curves.job_id}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
