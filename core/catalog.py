"""The base-model catalog: model names users pass as ``model`` -> where the weights come from.

Built-in entries (``tiny-chat`` always, plus a few well-known instruct models that load when
their files are reachable: the hub, the HF cache, or a copy named in the catalog file) are
merged with the entries of ``Settings.catalog_path``: a JSON list of entries, or an object
mapping names to entries (``name`` then optional), each with the fields of :class:`ModelEntry`.
A file entry with a built-in name replaces the built-in one (e.g. to point it at a local copy).

:func:`load_tokenizer` gives the model's tokenizer with its chat template (the override of
the entry when it has one), without importing torch: the scheduler counts tokens with it.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from core import tiny_chat
from core.model_loading import TRANSFORMERS_LOCK
from core.protocol import BaseModelSpec
from core.settings import Settings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

CATALOG_CREATED = 1732320000  # fixed ``created`` of built-in entries (2024-11-23)


class CatalogError(Exception):
    """The catalog file is unreadable or holds an invalid entry."""


class UnknownModel(LookupError):
    """No catalog entry has this name."""


class AutoPolicy(BaseModel):
    """How ``"auto"`` hyperparameters are resolved for a base model (see :mod:`scheduler.hyperparams`).

    The defaults are OpenAI's published heuristic, right for pretrained instruct models: about 3
    epochs, at least ``min_examples`` examples seen, and about ``steps_per_epoch`` steps per
    epoch. A small model needs more passes and small, steady batches to learn a rule it can apply
    to prompts it has not seen (``tiny-chat`` some 1,500 examples seen, and four times as many
    from random weights, ``tiny-chat-random``).
    """

    min_examples: int = Field(100, ge=1, description="examples seen at least (epochs are raised up to max_epochs)")
    max_examples: int = Field(25_000, ge=1, description="examples seen at most (epochs are lowered to 1)")
    max_epochs: int = Field(25, ge=1, le=50, description="most epochs the minimum may raise to")
    steps_per_epoch: int = Field(50, ge=1, description="batch size is about n_examples / steps_per_epoch")
    min_batch_size: int = Field(1, ge=1, le=256)
    max_batch_size: int = Field(64, ge=1, le=256)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> AutoPolicy:
        if self.min_batch_size > self.max_batch_size or self.min_examples > self.max_examples:
            raise ValueError("min_batch_size and min_examples must not exceed their maximums")
        return self


class ModelEntry(BaseModelSpec):
    """A catalog entry: what the worker needs (:class:`BaseModelSpec`) plus placement figures."""

    auto: AutoPolicy = Field(default_factory=AutoPolicy, description='how "auto" hyperparameters resolve')
    description: str = ""
    gguf: bool = Field(False, description="offers GGUF and Ollama exports (Llama-architecture bases with a "
                                          "byte-level BPE tokenizer)")
    system_prompt: str | None = Field(None, description="default system prompt, written into Ollama Modelfiles")
    owned_by: str = "openft"
    created: int = CATALOG_CREATED
    n_params: int | None = Field(None, description="parameter count, embeddings included")
    hidden_size: int | None = None
    intermediate_size: int | None = None
    num_layers: int | None = None
    num_attention_heads: int | None = None
    num_kv_heads: int | None = None
    vocab_size: int | None = None

    def spec(self) -> BaseModelSpec:
        """The plain :class:`BaseModelSpec` that goes into a job spec."""
        return BaseModelSpec.model_validate(self.model_dump(include=set(BaseModelSpec.model_fields)))


#: tiny-chat-random learns from random weights: about 6,000 examples seen in batches of 4-8 (some 750
#: steps for 60 to 1,000 examples). Measured with bench/finetune_quality.py (200 examples, held-out
#: exact match): OpenAI's rule (3 epochs, batch 4) gets a 4-way topic task to 57-72% and
#: number words to digits to 10%; this policy gets 98-100% and 62-78% (runs with other seeds).
TINY_CHAT_RANDOM_AUTO = AutoPolicy(min_examples=6000, max_epochs=50, steps_per_epoch=25, min_batch_size=4,
                                   max_batch_size=8)
#: The pretrained tiny-chat already has the skills a task combines (copying, keywords, JSON,
#: numbers); a fine-tune only has to point them at the task: 175 steps for 200 examples.
TINY_CHAT_AUTO = AutoPolicy(min_examples=1500, max_epochs=20, steps_per_epoch=25, min_batch_size=4,
                            max_batch_size=8)


def _tiny_entry(name: str, auto: AutoPolicy, learning_rate: float, description: str) -> ModelEntry:
    return ModelEntry(
        name=name, source=f"builtin:{name}", revision=f"v{tiny_chat.VERSION}", max_length=1024,
        learning_rate=learning_rate, quantization="auto", auto=auto, description=description, gguf=True,
        n_params=tiny_chat.n_params(), hidden_size=tiny_chat.HIDDEN,
        intermediate_size=tiny_chat.INTERMEDIATE, num_layers=tiny_chat.LAYERS,
        num_attention_heads=tiny_chat.HEADS, num_kv_heads=tiny_chat.KV_HEADS,
        vocab_size=tiny_chat.VOCAB_SIZE,
    )


def _builtin_entries() -> list[ModelEntry]:
    tiny = [
        _tiny_entry(tiny_chat.NAME, TINY_CHAT_AUTO, 5e-3,
                    "small Llama-architecture chat model pretrained locally on instruction skills "
                    "(tests, offline demos)"),
        _tiny_entry(tiny_chat.RANDOM_NAME, TINY_CHAT_RANDOM_AUTO, 5e-3,
                    "tiny-chat with random weights, not pretrained: for tests that need a model that "
                    "knows nothing, and as the baseline of bench/finetune_quality.py"),
    ]
    hub = [
        ("Qwen/Qwen2.5-0.5B-Instruct", 494_032_768, 896, 4864, 24, 14, 2, 151_936, 2e-4),
        ("Qwen/Qwen2.5-7B-Instruct", 7_615_616_512, 3584, 18944, 28, 28, 4, 152_064, 1e-4),
        ("meta-llama/Llama-3.2-1B-Instruct", 1_235_814_400, 2048, 8192, 16, 32, 8, 128_256, 2e-4),
        ("meta-llama/Llama-3.1-8B-Instruct", 8_030_261_248, 4096, 14336, 32, 32, 8, 128_256, 1e-4),
    ]
    return tiny + [
        ModelEntry(
            name=repo, source=repo, max_length=4096, learning_rate=lr, owned_by=repo.split("/")[0].lower(),
            description=f"{repo} from the Hugging Face hub (or a local copy named in the catalog file)",
            n_params=n, hidden_size=h, intermediate_size=i, num_layers=layers, gguf=repo.startswith("meta-llama/"),
            num_attention_heads=heads, num_kv_heads=kv, vocab_size=vocab,
        )
        for repo, n, h, i, layers, heads, kv, vocab, lr in hub
    ]


class Catalog:
    """Name -> :class:`ModelEntry`, in a stable order (built-ins first, then the file's)."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            self._entries[entry.name] = entry

    def get(self, name: str) -> ModelEntry | None:
        """The entry called ``name``, or None."""
        return self._entries.get(name)

    def require(self, name: str) -> ModelEntry:
        """The entry called ``name``; raises :class:`UnknownModel`."""
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownModel(name)
        return entry

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def get_catalog(settings: Settings) -> Catalog:
    """The built-in entries plus those of ``settings.catalog_path``; raises :class:`CatalogError`."""
    entries = _builtin_entries()
    if settings.catalog_path is not None:
        entries += _read_catalog_file(Path(settings.catalog_path))
    return Catalog(entries)


def _read_catalog_file(path: Path) -> list[ModelEntry]:
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read catalog file {path}: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("models"), list):
        raw = raw["models"]
    if isinstance(raw, dict):
        raw = [{"name": name, **body} for name, body in raw.items() if isinstance(body, dict)]
    if not isinstance(raw, list):
        raise CatalogError(f"catalog file {path}: expected a list of entries or an object of name -> entry")
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(ModelEntry.model_validate(item))
        except ValidationError as exc:
            raise CatalogError(f"catalog file {path}, entry {i}: {exc}") from exc
    return out


