"""A live one-line progress display for a running job: step/total, loss, accuracy, ETA.

On a terminal the bar redraws in place and message events print above it; elsewhere (logs,
CI) progress lines are printed at most every ``min_interval`` seconds, plus the last step.
The ETA comes from the job's ``estimated_finish`` when the server sets it, else from the rate
between the first and the latest metrics event seen (server timestamps).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """``75`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render_bar(step: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[#########---------------]`` for ``step`` of ``total``."""
    filled = 0 if total <= 0 else min(width, round(width * step / total))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class JobProgress:
    """Consumes a job's events and statuses and draws its progress on ``stream``."""

    def __init__(self, stream: IO[str] | None = None, *, min_interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self.status = ""
        self.step = 0
        self.total = 0
        self.metrics: dict[str, Any] = {}
        self.estimated_finish: int | None = None
        self._first: tuple[int, int] | None = None  # (step, created_at) of the first metrics seen
        self._last: tuple[int, int] | None = None
        self._bar_shown = False
        self._last_print = 0.0

    # --- inputs ---------------------------------------------------------------------
    def on_job(self, job: FineTuningJob) -> None:
        """Record the latest job object (status, estimated finish)."""
        self.status = job.status
        self.estimated_finish = job.estimated_finish
        if self._bar_shown:
            self._draw(force=False)

    def on_event(self, event: FineTuningJobEvent) -> None:
        """Metrics events move the bar; other events print as a line."""
        data = event.data if isinstance(event.data, dict) else None
        if event.type == "metrics" and data and "step" in data:
            self.step = int(data["step"])
            self.total = int(data.get("total_steps") or self.total)
            self.metrics = data
            point = (self.step, int(event.created_at))
            self._first = self._first or point
            self._last = point
            self._draw(force=self.step >= self.total > 0)
        else:
            self._line(f"{event.level:5s} {event.message}")

    def close(self) -> None:
        """End the display (leaves the last bar on screen)."""
        if self._bar_shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self._bar_shown = False

    # --- rendering ------------------------------------------------------------------
    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds until the job should finish, or None before there is a rate to go by."""
        now = time.time() if now is None else now
        if self.estimated_finish:
            return max(0.0, self.estimated_finish - now)
        if self._first is None or self._last is None or self.total <= 0:
            return None
        steps = self._last[0] - self._first[0]
        seconds = self._last[1] - self._first[1]
        if steps <= 0 or seconds <= 0:
            return None
        return (self.total - self.step) * seconds / steps

    def text(self) -> str:
        """The progress line without control characters."""
        parts = [f"{self.status or 'running':<9s}", render_bar(self.step, self.total),
                 f"{self.step}/{self.total}"]
        for key, label in (("train_loss", "loss"), ("train_mean_token_accuracy", "acc"),
                           ("valid_loss", "val_loss"), ("full_valid_loss", "full_val_loss"),
                           ("train_reward_mean", "reward"), ("valid_reward_mean", "val_reward"),
                           ("full_valid_reward_mean", "full_val_reward")):
            value = self.metrics.get(key)
            if isinstance(value, int | float):
                parts.append(f"{label} {value:.4f}")
        eta = self.eta_seconds()
        if eta is not None and self.step < self.total:
            parts.append(f"ETA {format_duration(eta)}")
        return "  ".join(parts)

    def _draw(self, *, force: bool) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.text())
            self.stream.flush()
            self._bar_shown = True
            return
        now = time.monotonic()
        if force or now - self._last_print >= self.min_interval:
            self.stream.write(self.text() + "\n")
            self.stream.flush()
            self._last_print = now

    def _line(self, text: str) -> None:
        if self.tty and self._bar_shown:
            self.stream.write("\r\x1b[2K" + text + "\n" + self.text())
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
