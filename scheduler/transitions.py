"""The one table of legal job status moves.

Every status change of a fine-tuning job goes through :func:`check_transition`; the database
row is only written after it passes. The life cycle (DESIGN.md)::

    validating_files ──> queued ──> running ──> succeeded
          │                │  ▲        │  │
          └──> failed <────┘  └─ paused ┘  └──> failed / cancelled

``running -> queued`` is the requeue after a worker lost its lease; ``queued -> paused`` lets a
user park a job that has not started (resume puts it back in the queue). ``paused ->
succeeded/failed``: the run ended before the pause request reached a step boundary. ``succeeded``,
``failed`` and ``cancelled`` are terminal: no move leaves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

JobStatus = Literal["validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"]

STATUSES: Final[frozenset[str]] = frozenset(get_args(JobStatus))

TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "validating_files": frozenset({"queued", "failed", "cancelled"}),
    "queued": frozenset({"running", "paused", "failed", "cancelled"}),
    "running": frozenset({"succeeded", "failed", "cancelled", "paused", "queued"}),
    # a job may finish (or fail) between the pause request and the step boundary it waits for
    "paused": frozenset({"queued", "cancelled", "succeeded", "failed"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}

TERMINAL: Final[frozenset[str]] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
ACTIVE: Final[frozenset[str]] = STATUSES - TERMINAL

# The user action that asks for a move into a status; used to word refusals.
_ACTIONS: Final[Mapping[str, str]] = {"cancelled": "cancel", "paused": "pause", "queued": "resume"}


class IllegalTransition(ValueError):
    """A status move the table refuses. ``message`` is user-facing (the API answers 400).

    ``param`` and ``code`` mirror the other domain errors so the API can render them alike.
    """

    param: str | None = None
    code: str | None = None

    def __init__(self, current: str, new: str, message: str) -> None:
        super().__init__(message)
        self.current = current
        self.new = new
        self.message = message


def _require_known(status: str) -> None:
    if status not in STATUSES:
        # a programming error, not a caller mistake: never shown to a user as a 400
        raise ValueError(f"unknown job status {status!r}; expected one of {sorted(STATUSES)}")


def is_terminal(status: str) -> bool:
    """True for ``succeeded``, ``failed`` and ``cancelled``."""
    _require_known(status)
    return status in TERMINAL


def allowed_next(status: str) -> frozenset[str]:
    """The statuses a job in ``status`` may move to."""
    _require_known(status)
    return TRANSITIONS[status]


def can_transition(current: str, new: str) -> bool:
    """Whether ``current -> new`` is a legal move (unknown statuses raise ``ValueError``)."""
    _require_known(new)
    return new in allowed_next(current)


def check_transition(current: str, new: str, action: str | None = None) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> new`` is legal.

    ``action`` words the refusal (``"Cannot {action} a job with status {current}"``); by default
    it is derived from the target: cancelled -> cancel, paused -> pause, queued -> resume. Other
    refused moves read ``"Cannot move a job from status X to Y"``.
    """
    if can_transition(current, new):
        return
    verb = action or _ACTIONS.get(new)
    if verb:
        message = f"Cannot {verb} a job with status {current}"
    else:
        message = f"Cannot move a job from status {current} to {new}"
    raise IllegalTransition(current, new, message)
