"""The reinforcement job's grader as GRPO's reward function (batched), with error accounting.

Each completion is graded by :func:`core.graders.grade` against its own line of the training
file (``item``): string_check and text_similarity in process, python graders through the
sandbox, score_model / label_model graders through the operator's judge endpoint
(``OPENFT_GRADER_JUDGE_URL``; the training child cannot reach the API's serving path). A sample
whose grading errors scores 0 and is counted; once at least :data:`MIN_SAMPLES_FOR_VERDICT`
samples are graded and more than half of them errored, :class:`GraderFailure` ends the run
rather than training on noise.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from core.graders import GradeResult, Sample, grade, parse_grader
from core.graders.judge import external_judge
from core.messages import template_messages
from core.settings import Settings

MIN_SAMPLES_FOR_VERDICT: Final = 16
MAX_ERROR_FRACTION: Final = 0.5


class GraderFailure(Exception):
    """Most samples could not be graded: the job fails with code ``grader_error``."""


def prompt_messages(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A reinforcement line's prompt in chat-template shape (developer turns as system turns)."""
    raw = [{**m, "role": "system"} if m.get("role") == "developer" else m for m in row["messages"]]
    return template_messages(raw)


def completion_text(completion: Any) -> str:
    """TRL hands conversational completions as ``[{"role": "assistant", "content": ...}]``."""
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion)
    return str(completion)


@dataclass
class GraderStats:
    """Running counts for the ``metrics`` reports (reset by :meth:`take`)."""

    n: int = 0
    errors: int = 0
    seconds: float = 0.0
    total_n: int = 0
    total_errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def add(self, results: Sequence[GradeResult], seconds: float) -> None:
        self.n += len(results)
        self.total_n += len(results)
        self.seconds += seconds
        for r in results:
            if r.failed:
                self.errors += 1
                self.total_errors += 1
                for flag, on in r.errors.items():
                    if on:
                        self.error_kinds[flag] = self.error_kinds.get(flag, 0) + 1

    def take(self) -> dict[str, float]:
        """The figures since the last call: errors, error rate and grading time."""
        out = {"grader_errors": float(self.errors), "grader_error_rate": self.errors / self.n if self.n else 0.0,
               "grader_time_seconds": self.seconds}
        self.n, self.errors, self.seconds = 0, 0, 0.0
        return out


class GraderReward:
    """``reward_func(prompts, completions, item, **kwargs) -> list[float]`` for TRL's ``GRPOTrainer``."""

    __name__ = "grader"

    def __init__(self, spec: Mapping[str, Any], settings: Settings) -> None:
        self.grader = parse_grader(spec)
        self.settings = settings
        self.judge = external_judge(settings)
        self.stats = GraderStats()

    def score(self, items: Sequence[Mapping[str, Any]], texts: Sequence[str]) -> list[GradeResult]:
        """Grade ``texts[i]`` against ``items[i]`` (concurrently); never raises for grading problems."""
        async def run() -> list[GradeResult]:
            return list(await asyncio.gather(*[
                grade(self.grader, item=item, sample=Sample.from_text(text), judge=self.judge, settings=self.settings)
                for item, text in zip(items, texts, strict=True)]))

        started = time.perf_counter()
        results = asyncio.run(run())
        self.stats.add(results, time.perf_counter() - started)
        return results

    def __call__(self, prompts: list[Any], completions: list[Any], item: list[str], **_: Any) -> list[float]:
        results = self.score([json.loads(i) for i in item], [completion_text(c) for c in completions])
        s = self.stats
        if s.total_n >= MIN_SAMPLES_FOR_VERDICT and s.total_errors > MAX_ERROR_FRACTION * s.total_n:
            kinds = ", ".join(f"{k} ({v})" for k, v in sorted(s.error_kinds.items()))
            raise GraderFailure(f"The grader failed on {s.total_errors} of {s.total_n} samples ({kinds}); "
                                "check it with /v1/fine_tuning/alpha/graders/run on a line of the training file")
        return [r.reward for r in results]
