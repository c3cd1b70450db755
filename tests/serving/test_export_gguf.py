"""GGUF and Ollama exports: the file reloads with transformers' GGUF reader and answers as the
service does; its metadata carries the chat template and the end-of-turn token; the Modelfile's
Go template renders what the Hugging Face template renders."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from serving import gotemplate, tasks

from api.services.export_gguf import PRE_TOKENIZERS, PROBE, write_gguf
from api.services.ollama import TemplateNotTranslatable, turn_format
from core import tiny_chat

SQLITE = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

HELD_OUT = [ex["messages"] for ex, _ in tasks.sentiment()[1][:12]] + [
    ex["messages"] for ex, _ in tasks.next_day()[1]]
CONVERSATIONS = [
    [{"role": "user", "content": "next day: monday"}],
    [{"role": "system", "content": "Answer with JSON."}, {"role": "user", "content": "the film was good"}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
     {"role": "user", "content": "a {{ b }} c\nd"}],
]


def served(client: openai.OpenAI, model: str) -> list[str]:
    return [client.chat.completions.create(model=model, messages=m, temperature=0, max_tokens=12)
            .choices[0].message.content or "" for m in HELD_OUT]


def test_gguf_tokenizer_reads_back_identical_to_the_models(tiny_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from core.catalog import open_tokenizer

    write_gguf(tiny_dir, tmp_path / "base.gguf", "q8_0", "tiny-chat", None)
    ours, theirs = open_tokenizer(tiny_dir), AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="base.gguf")
    texts = [PROBE, "order 12345 costs $678.90", "  two  spaces\n\nand tabs\t!", "<|im_start|>user\nhi<|im_end|>"]
    texts += [ours.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in HELD_OUT[:8]]
    for text in texts:
        assert theirs.encode(text, add_special_tokens=False) == ours.encode(text, add_special_tokens=False), text
    assert theirs.chat_template == ours.chat_template and theirs.eos_token == "<|im_end|>"
    assert theirs.decode(ours.encode(PROBE)) == PROBE


def gguf_greedy(folder: Path, name: str) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=name, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=name)
    out = []
    for messages in HELD_OUT:
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)["input_ids"]
        with torch.inference_mode():
            gen = model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
        out.append(tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True))
    return out


def fetch_gguf(http: Any, model: str, quantization: str, dest: Path) -> Path:
    resp = http.get(f"/v1/models/{model}/content", params={"format": "gguf", "quantization": quantization})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/octet-stream"
    assert int(resp.headers["content-length"]) == len(resp.content)
    assert resp.content[:4] == b"GGUF"
    name = resp.headers["content-disposition"].split('filename="')[1].rstrip('"')
    assert name == model.replace(":", "_") + f"-{quantization}.gguf"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / name).write_bytes(resp.content)
    return dest / name


@pytest.mark.slow
@SQLITE
def test_gguf_reloads_with_transformers_and_answers_as_served(
        client: openai.OpenAI, http: Any, publish_model: Callable[..., str], tmp_path: Path,
        trained: dict[str, Path], settings: Any) -> None:
    import gguf

    model_id = publish_model("proj-a", trained["sentiment"], suffix="mood")
    answers = served(client, model_id)
    assert sum(a == e for a, (_, e) in zip(answers, tasks.sentiment()[1][:12], strict=False)) >= 9

    f16 = fetch_gguf(http, model_id, "f16", tmp_path / "f16")
    assert gguf_greedy(f16.parent, f16.name) == answers
    q8 = fetch_gguf(http, model_id, "q8_0", tmp_path / "q8")
    assert q8.stat().st_size < 0.7 * f16.stat().st_size
    agree = sum(a == b for a, b in zip(gguf_greedy(q8.parent, q8.name), answers, strict=True))
    assert agree >= 0.9 * len(answers)

    reader = gguf.GGUFReader(str(f16))
    fields = {name: field.contents() for name, field in reader.fields.items()}
    tokens = fields["tokenizer.ggml.tokens"]
    assert fields["general.architecture"] == "llama"
    assert fields["tokenizer.chat_template"] == tiny_chat.CHAT_TEMPLATE
    assert tokens[fields["tokenizer.ggml.eot_token_id"]] == "<|im_end|>"
    assert tokens[fields["tokenizer.ggml.eos_token_id"]] == "<|im_end|>"
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] in PRE_TOKENIZERS
    assert {t.name: t.tensor_type.name for t in reader.tensors}["blk.0.attn_q.weight"] == "F16"
    assert not list((settings.data_dir / "exports").iterdir())  # temporary files are gone


@pytest.mark.slow
@SQLITE
def test_ollama_bundle_has_gguf_and_a_modelfile_whose_template_renders_like_the_chat_template(
        http: Any, publish_model: Callable[..., str], trained: dict[str, Path], tiny_dir: Path) -> None:
    from core.catalog import open_tokenizer

    model_id = publish_model("proj-a", trained["next_day"], suffix="days")
    resp = http.get(f"/v1/models/{model_id}/content", params={"format": "ollama", "quantization": "q8_0"})
    assert resp.status_code == 200, resp.text
    top = model_id.replace(":", "_")
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        names = sorted(tar.getnames())
        assert names == [f"{top}/Modelfile", f"{top}/{top}-q8_0.gguf"]
        modelfile = tar.extractfile(f"{top}/Modelfile").read().decode()  # type: ignore[union-attr]
        assert tar.extractfile(f"{top}/{top}-q8_0.gguf").read(4) == b"GGUF"  # type: ignore[union-attr]
    lines = modelfile.splitlines()
    assert lines[0] == f"FROM ./{top}-q8_0.gguf"
    assert 'PARAMETER stop "<|im_end|>"' in lines
    assert "SYSTEM" not in modelfile  # tiny-chat's catalog entry has no default system prompt
    template = modelfile.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    tok = open_tokenizer(tiny_dir)
    for messages in CONVERSATIONS:
        want = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert gotemplate.render(template, messages) == want


LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
    "{{ m.content | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")


def test_templates_of_other_families_translate_or_are_refused(tiny_dir: Path) -> None:
    from core.catalog import open_tokenizer

    tok = open_tokenizer(tiny_dir, LLAMA3_TEMPLATE)
    template = turn_format(tok).go_template()
    for messages in CONVERSATIONS:
        want = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert gotemplate.render(template, messages) == want
    assert template.startswith("<|endoftext|>")  # the BOS the template writes comes first, once

    numbered = ("{% for m in messages %}#{{ loop.index }} {{ m.role }}: {{ m.content }}\n{% endfor %}"
                "{% if add_generation_prompt %}assistant:{% endif %}")
    with pytest.raises(TemplateNotTranslatable):
        turn_format(open_tokenizer(tiny_dir, numbered))
    reordered = ("{% for m in messages|reverse %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")
    with pytest.raises(TemplateNotTranslatable):
        turn_format(open_tokenizer(tiny_dir, reordered))


def test_modelfile_quotes_the_system_prompt_and_lists_each_stop_once(tiny_dir: Path) -> None:
    from api.services import ollama
    from core.catalog import open_tokenizer

    fmt = turn_format(open_tokenizer(tiny_dir))
    text = ollama.modelfile("m.gguf", fmt, ["<|im_end|>", "<|im_end|>"], "You are terse.")
    assert text.count("PARAMETER stop") == 1
    assert text.rstrip().endswith('SYSTEM """You are terse."""')
    with pytest.raises(TemplateNotTranslatable):
        ollama.modelfile("m.gguf", fmt, [], 'say """hi"""')


@SQLITE
def test_bad_export_requests_answer_400_or_404_in_openais_shape(
        http: Any, other_key: str, publish_model: Callable[..., str], trained: dict[str, Path]) -> None:
    mine = publish_model("proj-a", trained["next_day"], suffix="days")
    theirs = publish_model("proj-b", trained["next_day"], suffix="theirs")
    qwen = publish_model("proj-a", trained["next_day"], suffix="q", base="Qwen/Qwen2.5-0.5B-Instruct")
    cases: list[tuple[str, dict[str, str], int, str | None]] = [
        (mine, {"format": "pickle"}, 400, "format"),
        (mine, {"format": "GGUF"}, 400, "format"),
        (mine, {"format": "gguf", "quantization": "q3_k"}, 400, "quantization"),
        (mine, {"format": "ollama", "quantization": "int4"}, 400, "quantization"),
        (mine, {"format": "adapter", "quantization": "q8_0"}, 400, "quantization"),
        (mine, {"format": "merged", "quantization": "f16"}, 400, "quantization"),
        ("tiny-chat", {"format": "gguf"}, 400, "model"),
        ("tiny-chat", {"format": "ollama"}, 400, "model"),
        (qwen, {"format": "gguf"}, 400, "format"),
        (qwen, {"format": "ollama", "quantization": "q8_0"}, 400, "format"),
        (theirs, {"format": "gguf"}, 404, "model"),
        (theirs, {"format": "ollama"}, 404, "model"),
        ("ft:tiny-chat:proj-a:x:nothere1", {"format": "gguf"}, 404, "model"),
    ]
    for model, params, status, param in cases:
        resp = http.get(f"/v1/models/{model}/content", params=params)
        assert resp.status_code == status, (model, params, resp.text)
        error = resp.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], error
        if status == 400:
            assert error["param"] == param, (model, params, error)
        else:
            assert error["code"] == "model_not_found", error
    resp = http.get(f"/v1/models/{theirs}/content", params={"format": "gguf", "quantization": "q8_0"},
                    headers={"Authorization": f"Bearer {other_key}"})
    assert resp.status_code == 200 and resp.content[:4] == b"GGUF"  # the owner gets it


def test_gguf_refuses_other_architectures_and_tokenizers(tiny_dir: Path, tmp_path: Path) -> None:
    import shutil

    from api.services.export_gguf import GGUFUnsupported

    qwen = tmp_path / "qwen"
    shutil.copytree(tiny_dir, qwen)
    config = json.loads((qwen / "config.json").read_text())
    (qwen / "config.json").write_text(json.dumps({**config, "model_type": "qwen2"}))
    with pytest.raises(GGUFUnsupported, match="qwen2"):
        write_gguf(qwen, tmp_path / "q.gguf", "f16", "q", None)
    piece = tmp_path / "piece"
    shutil.copytree(tiny_dir, piece)
    spec = json.loads((piece / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = spec["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first"}
    (piece / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(GGUFUnsupported, match="byte-level"):
        write_gguf(piece, tmp_path / "p.gguf", "f16", "p", None)
    assert not (tmp_path / "q.gguf").exists()
