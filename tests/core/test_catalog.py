"""Catalog, model cache and tiny-chat: entries, file overrides, offline generation, tokenizer."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import tiny_chat
from core.catalog import CatalogError, ModelEntry, UnknownModel, get_catalog, load_tokenizer
from core.model_cache import ModelUnavailable, ensure_model_dir, ensure_tokenizer_dir, source_kind
from core.protocol import BaseModelSpec
from core.settings import Settings
from core.tiny_chat.build_cache import ensure_built


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, **kw)


def test_builtin_entries(tmp_path: Path) -> None:
    cat = get_catalog(_settings(tmp_path))
    assert cat.names()[:2] == ["tiny-chat", "tiny-chat-random"]
    assert cat.require("tiny-chat-random").source == "builtin:tiny-chat-random"
    assert cat.require("tiny-chat").auto.min_examples < cat.require("tiny-chat-random").auto.min_examples
    tiny = cat.get("tiny-chat")
    assert isinstance(tiny, BaseModelSpec) and tiny.source == "builtin:tiny-chat"
    assert tiny.n_params == tiny_chat.n_params()
    assert "meta-llama/Llama-3.1-8B-Instruct" in cat and cat.get("nope") is None
    with pytest.raises(UnknownModel):
        cat.require("nope")
    spec = tiny.spec()
    assert type(spec) is BaseModelSpec and spec.learning_rate == tiny.learning_rate


def test_memory_estimate_orders_models(tmp_path: Path) -> None:
    """The catalog's shape figures feed placement's estimate (core.memory)."""
    from core.memory import estimate_for_job
    from core.protocol import Hyperparameters

    cat = get_catalog(_settings(tmp_path))
    hp = Hyperparameters(n_epochs=1, batch_size=4, learning_rate_multiplier=1.0, learning_rate=1e-4)

    def cuda_bytes(name: str, quantization: str) -> int:
        return int(estimate_for_job(cat.require(name), hp, {"quantization": quantization})["memory"]["cuda"])

    q = cuda_bytes("meta-llama/Llama-3.1-8B-Instruct", "4bit")
    full = cuda_bytes("meta-llama/Llama-3.1-8B-Instruct", "none")
    assert 6 * 2**30 < q < full < 40 * 2**30
    assert cuda_bytes("tiny-chat", "none") < 2 * 2**30


def test_catalog_file_adds_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({
        "my-model": {"source": str(tmp_path / "m"), "learning_rate": 1e-4, "max_length": 512},
        "tiny-chat": {"source": "builtin:tiny-chat", "learning_rate": 1e-3},
    }))
    cat = get_catalog(_settings(tmp_path, catalog_path=path))
    assert cat.require("my-model").max_length == 512
    assert cat.require("tiny-chat").learning_rate == 1e-3
    path.write_text(json.dumps([{"name": "x"}]))
    with pytest.raises(CatalogError, match="entry 0"):
        get_catalog(_settings(tmp_path, catalog_path=path))


def test_source_kinds() -> None:
    assert source_kind("builtin:tiny-chat") == "builtin"
    assert source_kind("s3://b/models/x") == "s3"
    assert source_kind("/opt/models/x") == "local"
    assert source_kind("Qwen/Qwen2.5-0.5B-Instruct") == "hub"


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_tiny_chat_is_built_once_per_machine(tmp_path: Path) -> None:
    """Fresh data dirs link the one pretrained copy of the build cache (built by the session hook)."""
    dirs = []
    for name in ("a", "b"):
        settings = _settings(tmp_path / name)
        spec = get_catalog(settings).require("tiny-chat")
        dirs.append(ensure_model_dir(spec, settings))
        assert ensure_model_dir(spec, settings) == dirs[-1]
    built = ensure_built(Settings().base_build_cache)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert len({(d / name).stat().st_ino for d in [*dirs, built]}) == 1  # hard links, one copy
    assert _digest(dirs[0]) == _digest(built)


def test_random_variant_is_deterministic(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = ensure_model_dir(get_catalog(settings).require("tiny-chat-random"), settings)
    other = tiny_chat.build(tmp_path / "again", pretrained=False)
    assert _digest(first) == _digest(other)
    assert json.loads((first / "config.json").read_text())["initializer_range"] == 0.1
    pretrained = ensure_model_dir(get_catalog(settings).require("tiny-chat"), settings)
    assert (first / "model.safetensors").read_bytes() != (pretrained / "model.safetensors").read_bytes()
    assert (first / "tokenizer.json").read_bytes() == (pretrained / "tokenizer.json").read_bytes()


def test_concurrent_processes_build_one_copy(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from core.settings import Settings;"
        "from core.catalog import get_catalog; from core.model_cache import ensure_model_dir;"
        "s = Settings(data_dir=Path(sys.argv[1]));"
        "print(ensure_model_dir(get_catalog(s).require('tiny-chat'), s))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = {p.communicate()[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outs) == 1
    cache = tmp_path / "models"
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == [Path(outs.pop()).name]
    assert not [p for p in cache.iterdir() if p.name.startswith(".builtin")]  # no temporaries left


def test_tokenizer_template_and_no_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from core.settings import Settings;"
        "from core.catalog import load_tokenizer;"
        "t = load_tokenizer('tiny-chat', Settings(data_dir=Path(sys.argv[1])));"
        "m = [{'role': 'user', 'content': 'Is this good? {\"a\": 1}'}, {'role': 'assistant', 'content': 'yes'}];"
        "d = t.apply_chat_template(m, return_dict=True, return_assistant_tokens_mask=True);"
        "print(t.decode([i for i, k in zip(d['input_ids'], d['assistant_masks']) if k]));"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["yes<|im_end|>", "False"]
    # only the tokenizer was written: counting tokens never waits for (or links) weights
    assert not list((tmp_path / "models").rglob("*.safetensors"))


def test_tokenizer_round_trips_typical_text(tmp_path: Path) -> None:
    tok = load_tokenizer("tiny-chat", _settings(tmp_path))
    text = 'Classify: "I loved it!" -> {"label": "positive", "score": 0.93}\tTab ~`^|\\ 12345'
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert len(ids) < len(text) * 0.8  # words merge into tokens
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"


def test_tools_render_through_template(tmp_path: Path) -> None:
    tok = load_tokenizer("tiny-chat", _settings(tmp_path))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    msgs = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    text = tok.apply_chat_template(msgs, tools=tools, tokenize=False)
    assert '"name": "get_weather"' in text
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}' in text
    assert "<|im_start|>tool\nsunny<|im_end|>" in text


def test_local_and_missing_sources(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    built = tiny_chat.build(tmp_path / "copy", pretrained=False)
    local = ModelEntry(name="local", source=str(built))
    assert ensure_model_dir(local, settings) == built.resolve()
    with pytest.raises(ModelUnavailable):
        ensure_model_dir(ModelEntry(name="gone", source=str(tmp_path / "missing")), settings)
    (built / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailable, match="safetensors"):
        ensure_model_dir(local, settings)
    assert ensure_tokenizer_dir(local, settings) == built.resolve()
