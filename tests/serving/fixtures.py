"""Fixtures of the serving tests, shared with ``tests/compat/test_models*.py`` / ``test_chat*.py``.

- ``tiny_cache``: a model cache holding ``tiny-chat``, built once per session.
- ``settings``: the suite's settings with that model cache (so no test rebuilds the model).
- ``trained``: LoRA adapters trained on :mod:`serving.tasks` (``sentiment``, ``next_day``),
  once per session, kept in pytest's cache between runs (keyed by the recipe's source code).
- ``publish_model``: uploads an adapter and records its Job/Model rows for a project.
"""

from __future__ import annotations

import hashlib
import inspect
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serving import adapters, tasks
from sqlalchemy.engine import Engine

from core import tiny_chat
from core.catalog import get_catalog
from core.model_cache import ensure_model_dir
from core.settings import Settings
from core.store import Store

#: task name -> (training examples, steps, learning rate)
RECIPES: dict[str, Callable[[], tuple[list[dict[str, Any]], int, float]]] = {
    "sentiment": lambda: (tasks.sentiment()[0], 120, 5e-3),
    "next_day": lambda: (tasks.next_day()[0], 160, 5e-3),  # a lookup: the pretrained base needs more than 60
    "weather": lambda: (tasks.weather()[0], 80, 1e-2),
}


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache directory with ``tiny-chat`` in it."""
    cache = tmp_path_factory.mktemp("model-cache")
    spec = get_catalog(Settings(model_cache_dir=cache)).require("tiny-chat").spec()
    ensure_model_dir(spec, Settings(model_cache_dir=cache))
    return cache


@pytest.fixture
def settings(settings: Settings, tiny_cache: Path) -> Settings:
    return settings.model_copy(update={"model_cache_dir": tiny_cache})


@pytest.fixture(scope="session")
def tiny_dir(tiny_cache: Path) -> Path:
    settings = Settings(model_cache_dir=tiny_cache)
    return ensure_model_dir(get_catalog(settings).require("tiny-chat").spec(), settings)


@pytest.fixture(scope="session")
def trained(tiny_dir: Path, pytestconfig: pytest.Config) -> dict[str, Path]:
    """Adapter folders by task name (trained deterministically; cached across runs)."""
    recipe = "".join(inspect.getsource(m) for m in (adapters, tasks, sys.modules[__name__])) + tiny_chat.recipe_digest()
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    root = pytestconfig.cache.mkdir(f"openft-serving-adapters-{digest}")
    for stale in root.parent.glob("openft-serving-adapters-*"):  # earlier recipes
        if stale != root:
            shutil.rmtree(stale, ignore_errors=True)
    out = {}
    for name, make in RECIPES.items():
        folder = root / name
        if not (folder / "adapter_config.json").is_file():
            examples, steps, lr = make()
            tmp = root / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            adapters.train_adapter(tiny_dir, examples, tmp, steps=steps, lr=lr)
            tmp.rename(folder)
        out[name] = folder
    return out


@pytest.fixture
def publish_model(engine: Engine, store: Store) -> Callable[..., str]:
    """``publish_model(project_id, adapter_dir, **kw) -> ft: id`` (see :func:`adapters.publish`)."""

    def publish(project_id: str, adapter_dir: Path, **kwargs: Any) -> str:
        return adapters.publish(engine, store, project_id, adapter_dir, **kwargs)

    return publish
