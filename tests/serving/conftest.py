"""Serving tests: see :mod:`serving.fixtures` for the fixtures."""

from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401
