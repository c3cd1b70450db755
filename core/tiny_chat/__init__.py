"""``tiny-chat``: a small Llama-architecture chat model produced by this repository, offline.

Every flow of the product (validation, training, serving, tests) works with no network thanks
to this model. :func:`build` writes a Hugging Face model directory that loads offline through
``AutoModelForCausalLM`` / ``AutoTokenizer``:

- the tokenizer (:mod:`.tokenizer`): byte-level BPE with ChatML specials and template; built in
  about a second without torch (:func:`build_tokenizer_dir`), so the scheduler can count tokens
  before any weights exist;
- the weights: drawn with numpy from a fixed seed (:mod:`.random_init`), then, for
  ``tiny-chat``, pretrained deterministically on a generated corpus of instruction skills
  (:mod:`.corpus`, :mod:`.pretrain`; a few minutes on 2 CPU cores). ``tiny-chat-random`` keeps
  the drawn weights (tests that need a model that knows nothing).

The pretrained build is expensive, so :mod:`.build_cache` keeps one copy per machine, keyed by
:func:`recipe_digest` (a hash of this package's code), that model caches hard-link from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.tiny_chat.shape import (
    HEADS,
    HIDDEN,
    INTERMEDIATE,
    KV_HEADS,
    LAYERS,
    SEED,
    VOCAB_SIZE,
    config_dict,
    n_params,
)
from core.tiny_chat.tokenizer import CHAT_TEMPLATE

VERSION = "3"
NAME = "tiny-chat"
RANDOM_NAME = "tiny-chat-random"
NAMES = (NAME, RANDOM_NAME)

__all__ = ["CHAT_TEMPLATE", "HEADS", "HIDDEN", "INTERMEDIATE", "KV_HEADS", "LAYERS", "NAME", "NAMES", "RANDOM_NAME",
           "SEED", "VERSION", "VOCAB_SIZE", "build", "build_tokenizer_dir", "config_dict", "n_params", "recipe_digest"]


#: The modules whose code decides the weights (this one and the build cache only move bytes).
RECIPE_MODULES = ("corpus.py", "pretrain.py", "random_init.py", "shape.py", "tokenizer.py")


def recipe_digest() -> str:
    """A hash of the code that produces the model (:data:`RECIPE_MODULES`): the build cache's key."""
    h = hashlib.sha256(VERSION.encode())
    for name in RECIPE_MODULES:
        h.update(name.encode() + b"\0" + (Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


def build_tokenizer_dir(directory: Path) -> Path:
    """Write the tokenizer, chat template and configs (no weights, no torch) into ``directory``."""
    _write_tokenizer_dir(Path(directory))
    return Path(directory)


def _write_tokenizer_dir(directory: Path) -> Any:
    from core.tiny_chat.tokenizer import build_tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(directory)
    _write_json(directory / "config.json", config_dict(len(tokenizer)))
    _write_json(directory / "generation_config.json",
                {"bos_token_id": 1, "eos_token_id": 3, "pad_token_id": 0, "do_sample": False})
    return tokenizer


def build(directory: Path, *, pretrained: bool = True, recipe: Any = None,
          log: Callable[[str], None] | None = None) -> Path:
    """Write the complete model directory into ``directory``.

    ``pretrained=False`` gives the random-weight variant (no torch). ``recipe`` (a
    :class:`core.tiny_chat.pretrain.Recipe`) replaces the shipped one, e.g. fewer steps in a test.
    """
    from safetensors.numpy import save_file

    from core.tiny_chat.random_init import weights

    directory = Path(directory)
    tokenizer = _write_tokenizer_dir(directory)
    state = weights(len(tokenizer))
    if pretrained:
        from core.tiny_chat.pretrain import RECIPE, pretrain

        state = pretrain(tokenizer, state, recipe or RECIPE, log=log)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
