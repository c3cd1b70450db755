"""Deterministic toy tasks for training tests, and a harness that runs the child for real."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

POSITIVE = "good great excellent amazing happy love fine glad".split()
NEGATIVE = "bad terrible awful poor sad hate angry slow".split()
SYSTEM = "Classify the sentiment of the review. Answer with JSON."


def _subjects() -> list[str]:
    words = "the movie|the food|the hotel|the service|this book|the delivery|my order|the price|the room|the train"
    return words.split("|")


def sentiment_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Chat examples: a short review -> {"label": "positive"|"negative"}."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["positive", "negative"])
        word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        review = f"{rng.choice(_subjects()).capitalize()} was {word}{rng.choice(['.', '!', ''])}"
        rows.append({"messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": review},
            {"role": "assistant", "content": json.dumps({"label": label})},
        ]})
    return rows


def preference_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preference pairs from chat rows: the right JSON preferred over the wrong label."""
    out = []
    for row in rows:
        good = row["messages"][-1]["content"]
        label = json.loads(good)["label"]
        bad = json.dumps({"label": "negative" if label == "positive" else "positive"})
        out.append({"input": {"messages": row["messages"][:-1]},
                    "preferred_output": [{"role": "assistant", "content": good}],
                    "non_preferred_output": [{"role": "assistant", "content": bad}]})
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> bytes:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(data)
    return data


NAMES = "alice bob carol dave eve frank grace heidi ivan judy oscar peggy victor walter".split()
CITIES = "paris london berlin madrid rome tokyo cairo lima ottawa canberra".split()
TEMPLATES = ["My name is {n} and I live in {c}.", "I am {n}, from {c}.", "{n} here, writing from {c}!",
             "Hello, this is {n} in {c}."]


def extraction_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Chat examples: a sentence -> {"name": ..., "city": ...} copied from it."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        text = rng.choice(TEMPLATES).format(n=name.capitalize(), c=city.capitalize())
        rows.append({"messages": [
            {"role": "system", "content": "Extract the name and the city as JSON."},
            {"role": "user", "content": text},
            {"role": "assistant", "content": json.dumps({"name": name, "city": city})},
        ]})
    return rows
