"""Test adapters: a short deterministic LoRA training loop on ``tiny-chat``, and publishing.

:func:`train_adapter` writes what the training engine publishes under ``models/{id}``: the
PEFT adapter, the tokenizer with its chat template, and ``lineage.json``. Loss is on the
assistant's tokens including ``<|im_end|>``, so the model learns to stop. :func:`publish`
uploads such a folder and records the ``Job`` and ``Model`` rows the scheduler would create.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from core import ids
from core.db import session_scope
from core.messages import template_messages
from core.protocol import model_prefix
from core.store import Store
from core.tables import Job, Model, Project


def train_adapter(model_dir: Path, examples: list[dict[str, Any]], out: Path, *, steps: int = 80,
                  lr: float = 5e-3, batch_size: int = 16, seed: int = 0, rank: int = 16,
                  qlora: bool = False) -> Any:
    """Fine-tune a LoRA adapter on chat ``examples`` and save it (with tokenizer, lineage) to ``out``.

    ``qlora``: train over the base loaded in 4-bit NF4 on CUDA, as QLoRA jobs do. Returns the
    trained model (in eval mode) and its tokenizer.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from core.catalog import open_tokenizer

    torch.manual_seed(seed)
    tok = open_tokenizer(model_dir)
    device = "cuda" if qlora else "cpu"
    if qlora:
        from transformers import BitsAndBytesConfig

        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=torch.bfloat16, device_map={"": 0},
            quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                   bnb_4bit_use_double_quant=True,
                                                   bnb_4bit_compute_dtype=torch.bfloat16))
    else:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    rows = []
    for ex in examples:
        msgs = template_messages(ex["messages"])  # the shape training and serving render
        tools = ex.get("tools")
        prompt = tok.apply_chat_template(msgs[:-1], tools=tools, add_generation_prompt=True, tokenize=False)
        full = tok.apply_chat_template(msgs, tools=tools, tokenize=False)
        assert full.startswith(prompt)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        f_ids = tok(full, add_special_tokens=False)["input_ids"]
        rows.append((f_ids, [-100] * len(p_ids) + f_ids[len(p_ids):]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    rng = random.Random(seed)
    model.train()
    for _ in range(steps):
        batch = [rows[rng.randrange(len(rows))] for _ in range(batch_size)]
        width = max(len(ids_) for ids_, _ in batch)
        input_ids = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i, _ in batch], device=device)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch], device=device)
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch], device=device)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    (out / "lineage.json").write_text(json.dumps({
        "base_model": "tiny-chat", "quantization": "4bit" if qlora else "none", "seed": seed, "steps": steps,
        "final_loss": float(loss.detach()),
    }))
    return model, tok


def publish(engine: Engine, store: Store, project_id: str, adapter_dir: Path, *, suffix: str = "t",
            kind: str = "fine-tune", job_status: str = "succeeded", base: str = "tiny-chat",
            artifact_key: str | None = None, upload: bool = True) -> str:
    """Upload an adapter folder and create the Job and Model rows; returns the ``ft:`` id.

    ``upload=False`` leaves the store alone (the caller put the files under ``artifact_key``).
    """
    model_id = ids.fine_tuned_model_id(base, project_id, suffix)
    if kind == "checkpoint":
        model_id += ":ckpt-step-10"
    key = artifact_key or model_prefix(model_id)
    if upload:
        store.upload_dir(adapter_dir, key)
    with session_scope(engine) as session:
        if session.get(Project, project_id) is None:
            session.add(Project(id=project_id))
            session.flush()
        job = Job(id=ids.job_id(), project_id=project_id, model=base, base_model=base,
                  training_file="file-x", seed=0, status=job_status, fine_tuned_model=model_id)
        session.add(job)
        session.flush()
        session.add(Model(id=model_id, project_id=project_id, job_id=job.id, base_model=base,
                          artifact_key=key, kind=kind))
    return model_id
