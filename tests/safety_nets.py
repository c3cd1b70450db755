"""Timeouts inside tests are safety nets against a hang, never speed assertions.

A test that waits for work (a training child, a job, a server start) gives up only after
:func:`safety_net` of what the wait takes on two idle cores: ten times as long, so a machine
shared with other work (a full CI run beside seven other builds) still passes, and a hang
still ends. ``OPENFT_TEST_TIMEOUT_SCALE`` stretches every net further on a slower machine.
Speed is measured in ``bench/``, not here.
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("OPENFT_TEST_TIMEOUT_SCALE", "1"))


def safety_net(idle_seconds: float) -> float:
    """How long to wait for something that takes ``idle_seconds`` on two idle cores."""
    return 10 * idle_seconds * SCALE
