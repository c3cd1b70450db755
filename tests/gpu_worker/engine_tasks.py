"""Deterministic toy tasks for training tests, and a harness that runs the child for real."""

from __future__ import annotations

import json
import random
from typing import Any

POSITIVE = ["good", "great", "excellent", "amazing", "happy", "love", "fine", "glad"]
NEGATIVE = ["bad", "terrible", "awful", "poor", "sad", "hate", "angry", "slow"]
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
