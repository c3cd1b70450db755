"""Training data -> tokens and labels: assistant-only loss, weight 0, end-of-turn, tools, DPO rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.catalog import open_tokenizer
from core.store import LocalStore
from gpu_worker import data
from gpu_worker.data import IGNORE

# a Llama-3-style template without generation markers (the span logic must not rely on them)
LLAMA_LIKE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
    "{{ m.content }}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

CONVERSATION = {"messages": [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Say one."},
    {"role": "assistant", "content": "one", "weight": 0},
    {"role": "user", "content": "Say two."},
    {"role": "assistant", "content": "two"},
]}


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path):  # type: ignore[no-untyped-def]
    return open_tokenizer(tiny_dir)


def trained_text(tokenizer, ids: list[int], labels: list[int]) -> str:  # type: ignore[no-untyped-def]
    return tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE])


def test_weight_zero_messages_get_no_loss_on_collated_labels(tokenizer) -> None:  # type: ignore[no-untyped-def]
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    weighted = data.sft_example(CONVERSATION, tokenizer, 512)
    unweighted = data.sft_example(
        {"messages": [{k: v for k, v in m.items() if k != "weight"} for m in CONVERSATION["messages"]]},
        tokenizer, 512)
    for padding_free in (False, True):
        collator = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=padding_free)
        batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in (weighted, unweighted)])
        rows = batch["labels"].reshape(-1).tolist() if padding_free else batch["labels"].tolist()
        ids = batch["input_ids"].reshape(-1).tolist() if padding_free else batch["input_ids"].tolist()
        if padding_free:
            n = len(weighted.input_ids)
            texts = [trained_text(tokenizer, ids[:n], rows[:n]), trained_text(tokenizer, ids[n:], rows[n:])]
        else:
            texts = [trained_text(tokenizer, i, lab) for i, lab in zip(ids, rows, strict=True)]
        assert texts == ["two<|im_end|>", "one<|im_end|>two<|im_end|>"]


def test_only_assistant_tokens_and_end_of_turn_are_trained(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ex = data.sft_example(CONVERSATION, tokenizer, 512)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    trained = [i for i, lab in enumerate(ex.labels) if lab != IGNORE]
    assert ex.labels[trained[-1]] == end  # the end-of-turn token is trained, the newline after it is not
    assert ex.input_ids[trained[-1] + 1:] == tokenizer("\n", add_special_tokens=False)["input_ids"]
    # same spans as the template's own {% generation %} markers
    masks = tokenizer.apply_chat_template(CONVERSATION["messages"], return_dict=True,
                                          return_assistant_tokens_mask=True)["assistant_masks"]
    assert [i for i, m in enumerate(masks) if m][-len(trained):] == trained


def test_spans_without_generation_markers(tokenizer) -> None:  # type: ignore[no-untyped-def]
    tokenizer = open_tokenizer(Path(tokenizer.name_or_path), chat_template=LLAMA_LIKE)
    ex = data.sft_example(CONVERSATION, tokenizer, 512)
    assert trained_text(tokenizer, ex.input_ids, ex.labels) == "two<|im_end|>"


def test_truncation_and_examples_without_trained_tokens(tokenizer) -> None:  # type: ignore[no-untyped-def]
    long = {"messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]}
    ex = data.sft_example(long, tokenizer, 32)
    assert len(ex.input_ids) == 32 and ex.n_trained == 0
    kept = data.sft_examples([long, CONVERSATION], tokenizer, 64)
    assert len(kept) == 1 and kept[0].n_trained > 0


def test_tools_and_legacy_function_calls_render(tokenizer) -> None:  # type: ignore[no-untyped-def]
    row = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"role": "function", "name": "get_weather", "content": "sunny"},
            {"role": "assistant", "content": [{"type": "text", "text": "It is sunny."}]},
        ],
        "functions": [{"name": "get_weather", "parameters": {"type": "object"}}],
    }
    ex = data.sft_example(row, tokenizer, 512)
    text = tokenizer.decode(ex.input_ids)
    assert '"name": "get_weather"' in text.split("<|im_end|>")[0]  # the tool list, in the system turn
    assert trained_text(tokenizer, ex.input_ids, ex.labels) == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'
        "It is sunny.<|im_end|>")


def test_training_renders_messages_in_the_shape_serving_renders() -> None:
    """Tool-call arguments arrive as JSON strings; templates that ``tojson`` them (Llama 3.1,
    Qwen 2.5) must get the object, in training as in serving, or the model learns escaped JSON."""
    from core.messages import template_messages

    messages = [{"role": "user", "content": [{"type": "text", "text": "Paris?"}], "weight": 1},
                {"role": "assistant", "content": None, "weight": 0,
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}]
    shaped, trained = data.normalize_messages(messages)
    assert shaped == template_messages(messages) and trained == [False, False]
    assert shaped[1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}


def test_preference_rows_and_prompts() -> None:
    row = {"input": {"messages": [{"role": "user", "content": "Hi"}],
                     "tools": [{"type": "function", "function": {"name": "f"}}]},
           "preferred_output": [{"role": "assistant", "content": "Hello!"}],
           "non_preferred_output": [{"role": "assistant", "content": "Go away."}]}
    out = data.dpo_rows([row, {**row, "input": {"messages": row["input"]["messages"]}}])
    assert out[0]["prompt"] == [{"role": "user", "content": "Hi"}]
    assert out[0]["chosen"] == [{"role": "assistant", "content": "Hello!"}]
    assert out[0]["rejected"][0]["content"] == "Go away."
    assert json.loads(out[0]["tools"])[0]["function"]["name"] == "f" and out[1]["tools"] == "[]"
    messages, tools, want = data.prompt_of(row)
    assert messages == [{"role": "user", "content": "Hi"}] and want == "Hello!" and tools
    with pytest.raises(data.DataError):
        data.dpo_row({"messages": []})


def test_read_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("files/file-x", b'{"messages": []}\n\n[1]\n')
    with pytest.raises(data.DataError, match="file-x: Line 3: expected a JSON object"):
        data.read_jsonl(store, "file-x")
