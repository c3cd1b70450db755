"""Whether this service, as configured, can run a grader (checked before any grading starts)."""

from __future__ import annotations

from core.graders.spec import Grader, GraderSpecError, Multi, Python, TextSimilarity
from core.settings import Settings


def check_supported(grader: Grader, settings: Settings) -> None:
    """Raise :class:`GraderSpecError` when ``grader`` needs something the operator did not set up."""
    if isinstance(grader, Multi):
        for key, sub in grader.graders.items():
            try:
                check_supported(sub, settings)
            except GraderSpecError as exc:
                raise exc.prefixed(f"graders.{key}") if grader.graders_as_mapping else exc.prefixed("graders") from None
        return
    if isinstance(grader, TextSimilarity) and grader.evaluation_metric == "cosine":
        from core.graders.embeddings import require_embeddings

        require_embeddings(settings)
    if isinstance(grader, Python):
        from core.graders.sandbox import require_sandbox

        require_sandbox(settings)
