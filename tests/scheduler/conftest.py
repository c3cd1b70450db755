"""Fixtures for the scheduler's pure parts: the real tiny-chat token counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from core.tokens import TokenCounter


@pytest.fixture(scope="session")
def tiny_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a private data dir (the tiny-chat tokenizer is generated there once)."""
    return Settings(data_dir=Path(tmp_path_factory.mktemp("openft-scheduler")))


@pytest.fixture(scope="session")
def tiny_counter(tiny_settings: Settings) -> TokenCounter:
    """The real tiny-chat tokenizer and chat template, through core.catalog."""
    return TokenCounter.for_model("tiny-chat", tiny_settings)
