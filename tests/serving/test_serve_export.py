"""Export: the adapter and the merged weights reload with plain transformers/peft and answer
exactly as the service does."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from serving import tasks

from core.store import Store

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

PROMPTS = [tasks.next_day_example(d, with_answer=False)["messages"] for d in ("monday", "friday", "sunday")]


def served(client: openai.OpenAI, model: str) -> list[str]:
    return [client.chat.completions.create(model=model, messages=m, temperature=0, max_tokens=8)
            .choices[0].message.content or "" for m in PROMPTS]


def hf_greedy(model: Any, tokenizer: Any) -> list[str]:
    """Greedy answers with plain ``generate``, as a user of the exported files would run it."""
    import torch

    out = []
    for messages in PROMPTS:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
        with torch.inference_mode():
            gen = model.generate(ids, max_new_tokens=8, do_sample=False,
                                 eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                                 pad_token_id=tokenizer.pad_token_id)
        out.append(tokenizer.decode(gen[0, ids.shape[1]:], skip_special_tokens=True))
    return out


def download(http: Any, model: str, fmt: str, dest: Path) -> tuple[Path, Any]:
    resp = http.get(f"/v1/models/{model}/content", params={"format": fmt})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/x-tar"
    assert int(resp.headers["content-length"]) == len(resp.content)
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        names = tar.getnames()
        tar.extractall(dest, filter="data")
    tops = {n.split("/")[0] for n in names}
    assert len(tops) == 1
    return dest / tops.pop(), resp


def test_exported_adapter_reloads_with_peft_and_reproduces_served_answers(
        client: openai.OpenAI, http: Any, publish_model: Callable[..., str], trained: dict[str, Path],
        tiny_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id = publish_model("proj-a", trained["next_day"], suffix="days")
    answers = served(client, model_id)
    assert answers == ["tuesday", "saturday", "monday"]

    folder, resp = download(http, model_id, "adapter", tmp_path)
    assert folder.name == model_id.replace(":", "_")
    assert model_id.replace(":", "_") in resp.headers["content-disposition"]
    files = sorted(p.name for p in folder.iterdir())
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "lineage.json"} <= set(files)
    assert "_MANIFEST.json" not in files
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny-chat"

    base = AutoModelForCausalLM.from_pretrained(str(tiny_dir))
    model = PeftModel.from_pretrained(base, str(folder)).eval()
    assert hf_greedy(model, AutoTokenizer.from_pretrained(str(folder))) == answers


def test_exported_merged_weights_reload_with_transformers_and_reproduce_served_answers(
        client: openai.OpenAI, http: Any, publish_model: Callable[..., str], trained: dict[str, Path],
        tmp_path: Path, settings: Any) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id = publish_model("proj-a", trained["next_day"], suffix="days")
    answers = served(client, model_id)
    folder, _ = download(http, model_id, "merged", tmp_path)
    files = {p.name for p in folder.iterdir()}
    assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
    assert "adapter_config.json" not in files
    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert hf_greedy(model, AutoTokenizer.from_pretrained(str(folder))) == answers
    assert not list((settings.data_dir / "exports").iterdir())  # the merge folder is gone


def test_checkpoint_export_leaves_trainer_state_out(http: Any, publish_model: Callable[..., str],
                                                    trained: dict[str, Path], store: Store, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["next_day"], ckpt / "adapter")
    (ckpt / "optimizer.pt").write_bytes(b"\0" * 100)
    (ckpt / "trainer_state.json").write_text("{}")
    store.upload_dir(ckpt, "jobs/ftjob-c/checkpoints/step-10")
    model_id = publish_model("proj-a", trained["next_day"], kind="checkpoint", upload=False,
                             artifact_key="jobs/ftjob-c/checkpoints/step-10/adapter")
    folder, _ = download(http, model_id, "adapter", tmp_path / "out")
    names = {p.name for p in folder.iterdir()}
    assert "adapter_model.safetensors" in names
    assert not names & {"optimizer.pt", "trainer_state.json", "adapter"}


def test_export_errors(http: Any, other_key: str, publish_model: Callable[..., str],
                       trained: dict[str, Path]) -> None:
    theirs = publish_model("proj-b", trained["next_day"])
    resp = http.get(f"/v1/models/{theirs}/content")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "model_not_found"
    resp = http.get("/v1/models/tiny-chat/content")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "model_not_exportable"
    resp = http.get(f"/v1/models/{theirs}/content", params={"format": "pickle"},
                    headers={"Authorization": f"Bearer {other_key}"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "format"
