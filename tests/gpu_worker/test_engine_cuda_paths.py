"""The CUDA fast path's plumbing, checked on the CPU: varlen attention over a padding-free batch
gives the logits of each sequence run alone; selective recomputation leaves the first layers be."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gpu_worker import recompute, varlen_attention


def _reference_varlen(q, k, v, cu_q, cu_k, max_q, max_k, *, window_size=(-1, -1), scale=None,  # type: ignore[no-untyped-def]
                      enable_gqa=False):
    """What FlashAttention's varlen kernel computes, one sequence at a time with SDPA."""
    assert window_size == (-1, 0)  # causal
    out = []
    for a, b in zip(cu_q[:-1].tolist(), cu_q[1:].tolist(), strict=True):
        qs, ks, vs = (x[a:b].transpose(0, 1) for x in (q, k, v))
        out.append(torch.nn.functional.scaled_dot_product_attention(
            qs, ks, vs, is_causal=True, scale=scale, enable_gqa=enable_gqa).transpose(0, 1))
    return torch.cat(out)


@pytest.fixture
def varlen_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(varlen_attention, "_varlen_impl", _reference_varlen)


def test_varlen_attention_matches_separate_sequences(varlen_on_cpu: None, tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    assert varlen_attention.register_varlen_attention()
    packed_model = AutoModelForCausalLM.from_pretrained(str(tiny_dir),
                                                        attn_implementation=varlen_attention.VARLEN_ATTENTION)
    plain_model = AutoModelForCausalLM.from_pretrained(str(tiny_dir), attn_implementation="sdpa")
    seqs = [[5, 17, 300, 42, 9, 77], [8, 1000, 3], [12, 13, 14, 15]]
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(
        [{"input_ids": s} for s in seqs])
    with torch.no_grad():
        packed = packed_model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
        alone = torch.cat([plain_model(input_ids=torch.tensor([s])).logits[0] for s in seqs])
        # without boundaries the sequences would see each other
        leaky = plain_model(input_ids=batch["input_ids"]).logits[0]
    assert torch.allclose(packed, alone, atol=1e-5)
    assert not torch.allclose(leaky, alone, atol=1e-3)
    # generation (no cu_seq_lens, a KV cache) goes through SDPA
    with torch.no_grad():
        out = packed_model.generate(torch.tensor([seqs[0]]), max_new_tokens=3, do_sample=False)
        ref = plain_model.generate(torch.tensor([seqs[0]]), max_new_tokens=3, do_sample=False)
    assert out.tolist() == ref.tolist()


def test_selective_recompute_keeps_first_layers(tiny_dir: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_dir)),
                           LoraConfig(r=4, target_modules="all-linear"))
    assert recompute.enable_recompute(model, keep=1) == 1
    assert [layer.gradient_checkpointing for layer in recompute.decoder_layers(model)] == [False, True]
    model.train()
    out = model(input_ids=torch.tensor([[5, 6, 7, 8]]), labels=torch.tensor([[5, 6, 7, 8]]))
    out.loss.backward()  # the recomputed layer still gets LoRA gradients
    grads = [p.grad for n, p in model.named_parameters() if "layers.1" in n and "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    assert recompute.layers_to_keep(model, max_tokens=1000, budget_bytes=10**9, used_bytes=2 * 10**9) == 0
    assert recompute.layers_to_keep(model, max_tokens=10, budget_bytes=10**12, used_bytes=0) == 2


def test_resume_keeps_bf16_adapter_weights(tiny_dir: Path, tmp_path: Path) -> None:
    """QLoRA on CUDA trains bf16 LoRA weights; PEFT's load_adapter up-casts them to float32 on
    resume, which would make a resumed run compute differently from the run it continues."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from core.catalog import open_tokenizer
    from gpu_worker.job import keep_dtypes_on_resume

    def trainer() -> SFTTrainer:
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_dir)),
                               LoraConfig(r=4, target_modules="all-linear"))
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.to(torch.bfloat16)
        args = SFTConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none",
                         gradient_checkpointing=False)
        return SFTTrainer(model=model, args=args, processing_class=open_tokenizer(tiny_dir),
                          train_dataset=Dataset.from_dict({"input_ids": [[5, 6, 7]], "labels": [[5, 6, 7]]}))

    saved = trainer()
    saved.save_model(str(tmp_path / "ckpt"))

    def lora_dtypes(t: SFTTrainer) -> set[torch.dtype]:
        return {p.dtype for n, p in t.model.named_parameters() if "lora_" in n}

    plain = trainer()
    plain._load_from_checkpoint(str(tmp_path / "ckpt"))
    assert lora_dtypes(plain) == {torch.float32}  # what PEFT does on its own
    kept = trainer()
    keep_dtypes_on_resume(kept, "bfloat16")
    kept._load_from_checkpoint(str(tmp_path / "ckpt"))
    assert lora_dtypes(kept) == {torch.bfloat16}
    want = {n: p for n, p in saved.model.named_parameters() if "lora_" in n}
    assert all(torch.equal(p, want[n]) for n, p in kept.model.named_parameters() if "lora_" in n)
