"""Token counts with the real tiny-chat tokenizer and chat template (core.catalog)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sched_examples import TOOLS, chat_example, chunked, jsonl, preference_example, tool_example

from core.formats import Conversation, check_example
from core.settings import Settings
from core.tokens import CountsTokens, TemplateRenderError, TokenCounter
from core.validation import DataValidationError, validate_local, validate_stream


def _reference_length(counter: TokenCounter, conv: Conversation) -> int:
    """What ``apply_chat_template(tokenize=True)`` gives: the definition we must match."""
    out = counter.tokenizer.apply_chat_template(conv.messages, tools=conv.tools, tokenize=True)
    ids = out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out
    return len(ids)


def test_counter_matches_apply_chat_template(tiny_counter: TokenCounter) -> None:
    convs = [check_example(chat_example(i), "supervised").conversations[0] for i in range(3)]
    convs += [check_example(tool_example(i), "supervised").conversations[0] for i in range(3)]
    counts = tiny_counter.count(convs)
    assert counts == [_reference_length(tiny_counter, c) for c in convs]
    assert all(n > 10 for n in counts)
    # tools are rendered into the prompt, so the tool examples are longer
    assert min(counts[3:]) > max(counts[:3])
    assert isinstance(tiny_counter, CountsTokens)
    assert tiny_counter.max_length == 1024


def test_rendering_uses_the_chatml_template(tiny_counter: TokenCounter) -> None:
    conv = check_example(chat_example(1, system=False), "supervised").conversations[0]
    assert tiny_counter.render(conv) == (
        '<|im_start|>user\nreview 1: the food was great<|im_end|>\n'
        '<|im_start|>assistant\n{"label": "positive"}<|im_end|>\n'
    )
    with_tools = Conversation(conv.messages, TOOLS)
    assert "get_weather" in tiny_counter.render(with_tools)


def test_validation_reports_token_figures(tiny_counter: TokenCounter) -> None:
    rows = [chat_example(i) for i in range(8)] + [tool_example(i) for i in range(4)]
    convs = [check_example(r, "supervised").conversations[0] for r in rows]
    lengths = tiny_counter.count(convs)
    result = validate_stream(chunked(jsonl(rows), 100), counter=tiny_counter)
    assert result.total_tokens == sum(lengths)
    assert result.max_example_tokens == max(lengths)
    assert result.min_example_tokens == min(lengths)
    assert result.max_length == 1024
    assert result.n_truncated == 0
    assert result.trained_tokens_per_epoch == sum(lengths)


def test_examples_over_max_length_are_counted_as_truncated(tiny_counter: TokenCounter) -> None:
    rows = [chat_example(i) for i in range(10)] + [tool_example(i) for i in range(3)]
    lengths = tiny_counter.count([check_example(r, "supervised").conversations[0] for r in rows])
    limit = max(lengths[:10]) + 1  # every tool example is longer than every plain one
    result = validate_stream([jsonl(rows)], counter=tiny_counter, max_length=limit)
    assert result.n_truncated == 3
    assert result.trained_tokens_per_epoch == sum(min(n, limit) for n in lengths)
    assert result.total_tokens == sum(lengths)


def test_preference_length_is_the_longer_answer(tiny_counter: TokenCounter) -> None:
    example = preference_example(0)
    example["non_preferred_output"][0]["content"] = "negative " * 40
    convs = check_example(example, "dpo").conversations
    assert len(convs) == 2
    chosen, rejected = tiny_counter.count(list(convs))
    assert rejected > chosen
    result = validate_stream([jsonl([example] * 10)], kind="dpo", counter=tiny_counter)
    assert result.max_example_tokens == rejected
    assert result.total_tokens == 10 * rejected


def test_many_batches_add_up(tiny_counter: TokenCounter) -> None:
    rows = [chat_example(i) for i in range(700)]  # three token batches of at most 256
    lengths = tiny_counter.count([check_example(r, "supervised").conversations[0] for r in rows])
    result = validate_stream(chunked(jsonl(rows), 4096), counter=tiny_counter)
    assert result.n_examples == 700 and result.total_tokens == sum(lengths)


def test_template_error_names_the_line(tiny_counter: TokenCounter) -> None:
    template = ("{% for m in messages %}{% if m.role == 'tool' %}"
                "{{ raise_exception('tool messages are not supported') }}{% endif %}"
                "{{ m.role }}: {{ m.content }}\n{% endfor %}")
    strict = TokenCounter(tiny_counter.tokenizer, max_length=64, chat_template=template)
    rows = [chat_example(i) for i in range(12)]
    rows[6] = tool_example(6)
    with pytest.raises(DataValidationError) as info:
        validate_stream([jsonl(rows)], counter=strict, model_name="strict-model")
    err = info.value
    assert (err.code, err.line, err.param) == ("template_error", 7, "training_file")
    assert err.message.startswith("Line 7: the chat template of model 'strict-model' cannot render")
    assert "tool messages are not supported" in err.message
    with pytest.raises(TemplateRenderError) as raw:
        strict.count([check_example(tool_example(0), "supervised").conversations[0]])
    assert raw.value.index == 0


def test_counts_are_the_same_from_several_threads(tiny_counter: TokenCounter) -> None:
    convs = [check_example(chat_example(i), "supervised").conversations[0] for i in range(200)]
    expected = tiny_counter.count(convs)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(TokenCounter(tiny_counter.tokenizer, 1024).count(convs))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == expected for r in results) and len(results) == 20


def test_validate_local_with_the_catalog_model(tiny_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl([chat_example(i) for i in range(10)]))
    result = validate_local(path, "tiny-chat", tiny_settings)
    assert result.n_examples == 10
    assert result.total_tokens is not None and result.total_tokens > 100
    assert result.max_length == 1024 and result.n_truncated == 0
    dpo = tmp_path / "dpo.jsonl"
    dpo.write_bytes(jsonl([preference_example(i) for i in range(10)]))
    assert validate_local(dpo, "tiny-chat", tiny_settings, kind="dpo").n_examples == 10


def test_counter_needs_a_template(tiny_counter: TokenCounter) -> None:
    class NoTemplate:
        chat_template = None

    with pytest.raises(ValueError, match="no chat template"):
        TokenCounter(NoTemplate())
