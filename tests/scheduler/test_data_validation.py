"""Streaming validation of good files: both formats, line handling, hashing, constant memory."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sched_examples import chat_example, chunked, jsonl, preference_example, tool_example

from core.formats import FormatError, check_example
from core.messages import template_messages
from core.validation import DataValidationError, validate_local, validate_stream


def test_chat_file_with_tools_weights_and_parts_is_valid() -> None:
    rows = [chat_example(i) for i in range(6)] + [tool_example(i) for i in range(6)]
    data = jsonl(rows)
    result = validate_stream(chunked(data, 1000), kind="supervised")
    assert result.n_examples == 12 and result.n_lines == 12
    assert result.n_bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.method == "supervised"
    assert result.total_tokens is None and result.n_truncated is None


def test_preference_file_is_valid_for_dpo() -> None:
    result = validate_stream(chunked(jsonl([preference_example(i) for i in range(10)]), 333), kind="dpo")
    assert result.n_examples == 10 and result.method == "dpo"


def test_legacy_functions_and_function_role_are_accepted() -> None:
    example = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "function_call": {"name": "get_weather", "arguments": '{"city": "rome"}'}},
            {"role": "function", "name": "get_weather", "content": "21"},
            {"role": "assistant", "content": "21 degrees"},
        ],
        "functions": [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}],
    }
    assert validate_stream([jsonl([example] * 10)]).n_examples == 10


def test_crlf_bom_blank_lines_and_missing_final_newline() -> None:
    body = jsonl([chat_example(i) for i in range(10)], newline="\r\n")
    data = b"\xef\xbb\xbf" + body.replace(b"\r\n", b"\r\n\r\n   \r\n", 1).rstrip(b"\r\n")
    result = validate_stream(chunked(data, 5), kind="supervised")
    assert result.n_examples == 10
    assert result.n_lines == 12  # two blank lines are skipped but keep their numbers


def test_line_numbers_count_blank_lines() -> None:
    rows: list[object] = [chat_example(i) for i in range(12)]
    rows.insert(1, "")
    rows.insert(2, "")
    rows[4] = '{"messages": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]}'
    with pytest.raises(DataValidationError) as info:
        validate_stream([jsonl(rows)])
    assert info.value.line == 5 and info.value.code == "unrecognized_role"


def test_validation_file_needs_one_example_and_says_so() -> None:
    result = validate_stream([jsonl([chat_example(0)])], param="validation_file")
    assert result.n_examples == 1
    with pytest.raises(DataValidationError) as info:
        validate_stream([jsonl([chat_example(0)] * 3)], param="training_file")
    assert info.value.message == "Training file has 3 example(s), but must have at least 10 examples"


def test_null_keys_count_as_absent() -> None:
    example = chat_example(0)
    example["messages"][-1].update({"tool_calls": None, "function_call": None, "name": None})
    assert validate_stream([jsonl([example] * 10)]).n_examples == 10


@pytest.mark.parametrize("weight", [0, 1, 1.0])
def test_weights_zero_and_one_are_valid(weight: float) -> None:
    example = chat_example(0)
    example["messages"].append({"role": "user", "content": "again"})
    example["messages"].append({"role": "assistant", "content": "ok", "weight": weight})
    assert validate_stream([jsonl([example] * 10)]).n_examples == 10


def test_boolean_weight_is_refused() -> None:
    example = chat_example(0)
    example["messages"][-1]["weight"] = True
    with pytest.raises(FormatError, match="weight must be 0 or 1, got true"):
        check_example(example, "supervised")


def test_template_messages_shape() -> None:
    messages = tool_example(3)["messages"]
    out = template_messages(messages)
    assert out[0]["content"] == "weather in city 3?"
    assert "weight" not in out[1]
    assert out[3]["tool_calls"][0]["function"]["arguments"] == {"city": "c3"}
    assert out[3]["content"] == ""  # templates may concatenate content: never undefined
    assert out[5]["content"] == "It is 21 degrees."
    legacy = template_messages([
        {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "1"},
    ])
    call = {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": {}}}
    assert legacy[0]["tool_calls"] == [call]
    assert legacy[1] == {"role": "tool", "content": "1"}
    assert messages[0]["content"] == [{"type": "text", "text": "weather in city 3?"}]  # input untouched


def _big_stream(n_bytes: int) -> Iterator[bytes]:
    """~n_bytes of valid JSONL with ~5 KB examples, generated chunk by chunk (never held whole)."""
    produced = i = 0
    while produced < n_bytes:
        rows = [chat_example(i + k) for k in range(100)]
        for row in rows:
            row["messages"][1]["content"] += " and more" * 550
        chunk = jsonl(rows)
        i += 100
        produced += len(chunk)
        yield chunk


def test_fifty_megabytes_validate_in_constant_memory() -> None:
    tracemalloc.start()
    try:
        result = validate_stream(_big_stream(50 * 1024 * 1024), kind="supervised")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.n_bytes >= 50 * 1024 * 1024
    assert result.n_examples > 9_000
    # one generated chunk (~0.5 MB), its lines and one parsed example: nothing grows with the file
    assert peak < 6 * 1024 * 1024, peak


def test_validate_local_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl([chat_example(i) for i in range(11)]))
    result = validate_local(path)
    assert result.n_examples == 11 and result.total_tokens is None
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl([chat_example(0), "{not json"]))
    with pytest.raises(DataValidationError) as info:
        validate_local(bad)
    assert (info.value.code, info.value.line) == ("invalid_json", 2)


def test_result_to_dict_is_json_ready() -> None:
    result = validate_stream([jsonl([chat_example(i) for i in range(10)])])
    assert json.loads(json.dumps(result.to_dict()))["n_examples"] == 10


def test_programming_errors_are_not_data_errors() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        validate_stream([b""], kind="rlhf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="param must be"):
        validate_stream([b""], param="test_file")
