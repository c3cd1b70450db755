"""Serving on CUDA: LoRA adapters over a bf16 base, and QLoRA adapters over the 4-bit base they
were trained on (served answers and merged exports match the training process's answers).

Skipped without a GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serving import tasks
from serving.adapters import train_adapter

from api.inference.check import check_model
from api.inference.engine import InferenceEngine
from api.inference.params import Target
from api.inference.server import ModelServer
from api.services.export import merge_to
from api.services.models import Resolved
from core.catalog import get_catalog
from core.generation import SamplingParams
from core.settings import Settings
from core.store import Store
from core.tables import Model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not Path("/dev/nvidiactl").exists(), reason="needs CUDA"),
    pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True),
]


def greedy_generate(model: Any, tok: Any, messages: list[dict[str, Any]], max_new: int = 8) -> str:
    """What a training process would record: plain ``generate``, greedy."""
    import torch

    ids = tok(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
              add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))
    return str(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))


async def test_lora_adapter_on_a_bf16_base_on_cuda(settings: Settings, store: Store, trained: dict[str, Path]) -> None:
    import torch

    settings = settings.model_copy(update={"device": "cuda"})
    store.upload_dir(trained["next_day"], "models/ft_days")
    engine = InferenceEngine(settings, store)
    try:
        base = get_catalog(settings).require("tiny-chat").spec()
        for example, expected in tasks.next_day()[1]:
            prepared = await engine.prepare(Target("ft", base, "models/ft_days"), example["messages"], max_tokens=8)
            result = await engine.generate(prepared, SamplingParams(temperature=0, max_tokens=8))
            assert result.choices[0].text == expected
        model = prepared.slot.model
        assert next(model.parameters()).device.type == "cuda"
        assert model.get_base_model().model.embed_tokens.weight.dtype == torch.bfloat16
        assert engine.stats() == {"tiny-chat/none": {"adapters": 1, "loads": 1}}
    finally:
        engine.close()


async def test_qlora_adapter_serves_and_merges_like_the_training_process(
        settings: Settings, store: Store, tiny_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    settings = settings.model_copy(update={"device": "cuda"})
    examples, held_out = tasks.next_day()
    model, tok = train_adapter(tiny_dir, examples, tmp_path / "qlora", steps=60, lr=1e-2, qlora=True)
    samples = [{"messages": ex["messages"], "answer": greedy_generate(model, tok, ex["messages"]), "max_tokens": 8}
               for ex, _ in held_out]
    assert [s["answer"] for s in samples] == [e for _, e in held_out]  # it learned the task
    del model
    torch.cuda.empty_cache()
    store.upload_dir(tmp_path / "qlora", "models/ft_q")

    server = ModelServer(settings, store)
    try:
        mismatches = await check_model(server, model_id="ft:tiny-chat:p::q", base_model="tiny-chat",
                                       artifact_key="models/ft_q", samples=samples)
        assert mismatches == []
        assert server.engine.stats() == {"tiny-chat/4bit": {"adapters": 1, "loads": 1}}
    finally:
        await server.aclose()

    entry = get_catalog(settings).require("tiny-chat")
    row = Model(id="ft:tiny-chat:p::q", project_id="p", job_id="j", base_model="tiny-chat", artifact_key="models/ft_q")
    merge_to(settings, store, Resolved(row.id, entry, row), tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), dtype=torch.bfloat16).cuda().eval()
    assert [greedy_generate(merged, tok, s["messages"]) for s in samples] == [s["answer"] for s in samples]
