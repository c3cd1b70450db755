"""The job status transition table: exactly the moves of DESIGN.md, user-facing refusals."""

from __future__ import annotations

import itertools

import pytest

from scheduler.transitions import (
    ACTIVE,
    STATUSES,
    TERMINAL,
    IllegalTransition,
    allowed_next,
    can_transition,
    check_transition,
    is_terminal,
)

LEGAL = {
    ("validating_files", "queued"), ("validating_files", "failed"), ("validating_files", "cancelled"),
    ("queued", "running"), ("queued", "failed"), ("queued", "cancelled"), ("queued", "paused"),
    ("running", "succeeded"), ("running", "failed"), ("running", "cancelled"), ("running", "paused"),
    ("running", "queued"),
    ("paused", "queued"), ("paused", "cancelled"),
    # the run ended before the pause request reached a step boundary
    ("paused", "succeeded"), ("paused", "failed"),
}


def test_statuses_are_openais_plus_paused() -> None:
    assert {"validating_files", "queued", "running", "succeeded", "failed", "cancelled", "paused"} == STATUSES
    assert {"succeeded", "failed", "cancelled"} == TERMINAL
    assert ACTIVE == STATUSES - TERMINAL


@pytest.mark.parametrize(("current", "new"), sorted(itertools.product(sorted(STATUSES), repeat=2)))
def test_table_allows_exactly_the_designed_moves(current: str, new: str) -> None:
    legal = (current, new) in LEGAL
    assert can_transition(current, new) is legal
    if legal:
        check_transition(current, new)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(current, new)
        assert (info.value.current, info.value.new) == (current, new)
        assert info.value.message == str(info.value)
        assert current in info.value.message


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_terminal_states_have_no_moves(status: str) -> None:
    assert is_terminal(status) is (status in TERMINAL)
    assert (allowed_next(status) == frozenset()) is (status in TERMINAL)


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("succeeded", "cancelled", "Cannot cancel a job with status succeeded"),
        ("failed", "cancelled", "Cannot cancel a job with status failed"),
        ("cancelled", "cancelled", "Cannot cancel a job with status cancelled"),
        ("validating_files", "paused", "Cannot pause a job with status validating_files"),
        ("succeeded", "paused", "Cannot pause a job with status succeeded"),
        ("queued", "queued", "Cannot resume a job with status queued"),
        ("succeeded", "queued", "Cannot resume a job with status succeeded"),
        ("succeeded", "running", "Cannot move a job from status succeeded to running"),
        ("paused", "running", "Cannot move a job from status paused to running"),
    ],
)
def test_refusals_read_as_user_messages(current: str, new: str, message: str) -> None:
    with pytest.raises(IllegalTransition, match=f"^{message}$"):
        check_transition(current, new)


def test_action_overrides_the_wording() -> None:
    with pytest.raises(IllegalTransition, match="^Cannot resume a job with status running$"):
        check_transition("running", "running", action="resume")


def test_error_attributes_for_the_api() -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition("succeeded", "cancelled")
    assert info.value.param is None and info.value.code is None
    assert isinstance(info.value, ValueError)


def test_unknown_status_is_a_programming_error_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="unknown job status 'done'") as info:
        check_transition("running", "done")
    assert not isinstance(info.value, IllegalTransition)
    with pytest.raises(ValueError, match="unknown job status"):
        is_terminal("nope")
