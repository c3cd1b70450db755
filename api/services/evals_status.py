"""The one table of legal eval run status moves, and the one function that writes them.

::

    queued ──> in_progress ──> completed
       │            │
       └────────────┴──> failed / canceled

A run claimed by an API process that then died stays ``in_progress`` while another process
takes the claim over and resumes it (api.services.evals_runner); it never moves back to
``queued``. ``completed``, ``failed`` and ``canceled`` are terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

from sqlmodel import Session, select

from core.tables import EvalRun, now
from scheduler import webhook_outbox
from scheduler.transitions import IllegalTransition

RunStatus = Literal["queued", "in_progress", "completed", "failed", "canceled"]
STATUSES: Final[frozenset[str]] = frozenset(get_args(RunStatus))

TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "queued": frozenset({"in_progress", "failed", "canceled"}),
    "in_progress": frozenset({"completed", "failed", "canceled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "canceled": frozenset(),
}
TERMINAL: Final[frozenset[str]] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


def is_terminal(status: str) -> bool:
    """True for ``completed``, ``failed`` and ``canceled``."""
    return status in TERMINAL


def check_run_transition(current: str, new: str) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> new`` is in the table.

    The refusal reads ``Cannot cancel an eval run with status completed`` for a cancel, else
    ``Cannot move an eval run from status X to Y``. The runner's claim (a conditional update,
    so two API processes never both take a run) checks its move here too.
    """
    if new not in STATUSES or current not in STATUSES:
        raise ValueError(f"unknown eval run status {current!r} -> {new!r}")
    if new not in TRANSITIONS[current]:
        message = (f"Cannot cancel an eval run with status {current}" if new == "canceled"
                   else f"Cannot move an eval run from status {current} to {new}")
        raise IllegalTransition(current, new, message)


def set_run_status(run: EvalRun, new: str, *, error: tuple[str, str] | None = None) -> None:
    """Move ``run`` to ``new`` (raises :class:`IllegalTransition`), recording ``error`` (code, message)."""
    check_run_transition(run.status, new)
    run.status = new
    if error is not None:
        run.error = {"code": error[0], "message": error[1]}
    if new in TERMINAL:
        run.finished_at = now()
        run.claimed_at = None
    session = Session.object_session(run)
    if session is not None and new in webhook_outbox.EVAL_RUN_EVENTS:  # commits with the status
        webhook_outbox.enqueue(session, run.project_id, webhook_outbox.EVAL_RUN_EVENTS[new], run.id)


def load_run(session: Session, run_id: str) -> EvalRun | None:
    """The run row, locked for update on PostgreSQL so a cancel and the runner do not interleave."""
    stmt = select(EvalRun).where(EvalRun.id == run_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()
