"""A table of grader cases with hand-checked values: every operation and metric, templates,
unicode, empty strings, missing fields, multi formulas."""

from __future__ import annotations

from typing import Any

import pytest

from core.graders import Sample, grade, parse_grader
from core.settings import Settings

ITEM = {"answer": "Paris", "n": 3, "flag": True, "tags": ["x", "y"], "nested": {"city": "Köln"}, "empty": ""}


def sc(op: str, input: str, reference: str) -> dict[str, Any]:
    return {"type": "string_check", "name": "sc", "operation": op, "input": input, "reference": reference}


def ts(metric: str, input: str, reference: str) -> dict[str, Any]:
    return {"type": "text_similarity", "name": "ts", "evaluation_metric": metric, "input": input,
            "reference": reference}


CASES: list[tuple[str, dict[str, Any], str, float]] = [
    # string_check: (id, grader, model sample, expected reward)
    ("eq", sc("eq", "{{sample.output_text}}", "{{item.answer}}"), "Paris", 1.0),
    ("eq-case", sc("eq", "{{sample.output_text}}", "{{item.answer}}"), "paris", 0.0),
    ("ne", sc("ne", "{{sample.output_text}}", "{{item.answer}}"), "Lyon", 1.0),
    ("ne-same", sc("ne", "{{sample.output_text}}", "{{item.answer}}"), "Paris", 0.0),
    ("like-contains", sc("like", "{{sample.output_text}}", "{{item.answer}}"), "It is Paris.", 1.0),
    ("like-case", sc("like", "{{sample.output_text}}", "{{item.answer}}"), "it is paris.", 0.0),
    ("like-percent", sc("like", "{{sample.output_text}}", "It%Paris"), "It is Paris.", 1.0),
    ("like-underscore-literal", sc("like", "{{sample.output_text}}", "snake_case"), "snakeXcase", 0.0),
    ("ilike", sc("ilike", "{{sample.output_text}}", "{{item.answer}}"), "IT IS PARIS", 1.0),
    ("ilike-unicode", sc("ilike", "{{sample.output_text}}", "{{item.nested.city}}"), "KÖLN!", 1.0),
    ("ilike-missing", sc("ilike", "{{sample.output_text}}", "{{item.answer}}"), "Lyon", 0.0),
    ("eq-number-json", sc("eq", "{{sample.output_text}}", "{{item.n}}"), "3", 1.0),
    ("eq-bool-json", sc("eq", "{{item.flag}}", "true"), "", 1.0),
    ("eq-list-index", sc("eq", "{{item.tags[1]}}", "y"), "", 1.0),
    ("eq-list-json", sc("eq", "{{item.tags}}", '["x","y"]'), "", 1.0),
    ("eq-output-json", sc("eq", "{{sample.output_json.city}}", "{{item.nested.city}}"), '{"city": "Köln"}', 1.0),
    ("eq-empty", sc("eq", "{{sample.output_text}}", "{{item.empty}}"), "", 1.0),
    ("eq-spaces-in-braces", sc("eq", "{{ sample.output_text }}", "{{  item.answer }}"), "Paris", 1.0),
    ("literal-text", sc("eq", "a {b} c", "a {b} c"), "", 1.0),
    # text_similarity, hand-checked on "a b c d" vs "a b x y" (see each comment)
    # fuzzy_match = Indel ratio: 7+7 chars, LCS "a b  " = 5 -> 2*5/14
    ("fuzzy", ts("fuzzy_match", "{{sample.output_text}}", "a b x y"), "a b c d", 10 / 14),
    ("fuzzy-kitten", ts("fuzzy_match", "{{sample.output_text}}", "sitting"), "kitten", 8 / 13),
    # BLEU: precisions 2/4, 1/3, then exp smoothing 1/(2*2), 1/(4*1); brevity penalty 1
    ("bleu", ts("bleu", "{{sample.output_text}}", "a b x y"), "a b c d", (0.5 * (1 / 3) * 0.25 * 0.25) ** 0.25),
    # GLEU: min(precision, recall) over 1-4-grams: (2 + 1 + 0 + 0) / (4 + 3 + 2 + 1)
    ("gleu", ts("gleu", "{{sample.output_text}}", "a b x y"), "a b c d", 0.3),
    # METEOR: m=2, P=R=1/2, Fmean=1/2, one chunk: penalty 0.5*(1/2)^3
    ("meteor", ts("meteor", "{{sample.output_text}}", "a b x y"), "a b c d", 0.5 * (1 - 0.0625)),
    # METEOR stem stage (no WordNet needed): cats~cat, m=3, P=R=1, 1 chunk: 1 - 0.5*(1/3)^3
    ("meteor-stem", ts("meteor", "{{sample.output_text}}", "the cat sat"), "the cats sat", 1 - 0.5 / 27),
    ("rouge_1", ts("rouge_1", "{{sample.output_text}}", "a b x y"), "a b c d", 0.5),
    ("rouge_2", ts("rouge_2", "{{sample.output_text}}", "a b x y"), "a b c d", 1 / 3),
    ("rouge_3", ts("rouge_3", "{{sample.output_text}}", "a b x y"), "a b c d", 0.0),
    ("rouge_4", ts("rouge_4", "{{sample.output_text}}", "a b c d e g"), "a b c d e f", 2 / 3),
    ("rouge_5", ts("rouge_5", "{{sample.output_text}}", "a b c d e g"), "a b c d e f", 0.5),
    ("rouge_l", ts("rouge_l", "{{sample.output_text}}", "a x b y"), "a b c d", 0.5),
    # unicode words count as words: {grüße, aus} of 3 each
    ("rouge_1-unicode", ts("rouge_1", "{{sample.output_text}}", "grüße aus Berlin"), "Grüße aus Köln", 2 / 3),
    ("identical-empty", ts("bleu", "{{sample.output_text}}", "{{item.empty}}"), "", 1.0),
    ("one-empty", ts("rouge_l", "{{sample.output_text}}", "{{item.answer}}"), "", 0.0),
    ("identical", ts("meteor", "{{sample.output_text}}", "{{item.answer}}"), "Paris", 1.0),
]


