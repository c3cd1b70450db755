"""The one JSONL reader, and every reader of a fine-tuning file agreeing with it.

The upload check, job validation, the training child and ``openft validate`` used to split and
decode lines three different ways: a bad byte on line 13 was "line 1" for the upload check, and
a file with a UTF-8 BOM passed validation and then failed in training.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.services.jsonl_check import check_jsonl
from core.jsonl import JsonlError, iter_lines, iter_objects, iter_records
from core.protocol import file_key
from core.store import LocalStore
from core.validation import DataValidationError, validate_local, validate_stream
from gpu_worker.data import DataError, read_jsonl

BOM = b"\xef\xbb\xbf"


def _chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _example(i: int) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": f"q{i} é"}, {"role": "assistant", "content": f"a{i}"}]}


def _file(n: int = 12) -> bytes:
    return b"".join(json.dumps(_example(i), ensure_ascii=False).encode() + b"\n" for i in range(n))


def test_lines_split_at_any_chunk_boundary() -> None:
    data = BOM + b"a\r\nbb\n\nccc"
    for size in (1, 2, 3, 100):
        assert list(iter_lines(_chunked(data, size))) == [(1, b"a"), (2, b"bb"), (3, b""), (4, b"ccc")]
    assert list(iter_lines([b"", b"x\n", b""])) == [(1, b"x")]
    assert list(iter_lines([])) == []
    assert list(iter_lines([b"y" * 40 + b"\n"], max_line_bytes=40)) == [(1, b"y" * 40)]


def test_a_long_line_is_refused_with_its_number() -> None:
    with pytest.raises(JsonlError) as info:
        list(iter_lines(_chunked(b"ok\n" + b"y" * 50 + b"\n", 8), max_line_bytes=40))
    assert (info.value.code, info.value.line) == ("line_too_long", 2)


def test_a_bom_is_stripped_only_at_the_start_of_the_file() -> None:
    records = list(iter_records(_chunked(BOM + b'{"a": 1}\n{"b": 2}\n', 1)))
    assert [(r.line, r.value) for r in records] == [(1, {"a": 1}), (2, {"b": 2})]
    with pytest.raises(JsonlError) as info:
        list(iter_records([b'{"a": 1}\n' + BOM + b'{"b": 2}\n']))
    assert (info.value.code, info.value.line) == ("invalid_json", 2)


@pytest.mark.parametrize(("data", "code", "line", "fragment"), [
    (b'{"a": 1}\n\n{"b": "\xff"}\n', "invalid_encoding", 3, "byte 0xff at offset 7"),
    (b'{"a": 1}\n{oops\n', "invalid_json", 2, "invalid JSON"),
    (b'[{"a": 1},\n{"b": 2}]\n', "invalid_line", 1, "JSON array"),
    (b'{"a": "\\ud800"}\n', "invalid_encoding", 1, "lone surrogate"),
    (b'{"a": 1}\n3\n', "invalid_line", 2, "expected a JSON object, got a number"),
])
def test_bad_lines_are_named_with_their_number(data: bytes, code: str, line: int, fragment: str) -> None:
    for size in (1, 5, 1 << 20):
        with pytest.raises(JsonlError) as info:
            list(iter_objects(_chunked(data, size)))
        assert (info.value.code, info.value.line) == (code, line)
        assert info.value.message.startswith(f"Line {line}: ") and fragment in info.value.message


def _every_reader(data: bytes, tmp_path: Path) -> dict[str, object]:
    """What the upload check, validation, the training child and the CLI validator make of ``data``."""
    store = LocalStore(tmp_path / "store")
    store.write_bytes(file_key("file-x"), data)
    local = tmp_path / "train.jsonl"
    local.write_bytes(data)
    seen: dict[str, object] = {"upload check": check_jsonl(_chunked(data, 4))}
    for name, run in (("validation", lambda: validate_stream(_chunked(data, 3)).n_examples),
                      ("openft validate", lambda: validate_local(local).n_examples)):
        try:
            seen[name] = run()
        except DataValidationError as exc:
            seen[name] = exc.line
    try:
        seen["training"] = len(read_jsonl(store, "file-x"))
    except DataError as exc:
        seen["training"] = str(exc)
    return seen


def test_every_reader_accepts_a_file_with_a_bom(tmp_path: Path) -> None:
    seen = _every_reader(BOM + _file().replace(b"\n", b"\r\n"), tmp_path)
    assert seen == {"upload check": None, "validation": 12, "openft validate": 12, "training": 12}


def test_every_reader_names_line_13_for_a_bad_byte_on_line_13(tmp_path: Path) -> None:
    data = _file(12) + b'{"messages": "\xe9"}\n' + _file(2)
    seen = _every_reader(data, tmp_path)
    assert seen["validation"] == seen["openft validate"] == 13
    assert isinstance(seen["upload check"], str) and "Line 13: not valid UTF-8" in seen["upload check"]
    assert isinstance(seen["training"], str) and "Line 13: not valid UTF-8" in seen["training"]
    assert "files/" not in seen["training"]  # names the file, never a store key