_tokenizers: dict[tuple[str, str, str | None], PreTrainedTokenizerBase] = {}
_tokenizers_lock = threading.Lock()


def load_tokenizer(name: str, settings: Settings) -> PreTrainedTokenizerBase:
    """The tokenizer of catalog model ``name``, chat template set (cached per process).

    Fetches the tokenizer files on first use (``tiny-chat`` is generated); raises
    :class:`UnknownModel` or :class:`core.model_cache.ModelUnavailable`. Does not import torch.
    """
    entry = get_catalog(settings).require(name)
    return tokenizer_for(entry, settings)


def tokenizer_for(spec: BaseModelSpec, settings: Settings) -> PreTrainedTokenizerBase:
    """The tokenizer of a base-model spec (see :func:`load_tokenizer`)."""
    from core.model_cache import ensure_tokenizer_dir

    directory = ensure_tokenizer_dir(spec, settings)
    key = (spec.name, str(directory), spec.chat_template)
    with _tokenizers_lock:
        cached = _tokenizers.get(key)
        if cached is not None:
            return cached
    tokenizer = open_tokenizer(directory, spec.chat_template)
    with _tokenizers_lock:
        _tokenizers[key] = tokenizer
    return tokenizer


def open_tokenizer(directory: Path, chat_template: str | None = None) -> PreTrainedTokenizerBase:
    """Load a tokenizer directory through ``PreTrainedTokenizerFast`` (``AutoTokenizer``
    would import torch), applying a chat-template override; pads on the right."""
    with TRANSFORMERS_LOCK:
        from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(directory))
    if chat_template:
        tokenizer.chat_template = chat_template
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