@pytest.mark.parametrize(("grader", "sample", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_grader_table(grader: dict[str, Any], sample: str, expected: float) -> None:
    result = await grade(parse_grader(grader), item=ITEM, sample=Sample.from_text(sample), settings=Settings())
    assert not result.failed, result.errors
    assert result.reward == pytest.approx(expected, abs=1e-9)
    assert result.scores == {grader["name"]: result.reward}
    assert result.execution_time > 0


MISSING = [
    ("item-field", sc("eq", "{{item.nope}}", "x"), "x", False),
    ("item-deep", sc("eq", "{{item.nested.town}}", "x"), "x", False),
    ("item-index", sc("eq", "{{item.tags[5]}}", "x"), "x", False),
    ("namespace", sc("eq", "{{foo.bar}}", "x"), "x", False),
    ("sample-field", ts("fuzzy_match", "{{sample.nope}}", "x"), "x", False),
    ("output-json-not-json", sc("eq", "{{sample.output_json.city}}", "x"), "not json", True),
    ("output-json-field", sc("eq", "{{sample.output_json.town}}", "x"), '{"city": "x"}', False),
]


@pytest.mark.parametrize(("grader", "sample", "parse_error"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
async def test_missing_variables_are_flagged_not_raised(grader: dict[str, Any], sample: str,
                                                        parse_error: bool) -> None:
    result = await grade(parse_grader(grader), item=ITEM, sample=Sample.from_text(sample), settings=Settings())
    assert result.reward == 0.0
    assert result.errors["invalid_variable_error"] is True
    assert result.errors["sample_parse_error"] is parse_error
    others = [k for k, v in result.errors.items() if v and k not in ("invalid_variable_error", "sample_parse_error")]
    assert others == []


def _multi(formula: str, **graders: dict[str, Any]) -> dict[str, Any]:
    return {"type": "multi", "name": "m", "calculate_output": formula, "graders": graders}


@pytest.mark.parametrize(("formula", "expected"), [
    ("a", 1.0), ("(a + b) / 2", 0.5 + 0.5 * 8 / 13), ("0.3 * a + 0.7 * b", 0.3 + 0.7 * 8 / 13),
    ("min(a, b)", 8 / 13), ("max(a, b) - abs(-0.5)", 0.5), ("a if b > 0.5 else 0", 1.0),
    ("clip(a * 2, 0, 1)", 1.0), ("sqrt(a) + floor(b)", 1.0),
])
async def test_multi_formula(formula: str, expected: float) -> None:
    spec = _multi(formula, a=sc("eq", "{{sample.output_text}}", "kitten"),
                  b=ts("fuzzy_match", "{{sample.output_text}}", "sitting"))
    result = await grade(parse_grader(spec), item={}, sample=Sample.from_text("kitten"), settings=Settings())
    assert not result.failed
    assert result.reward == pytest.approx(expected)
    assert result.sub_rewards == pytest.approx({"a": 1.0, "b": 8 / 13})
    assert result.scores["m"] == result.reward


async def test_multi_runtime_formula_error_is_flagged() -> None:
    spec = _multi("a / b", a=sc("eq", "x", "x"), b=sc("eq", "x", "y"))  # b scores 0: division by zero
    result = await grade(parse_grader(spec), item={}, sample=Sample.from_text(""), settings=Settings())
    assert result.errors["formula_parse_error"] is True and result.reward == 0.0
    assert result.sub_rewards == {"a": 1.0, "b": 0.0}


async def test_multi_sub_grader_variable_error_zeroes_the_reward() -> None:
    spec = _multi("a + b", a=sc("eq", "x", "x"), b=sc("eq", "{{item.missing}}", "y"))
    result = await grade(parse_grader(spec), item={}, sample=Sample.from_text(""), settings=Settings())
    assert result.errors["invalid_variable_error"] is True and result.reward == 0.0


async def test_no_sample_means_sample_variables_are_missing() -> None:
    result = await grade(parse_grader(sc("eq", "{{sample.output_text}}", "x")), item={}, sample=None,
                         settings=Settings())
    assert result.errors["invalid_variable_error"] is True


async def test_a_grader_without_a_name_is_known_by_its_type() -> None:
    # OpenAI's guide writes graders like this one (no name)
    spec = {"type": "multi", "calculate_output": "(name + email) / 2", "graders": {
        "name": {"type": "text_similarity", "input": "{{sample.output_json.name}}", "reference": "{{item.name}}",
                 "evaluation_metric": "fuzzy_match"},
        "email": {"type": "string_check", "input": "{{sample.output_json.email}}", "reference": "{{item.email}}",
                  "operation": "eq"}}}
    grader = parse_grader(spec)
    assert grader.name == "multi"
    result = await grade(grader, item={"name": "kitten", "email": "a@b.c"},
                         sample=Sample.from_text('{"name": "sitting", "email": "a@b.c"}'), settings=Settings())
    assert result.reward == pytest.approx((8 / 13 + 1) / 2) and result.sub_rewards["email"] == 1.0
