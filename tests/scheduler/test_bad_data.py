"""Every bad training file of tests/data/bad fails with its expected code, param and line."""

from __future__ import annotations

from typing import Any

import pytest
from bad_cases import BAD_DIR, case_bytes, load_cases
from sched_examples import chunked

from core.validation import DataValidationError, validate_stream

CASES = load_cases()


def _validate(case: dict[str, Any], chunk_size: int) -> DataValidationError:
    data = case_bytes(case)
    with pytest.raises(DataValidationError) as info:
        validate_stream(chunked(data, chunk_size), kind=case["method"], param=case["param"])
    return info.value


def test_there_are_enough_cases_and_every_file_is_listed() -> None:
    assert len(CASES) >= 25
    listed = {c["file"] for c in CASES}
    on_disk = {p.name for p in BAD_DIR.glob("*.jsonl")}
    assert on_disk <= listed
    assert listed - on_disk == {"long_line.jsonl"}
    codes = {c["code"] for c in CASES}
    assert {"invalid_n_examples", "invalid_encoding", "invalid_json", "invalid_line", "missing_messages",
            "invalid_message", "unrecognized_role", "missing_content", "invalid_content", "invalid_weight",
            "invalid_tool_call", "invalid_tools", "missing_assistant_message", "invalid_preference_format",
            "wrong_format_for_method", "line_too_long"} <= codes


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_bad_file_reports_code_param_and_line(case: dict[str, Any]) -> None:
    err = _validate(case, 1024 * 1024)
    assert (err.code, err.param, err.line) == (case["code"], case["param"], case["line"])
    assert case["message"] in err.message
    if case["line"] is not None:
        assert err.message.startswith(f"Line {case['line']}: ")
    assert err.as_error() == {"code": case["code"], "message": err.message, "param": case["param"]}


@pytest.mark.parametrize("case", [c for c in CASES if c["file"] != "long_line.jsonl"],
                         ids=[c["file"] for c in CASES if c["file"] != "long_line.jsonl"])
def test_small_chunks_give_the_same_error(case: dict[str, Any]) -> None:
    big = _validate(case, 1024 * 1024)
    small = _validate(case, 7)
    assert (small.code, small.line, small.message) == (big.code, big.line, big.message)


def test_exact_openai_messages_for_too_few_examples() -> None:
    by_file = {c["file"]: c for c in CASES}
    err = _validate(by_file["nine_examples.jsonl"], 4096)
    assert err.message == "Training file has 9 example(s), but must have at least 10 examples"
    assert err.line is None
    err = _validate(by_file["validation_file_empty.jsonl"], 4096)
    assert err.message == "Validation file has 0 example(s), but must have at least 1 example"
    assert err.param == "validation_file"


def test_unknown_role_message_names_line_message_and_rule() -> None:
    case = next(c for c in CASES if c["file"] == "unknown_role.jsonl")
    err = _validate(case, 4096)
    assert err.message == ("Line 3: message 2 has unrecognized role 'bot' "
                           "(expected system, user, assistant, tool or function)")


def test_long_line_fails_before_the_whole_line_is_read() -> None:
    case = next(c for c in CASES if c["file"] == "long_line.jsonl")
    data = case_bytes(case)
    consumed = 0

    def counting() -> Any:
        nonlocal consumed
        for chunk in chunked(data, 64 * 1024):
            consumed += len(chunk)
            yield chunk

    with pytest.raises(DataValidationError) as info:
        validate_stream(counting(), kind="supervised")
    assert info.value.code == "line_too_long" and info.value.line == 2
    assert consumed < 9 * 1024 * 1024 < len(data)
