"""Turning newest-first event pages into a stream that has each event exactly once, in order.

The events endpoint lists newest first, and ``after=<id>`` pages towards *older* events; there
is no cursor for "newer than". So each poll reads pages from the newest event backwards until
a page holds an event it has already delivered (or the list ends), then hands the new events
over oldest first. Ids, not timestamps, decide what is new: several events share a second.

The sync and async resources share this bookkeeping; only their I/O loops differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
#: statuses at which ``wait``/``follow`` return: terminal ones, and ``paused`` (nothing
#: happens until someone resumes the job) unless the caller asks to wait through pauses.
STOP_STATUSES = TERMINAL_STATUSES | {"paused"}


class HasId(Protocol):
    @property
    def id(self) -> str: ...


E = TypeVar("E", bound=HasId)


class EventTracker(Generic[E]):
    """Remembers delivered event ids; collects one poll's new events from newest-first pages.

    Usage per poll::

        tracker.begin()
        while tracker.feed(page.data) and page.has_more:
            page = next older page (after=page.data[-1].id)
        new_events = tracker.take()     # oldest first, never seen before
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._pending: list[E] = []
        self._pending_ids: set[str] = set()

    def begin(self) -> None:
        """Start a poll (drops anything collected by an unfinished one)."""
        self._pending = []
        self._pending_ids = set()

    def feed(self, page: Sequence[E]) -> bool:
        """Add one newest-first page; True while older pages may still hold new events.

        The whole page is scanned, not only up to the first known event: an event whose
        transaction committed late can sit just below ones already delivered, and is still
        picked up as long as it is within a page of the newest.
        """
        reached_known = False
        for event in page:
            if event.id in self._seen:
                reached_known = True
            elif event.id not in self._pending_ids:
                self._pending.append(event)
                self._pending_ids.add(event.id)
        return bool(page) and not reached_known

    def take(self) -> list[E]:
        """This poll's new events, oldest first, marked as delivered."""
        new = list(reversed(self._pending))
        self.begin()
        self._seen.update(event.id for event in new)
        return new

    def __len__(self) -> int:
        return len(self._seen)
