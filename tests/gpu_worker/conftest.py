"""Fixtures for the training-engine tests: a shared tiny-chat cache and a per-test harness."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_harness import Harness

from core.catalog import get_catalog
from core.model_cache import ensure_model_dir
from core.settings import Settings


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("model-cache")
    settings = Settings(data_dir=cache, model_cache_dir=cache)
    ensure_model_dir(get_catalog(settings).require("tiny-chat"), settings)
    return cache


@pytest.fixture(scope="session")
def tiny_dir(model_cache: Path) -> Path:
    settings = Settings(data_dir=model_cache, model_cache_dir=model_cache)
    return ensure_model_dir(get_catalog(settings).require("tiny-chat"), settings)


@pytest.fixture
def harness(tmp_path: Path, model_cache: Path) -> Harness:
    return Harness(tmp_path / "data", model_cache)
