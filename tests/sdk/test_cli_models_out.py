"""``openft models merge`` and ``openft models export --format gguf|ollama``."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)


@pytest.mark.slow
def test_merge_then_export_the_merge_as_gguf_and_for_ollama(
        cli: Callable[..., Any], publish_model: Callable[..., str], trained: dict[str, Path], tmp_path: Path) -> None:
    a = publish_model("proj-a", trained["sentiment"], suffix="a")
    b = publish_model("proj-a", trained["next_day"], suffix="b")
    refused = cli("models", "merge", a, "--json")
    assert refused.code == 1 and refused.json()["error"]["param"] == "models"

    done = cli("models", "merge", a, b, "--method", "cat", "--suffix", "ab", "--json")
    assert done.code == 0, done.err
    merge = done.json()
    assert merge["status"] == "succeeded" and merge["models"] == [a, b] and merge["method"] == "cat"
    model = merge["fine_tuned_model"]
    assert model.startswith("ft:tiny-chat:proj-a:ab:")

    gguf = cli("models", "export", model, "--format", "gguf", "--quantization", "q8_0", "-o", tmp_path / "m.gguf",
               "--json")
    assert gguf.code == 0, gguf.err
    assert (tmp_path / "m.gguf").read_bytes()[:4] == b"GGUF"

    bundle = cli("models", "export", model, "--format", "ollama", "-o", tmp_path / "ollama", "--extract")
    assert bundle.code == 0, bundle.err
    names = sorted(p.name for p in (tmp_path / "ollama").iterdir())
    assert names == ["Modelfile", model.replace(":", "_") + "-f16.gguf"]
    assert (tmp_path / "ollama" / "Modelfile").read_text().startswith(f"FROM ./{names[1]}\n")
