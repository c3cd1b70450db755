"""The train-to-serve check: does the service answer like the model that was just trained?

When a job succeeds the worker reports ``samples``: greedy answers of the trained model to a few
prompts (``{"messages", "tools", "answer", "stopped"}``, messages as the worker rendered them,
up to ``max_tokens`` new tokens, default 64 as the worker generates). :func:`check_samples`
asks the served ``ft:`` model the same prompts, greedily, where it is really served (this
process's engine or its vLLM server), and returns the differences.
Any difference means training and serving disagree (chat template, end-of-turn token,
adapter loading, quantization), which the scheduler records as a ``warn`` event on the job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from api.inference.params import Target
from api.inference.server import ModelServer
from core.catalog import get_catalog

log = logging.getLogger("openft.check")

DEFAULT_MAX_TOKENS = 64  # when a sample does not say how long the worker let it run


@dataclass(frozen=True)
class SampleMismatch:
    """One prompt whose served greedy answer differs from the trained model's."""

    messages: list[dict[str, Any]]
    expected: str
    served: str

    def describe(self) -> str:
        last = next((m for m in reversed(self.messages) if m.get("role") == "user"), self.messages[-1])
        prompt = str(last.get("content"))[:80]
        return f"prompt {prompt!r}: trained model answered {self.expected[:80]!r}, served {self.served[:80]!r}"


async def check_samples(server: ModelServer, target: Target, samples: list[dict[str, Any]]) -> list[SampleMismatch]:
    """Mismatches between ``samples`` and what ``server`` answers for ``target`` (empty: all agree).

    A sample's ``messages`` (and ``tools``) are used exactly as the worker rendered them.
    """
    mismatches = []
    for sample in samples:
        messages = list(sample["messages"])
        expected = str(sample["answer"])
        served = await server.greedy(target, messages, int(sample.get("max_tokens") or DEFAULT_MAX_TOKENS),
                                     tools=sample.get("tools") or None)
        if served != expected:
            mismatches.append(SampleMismatch(messages, expected, served))
    if mismatches:
        log.warning("train-to-serve check of %s: %d of %d answers differ", target.model_id,
                    len(mismatches), len(samples))
    return mismatches


async def check_model(server: ModelServer, *, model_id: str, base_model: str, artifact_key: str,
                      samples: list[dict[str, Any]]) -> list[SampleMismatch]:
    """:func:`check_samples` for a ``core.tables.Model`` row's fields (what the scheduler has)."""
    base = get_catalog(server.settings).require(base_model).spec()
    return await check_samples(server, Target(model_id, base, artifact_key), samples)


def warning_message(mismatches: list[SampleMismatch], total: int) -> str:
    """The text of the ``warn`` event for a failed check."""
    head = (f"Train-to-serve check: {len(mismatches)} of {total} sample answers differ when the model "
            "is served; ")
    return head + "; ".join(m.describe() for m in mismatches[:3])
