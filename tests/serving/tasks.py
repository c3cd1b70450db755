"""Deterministic tasks for serving tests and the train-to-serve acceptance test.

Each task yields OpenAI chat examples (``{"messages": [...]}``) from a seed, with held-out
prompts that share the training rule but not the exact sentences, and :func:`exact` scoring.
The base ``tiny-chat`` answers few of them (exactly); a LoRA fine-tune learns them in a
few dozen steps on the CPU.

- ``sentiment``: classify a review built from positive/negative words as JSON
  ``{"sentiment": "positive"}``: held-out sentences are new word combinations.
- ``next_day``: the weekday after a given one (``monday`` -> ``tuesday``): a small lookup.
"""

from __future__ import annotations

import json
import random
from typing import Any

POSITIVE = ["good", "great", "excellent", "amazing", "happy", "glad", "fine"]
NEGATIVE = ["bad", "terrible", "awful", "poor", "sad", "angry", "hate"]
SUBJECTS = ["movie", "film", "book", "food", "restaurant", "hotel", "product", "service", "delivery", "price"]
FILLER = ["the", "was", "very", "really", "so", "and", "this", "that", "it", "is"]
SENTIMENT_SYSTEM = "Classify the sentiment of the review. Answer with JSON."
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

Example = dict[str, Any]


def _review(rng: random.Random, label: str) -> str:
    words = POSITIVE if label == "positive" else NEGATIVE
    parts = [rng.choice(FILLER), rng.choice(SUBJECTS), rng.choice(FILLER), rng.choice(words)]
    if rng.random() < 0.5:
        parts += [rng.choice(["and", "so"]), rng.choice(words)]
    return " ".join(parts)


def sentiment_answer(label: str) -> str:
    return json.dumps({"sentiment": label})


def sentiment_example(text: str, label: str | None = None) -> Example:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SENTIMENT_SYSTEM},
        {"role": "user", "content": text},
    ]
    if label is not None:
        messages.append({"role": "assistant", "content": sentiment_answer(label)})
    return {"messages": messages}


def sentiment(n_train: int = 200, n_test: int = 40, seed: int = 0) -> tuple[list[Example], list[tuple[Example, str]]]:
    """Training examples and held-out (prompt, expected answer) pairs; no test sentence is in training."""
    rng = random.Random(seed)
    train: list[Example] = []
    seen: set[str] = set()
    while len(train) < n_train:
        label = rng.choice(["positive", "negative"])
        text = _review(rng, label)
        seen.add(text)
        train.append(sentiment_example(text, label))
    test: list[tuple[Example, str]] = []
    while len(test) < n_test:
        label = rng.choice(["positive", "negative"])
        text = _review(rng, label)
        if text not in seen:
            seen.add(text)
            test.append((sentiment_example(text), sentiment_answer(label)))
    return train, test


def next_day_example(day: str, with_answer: bool = True) -> Example:
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"next day: {day}"}]
    if with_answer:
        messages.append({"role": "assistant", "content": DAYS[(DAYS.index(day) + 1) % 7]})
    return {"messages": messages}


def next_day(repeats: int = 4) -> tuple[list[Example], list[tuple[Example, str]]]:
    """All seven days (repeated) for training; the same prompts to check (a lookup task)."""
    train = [next_day_example(d) for _ in range(repeats) for d in DAYS]
    test = [(next_day_example(d, with_answer=False), DAYS[(DAYS.index(d) + 1) % 7]) for d in DAYS]
    return train, test


def exact(answers: list[str], expected: list[str]) -> float:
    """Share of answers equal to the expected ones (surrounding whitespace ignored)."""
    assert len(answers) == len(expected) and expected
    return sum(a.strip() == e.strip() for a, e in zip(answers, expected, strict=True)) / len(expected)


def write_jsonl(examples: list[Example]) -> bytes:
    """Examples as JSONL bytes (for ``files.create``)."""
    return b"".join(json.dumps(e).encode() + b"\n" for e in examples)


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CITIES = ["paris", "london", "berlin", "madrid", "rome", "tokyo", "cairo"]


def weather_example(city: str, with_answer: bool = True) -> Example:
    """A tool-calling example: the answer is a ``get_weather`` call for the city asked about."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"weather in {city}"}]
    if with_answer:
        messages.append({"role": "assistant", "tool_calls": [{
            "id": f"call_{city}", "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]})
    return {"messages": messages, "tools": [WEATHER_TOOL]}


def weather(repeats: int = 4) -> tuple[list[Example], list[tuple[Example, str]]]:
    """Training examples and (prompt, expected ``arguments`` JSON) pairs."""
    train = [weather_example(c) for _ in range(repeats) for c in CITIES]
    test = [(weather_example(c, with_answer=False), json.dumps({"city": c})) for c in CITIES]
    return train, test
