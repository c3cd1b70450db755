"""Filename checks and the light JSONL check of fine-tune files."""

from __future__ import annotations

import json

import pytest

from api.errors import InvalidRequest
from api.services.filenames import clean_filename
from api.services.jsonl_check import check_jsonl


@pytest.mark.parametrize(
    "name", ["train.jsonl", "déjà vu.jsonl", "a b (1).txt", "..hidden", "x" * 200, "%41.txt"]
)
def test_good_filenames_are_kept(name: str) -> None:
    assert clean_filename(name) == name


def test_missing_filename_is_upload() -> None:
    assert clean_filename(None) == "upload"


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "a/b.jsonl",
        "..\\x",
        "C:\\x.jsonl",
        "..",
        ".",
        "",
        "   ",
        "a\nb",
        "a\x00b",
        "a\x7fb",
        "a%0Ab",
        "a%0d",
        "x\u202etxt.exe",
        "é" * 200,
    ],
)
def test_bad_filenames_are_refused(name: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        clean_filename(name)
    assert err.value.status == 400 and err.value.param == "file" and err.value.code == "invalid_filename"


def _lines(*rows: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_valid_jsonl_any_chunking(chunk: int) -> None:
    data = (
        _lines({"a": "é✓"}, {"b": [1, 2]}) + b"\n" + _lines({"c": None})[:-1]
    )  # blank line, no final newline
    assert check_jsonl(data[i : i + chunk] for i in range(0, len(data), chunk)) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "no JSON lines"),
        (b"\n\n", "no JSON lines"),
        (_lines({"a": 1}) + b"{oops\n", "Line 2: invalid JSON"),
        (_lines({"a": 1}, [1]), "Line 2: expected a JSON object, got an array"),
        (b'"str"\n', "Line 1: expected a JSON object, got a string"),
        (_lines({"a": 1}) + b'{"b": "\xff"}\n', "Line 2: not valid UTF-8"),
        (_lines({"a": 1}) + b"\xc3", "Line 2: not valid UTF-8"),
        (_lines(*[{"a": i} for i in range(12)]) + b'{"b": "\xff"}\n', "Line 13: not valid UTF-8 (byte 0xff"),
        (b'{"a": 1}\r\n{"b": 2} trailing\n', "Line 2: invalid JSON"),
        (b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n', "Line 2: invalid JSON"),  # a BOM only at the start
    ],
)
def test_bad_jsonl_names_the_problem(data: bytes, expected: str) -> None:
    problem = check_jsonl([data])
    assert problem is not None and expected in problem
