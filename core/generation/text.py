"""Turning generated token ids into text incrementally, with OpenAI's ``stop`` sequences.

:class:`TextStream` re-decodes a choice's ids after every token and releases only text that can
no longer change: a trailing incomplete UTF-8 sequence (decoded as U+FFFD) and any tail that
could still grow into a stop sequence are held back. A stop sequence ends the choice and is not
part of the text. Streamed deltas therefore always join into exactly the non-streamed text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"


class TextStream:
    """Incremental detokenizer for one choice."""

    def __init__(self, decode: Callable[[list[int]], str], stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = [s for s in stop if s]
        self._ids: list[int] = []
        self.text = ""
        self.sent = 0
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add a generated token; return the text that became final (may be empty).

        After a stop sequence appears, :attr:`stopped` is True and :attr:`text` ends just before it.
        """
        self._ids.append(token_id)
        self.text = self._decode(self._ids)
        if self._stop:
            cut = self._find_stop()
            if cut is not None:
                self.text = self.text[:cut]
                self.stopped = True
                return self._release(len(self.text))
        return self._release(self._safe_end())

    def finish(self) -> str:
        """The text not yet released, when generation ended for another reason."""
        return self._release(len(self.text))

    def _release(self, end: int) -> str:
        if end <= self.sent:
            return ""
        piece = self.text[self.sent:end]
        self.sent = end
        return piece

    def _find_stop(self) -> int | None:
        # only text that was not released yet (plus an overlap) can hold a new stop sequence
        start = max(0, self.sent - max(len(s) for s in self._stop))
        hits = [i for s in self._stop if (i := self.text.find(s, start)) >= 0]
        return min(hits) if hits else None

    def _safe_end(self) -> int:
        end = len(self.text)
        while end > self.sent and self.text[end - 1] == REPLACEMENT:
            end -= 1
        # hold back the longest tail that is a proper prefix of some stop sequence
        hold = 0
        for s in self._stop:
            for k in range(min(len(s) - 1, end - self.sent), hold, -1):
                if self.text[end - k:end] == s[:k]:
                    hold = k
                    break
        return end - hold
