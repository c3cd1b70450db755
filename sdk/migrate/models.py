"""Which open base model stands in for a hosted one when a job is imported or distilled."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Hosted base (by prefix, longest first) -> open base of the same size class. The 8B Llama is
#: the default because it is the closest open match to the mini/turbo models most fine-tunes
#: were made on, and it fits one GPU with QLoRA.
DEFAULT_MODEL_MAP: Mapping[str, str] = {
    "gpt-4.1-nano": "meta-llama/Llama-3.2-1B-Instruct",
    "gpt-4.1-mini": "meta-llama/Llama-3.1-8B-Instruct",
    "gpt-4.1": "Qwen/Qwen2.5-7B-Instruct",
    "gpt-4o-mini": "meta-llama/Llama-3.1-8B-Instruct",
    "gpt-4o": "Qwen/Qwen2.5-7B-Instruct",
    "gpt-3.5-turbo": "meta-llama/Llama-3.1-8B-Instruct",
    "davinci-002": "meta-llama/Llama-3.1-8B-Instruct",
    "babbage-002": "meta-llama/Llama-3.2-1B-Instruct",
}
FALLBACK_BASE = "meta-llama/Llama-3.1-8B-Instruct"


def base_of(model: str) -> str:
    """The base of a model id: ``ft:gpt-4o-mini-2024-07-18:org:x:abc`` -> ``gpt-4o-mini-2024-07-18``."""
    return model.split(":")[1] if model.startswith("ft:") and model.count(":") >= 2 else model


def map_base_model(source_model: str, overrides: Mapping[str, str] | None = None,
                   available: Iterable[str] = ()) -> str:
    """The base model to train on here for a job whose source base was ``source_model``.

    An exact entry of ``overrides`` wins, then its longest matching prefix; then a model the
    destination serves under the same name (another openft); then :data:`DEFAULT_MODEL_MAP` by
    longest prefix; then :data:`FALLBACK_BASE`.
    """
    base = base_of(source_model)
    for table in (overrides or {},):
        if base in table:
            return table[base]
        hit = _longest_prefix(base, table)
        if hit is not None:
            return hit
    if base in set(available):
        return base
    return _longest_prefix(base, DEFAULT_MODEL_MAP) or FALLBACK_BASE


def _longest_prefix(name: str, table: Mapping[str, str]) -> str | None:
    matches = [prefix for prefix in table if name.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None
