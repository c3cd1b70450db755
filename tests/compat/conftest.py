"""Fixtures for the compatibility suite (the official ``openai`` client against a live server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import chat_jsonl


@pytest.fixture
def train_path(tmp_path: Path) -> Path:
    """A small valid fine-tune JSONL file on disk (10 chat examples)."""
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(10))
    return path
