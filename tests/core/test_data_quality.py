"""The data quality pass on a corpus with planted duplicates, near duplicates, leakage and
personal data and secrets among clean examples: it finds at least 95% of what was planted and
flags at most 2% of the clean lines."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from core.data_quality import QualityPass
from core.sensitive import find, redact

WORDS = ["river", "mountain", "coffee", "window", "garden", "yellow", "quiet", "travel", "museum", "engine", "ticket",
         "winter", "orange", "library", "forest", "bridge", "market", "silver", "planet", "doctor", "music", "summer",
         "village", "camera", "theater", "kitchen", "harbor", "letter", "morning", "island", "pencil", "rocket",
         "tunnel", "violin", "wallet", "castle", "desert", "feather", "glacier", "honey", "jungle", "lantern",
         "meadow", "needle", "ocean", "pepper", "quartz", "saddle", "tomato", "umbrella", "velvet", "whistle",
         "anchor", "blanket", "candle", "dragon", "eagle", "falcon", "ginger", "hammer", "igloo"]

PLANTED_SENSITIVE = {
    "email": ["write to maria.rossi@example.org today", "cc ops-team+alerts@corp.example.co.uk please"],
    "phone": ["call me on +44 20 7946 0958", "my number is (415) 555-0132"],
    "credit_card": ["card 4111 1111 1111 1111 expires soon", "pay with 5500-0000-0000-0004"],
    "iban": ["transfer to DE89 3704 0044 0532 0130 00", "account GB82WEST12345698765432"],
    "ip_address": ["the host is 192.168.10.77", "ping 2001:db8::8a2e:370:7334 now"],
    "secret": [
        "aws key AKIAIOSFODNN7EXAMPLE here", "token ghp_1234567890abcdefghijABCDEFGHIJ123456",
        "use sk-proj-abcdefghijklmnopqrstT3BlbkFJuvwxyz0123456789ABCD",
        "slack xoxb-123456789012-1234567890123-abcdefghijABCDEFGHIJklmn",
        "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "-----BEGIN RSA PRIVATE KEY----- MIIEpAIBAAKCAQEA",
        "db url postgres://admin:s3cretpw@db.example.com/app",
    ],
}


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _example(user: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def _reword(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(rng.choice((1, 2))):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def _corpus() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, set[int]]]:
    rng = random.Random(7)
    clean = [_example(_sentence(rng, 16), _sentence(rng, 10)) for _ in range(400)]
    train: list[dict[str, Any]] = list(clean)
    planted: dict[str, set[int]] = {"exact": set(), "near": set(), "sensitive": set(), "leak": set()}
    for i in range(20):  # exact copies with case and whitespace changes
        src = clean[i * 3]["messages"]
        train.append(_example("  " + src[1]["content"].upper(), src[2]["content"] + "  "))
        planted["exact"].add(len(train))
    for i in range(20):  # one or two words changed
        src = clean[100 + i * 3]["messages"]
        train.append(_example(_reword(rng, src[1]["content"]), src[2]["content"]))
        planted["near"].add(len(train))
    for values in PLANTED_SENSITIVE.values():
        for value in values:
            for _ in range(2):
                train.append(_example(f"{_sentence(rng, 6)} {value} {_sentence(rng, 4)}", _sentence(rng, 8)))
                planted["sensitive"].add(len(train))
    valid = [_example(_sentence(rng, 16), _sentence(rng, 10)) for _ in range(20)]
    for i in range(10):
        src = clean[200 + i]["messages"]
        user = src[1]["content"] if i % 2 else _reword(rng, src[1]["content"])
        valid.append(_example(user, src[2]["content"]))
        planted["leak"].add(len(valid))
    return train, valid, planted


@pytest.fixture(scope="module")
def report() -> tuple[dict[str, Any], dict[str, set[int]], int]:
    train, valid, planted = _corpus()
    quality = QualityPass()
    for line, obj in enumerate(train, 1):
        quality.add("training_file", line, obj)
    for line, obj in enumerate(valid, 1):
        quality.add("validation_file", line, obj)
    return quality.report(), planted, len(train)


def _lines(clusters: list[list[int]]) -> set[int]:
    return {line for cluster in clusters for line in cluster[1:]}


def test_duplicates_and_near_duplicates_are_found(report: tuple[dict[str, Any], dict[str, set[int]], int]) -> None:
    rep, planted, n_train = report
    train = rep["files"]["training_file"]
    exact = _lines(train["exact_duplicates"]["clusters"])
    near = _lines(train["near_duplicates"]["clusters"])
    assert len(planted["exact"] & exact) >= 0.95 * len(planted["exact"])
    assert len(planted["near"] & (near | exact)) >= 0.95 * len(planted["near"])
    false_flags = (exact | near) - planted["exact"] - planted["near"]
    assert len(false_flags) <= 0.02 * n_train, sorted(false_flags)
    assert any("exact and" in w and "near duplicate" in w for w in rep["warnings"])


def test_leakage_from_training_into_validation_is_found(
        report: tuple[dict[str, Any], dict[str, set[int]], int]) -> None:
    rep, planted, _ = report
    leak = rep["leakage"]
    found = {p["validation_line"] for p in leak["exact"] + leak["near"]}
    assert len(planted["leak"] & found) >= 0.95 * len(planted["leak"])
    assert len(found - planted["leak"]) <= 1
    assert any("duplicate training examples" in w for w in rep["warnings"])


def test_personal_data_and_secrets_are_found_without_their_values(
    report: tuple[dict[str, Any], dict[str, set[int]], int]
) -> None:
    rep, planted, n_train = report
    sensitive = rep["files"]["training_file"]["sensitive"]
    assert set(sensitive) == set(PLANTED_SENSITIVE)
    flagged = {line for entry in sensitive.values() for line in entry["lines"]}
    assert len(planted["sensitive"] & flagged) >= 0.95 * len(planted["sensitive"])
    assert len(flagged - planted["sensitive"]) <= 0.02 * n_train
    assert all(entry["fields"] == ["messages.content"] for entry in sensitive.values())
    text = repr(rep)
    for values in PLANTED_SENSITIVE.values():
        for value in values:
            for token in value.split():
                if len(token) > 8 and any(c.isdigit() for c in token):
                    assert token not in text  # the report never repeats a value


@pytest.mark.parametrize("kind", list(PLANTED_SENSITIVE))
def test_redact_leaves_no_planted_value(kind: str) -> None:
    for value in PLANTED_SENSITIVE[kind]:
        redacted, found = redact(f"before {value} after")
        assert found and f"[{kind.upper()}]" in redacted
        assert not find(redacted)


def test_a_dominant_answer_and_empty_answers_are_reported() -> None:
    quality = QualityPass()
    for line in range(1, 21):
        quality.add("training_file", line, _example(f"review {line}", "positive" if line <= 17 else ""))
    rep = quality.report()
    answers = rep["files"]["training_file"]["answers"]
    assert answers["top"][0] == {"share": 0.85, "count": 17, "answer": "positive"}
    assert answers["empty"] == {"count": 3, "lines": [18, 19, 20]}
    assert "Training file: one answer is 85% of all answers." in rep["warnings"]


def test_unrelated_examples_are_not_near_duplicates_however_many() -> None:
    """LSH band collisions grow with the square of the file: each candidate is checked against
    its signature, so 1,500 unrelated examples (a Zipf draw from 5,000 words) give no flags."""
    rng = random.Random(11)
    vocabulary = sorted({"".join(rng.choice("aeioukstrnlmp") for _ in range(rng.randint(3, 9))) for _ in range(5000)})
    cum = list(itertools.accumulate(1 / k for k in range(1, len(vocabulary) + 1)))
    quality = QualityPass()
    for line in range(1, 1501):
        user = " ".join(rng.choices(vocabulary, cum_weights=cum, k=rng.randint(12, 30)))
        quality.add("training_file", line, _example(user, " ".join(rng.choices(vocabulary, cum_weights=cum, k=6))))
    assert quality.report()["files"]["training_file"]["near_duplicates"] == {"n_examples": 0, "share": 0.0,
                                                                            "clusters": []}
