"""Tests that build their own ``Settings`` start from an environment without the caller's ``OPENFT_*``."""

from __future__ import annotations

import os

import pytest


def clear_openft_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every ``OPENFT_*`` variable for the test (the suite's own ``OPENFT_TEST_*`` stay)."""
    for name in list(os.environ):
        if name.startswith("OPENFT_") and not name.startswith("OPENFT_TEST_"):
            monkeypatch.delenv(name)
