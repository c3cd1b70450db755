"""QLoRA SFT throughput on one GPU: stock TRL + PEFT + bitsandbytes against the openft engine.

Runs, in this one script on one GPU, on the same random-weight model (Llama-3.1-8B shape, and
the Llama-3.2-1B shape) and the same data, each in a fresh process:

- ``A``: the recipe of shared/reference/gpu-baseline.md variant A (padding, paged AdamW);
- ``B``: variant B (+ TRL packing, BFD, padding-free, SDPA);
- ``ours``: ``gpu_worker.sft.build_trainer``, the code path of a real job (padding-free
  micro-batches through varlen FlashAttention, selective recomputation, bf16 norms), with
  the same LoRA (r16, alpha 32, dropout 0.05, all linear layers), NF4 + double quantization,
  16 examples per optimizer step and max length 2048.

and prints tokens/s, peak allocated memory and the ratios ``ours/B`` (target >= 1.25 at <= 16 GiB)
and ``ours/A`` (target >= 3.5).

Data: pre-tokenized random ids, lognormal lengths (median 300, clipped to 16..2048), loss on
the last 60% of each example. Tokens/s = all tokens of the data / wall time of ``train()``.

Usage: ``python bench/train_throughput.py [--shapes 8b,1b] [--variants A,B,ours] [--examples 384]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHAPES: dict[str, dict[str, Any]] = {
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256),
}
LORA: dict[str, Any] = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05}
BATCH = 16  # examples per optimizer step
MAX_LENGTH = 2048
OUR_BUDGET_GIB = 15.0  # ours must stay under 16 GiB peak


def model_dir(shape: str) -> Path:
    return Path(os.environ.get("OPENFT_BENCH_DIR", tempfile.gettempdir())) / f"openft-bench-{shape}"


# --- model and data (as in gpu_baseline.py) ---------------------------------------------------
def make(shape: str) -> None:
    """A random-weight Llama of ``shape`` saved as safetensors, with a word-level tokenizer."""
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    d = model_dir(shape)
    if (d / "done").exists():
        return
    t = time.time()
    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=8192, rope_theta=500000.0,
                      tie_word_embeddings=False, torch_dtype="bfloat16")  # type: ignore[call-arg]
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    model.save_pretrained(d, max_shard_size="5GB")
    vocab = {f"t{i}": i for i in range(SHAPES[shape]["vocab_size"])}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")),
                                  pad_token="t0", eos_token="t1", bos_token="t2", unk_token="t0")
    tok.save_pretrained(d)
    (d / "done").write_text("ok")
    print(f"made {shape} in {time.time() - t:.1f}s", flush=True)


def examples(n: int, seed: int = 0) -> tuple[list[tuple[list[int], list[int]]], int]:
    """(prompt ids, completion ids) pairs and the total token count."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lens = np.clip(rng.lognormal(mean=math.log(300), sigma=0.8, size=n), 16, MAX_LENGTH).astype(int)
    rows = []
    for length in lens:
        ids = rng.integers(10, 128000, size=int(length)).tolist()
        p = max(1, int(length * 0.4))
        rows.append((ids[:p], ids[p:]))
    return rows, int(lens.sum())


# --- variants ------------------------------------------------------------------------------
def run_baseline(variant: str, shape: str, n: int) -> dict[str, Any]:
    """gpu_baseline.py's variants A (padding) and B (packing), unchanged."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    d = model_dir(shape)
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.bfloat16, device_map={"": 0},
                                                 attn_implementation="sdpa", quantization_config=quant)
    load_s = time.time() - t0
    tok = AutoTokenizer.from_pretrained(d)
    rows, ntok = examples(n)
    ds = Dataset.from_list([{"input_ids": p + c, "completion_mask": [0] * len(p) + [1] * len(c)} for p, c in rows])
    lora = LoraConfig(**LORA, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    args = SFTConfig(output_dir=tempfile.mkdtemp(), num_train_epochs=1, per_device_train_batch_size=4,
                     gradient_accumulation_steps=BATCH // 4, gradient_checkpointing=True, learning_rate=2e-4,
                     lr_scheduler_type="cosine", bf16=True, optim="paged_adamw_32bit", logging_steps=1,
                     save_strategy="no", report_to="none", max_length=MAX_LENGTH, packing=variant == "B",
                     dataloader_num_workers=2, disable_tqdm=True)
    torch.cuda.reset_peak_memory_stats()
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    return _train(trainer, variant, shape, ntok, load_s)


def run_ours(shape: str, n: int) -> dict[str, Any]:
    """The engine's own trainer (gpu_worker.sft.build_trainer) on the same model and data."""
    import torch

    sys.path.insert(0, str(ROOT))
    from core.catalog import open_tokenizer
    from gpu_worker.config import TrainPlan
    from gpu_worker.data import IGNORE, SFTExample
    from gpu_worker.sft import build_trainer

    d = model_dir(shape)
    rows, ntok = examples(n)
    train = [SFTExample(p + c, [IGNORE] * len(p) + c) for p, c in rows]
    micro = int(os.environ.get("OPENFT_BENCH_MICRO", BATCH))
    plan = TrainPlan(
        method="supervised", device="cuda", quantization="4bit", dtype="bfloat16", adapter_dtype="bfloat16",
        lora_rank=LORA["r"], lora_alpha=LORA["lora_alpha"], lora_dropout=LORA["lora_dropout"], batch_size=BATCH,
        micro_batch_size=micro,
        grad_accum=BATCH // micro, n_epochs=1, learning_rate=2e-4, beta=0.1, max_length=MAX_LENGTH, packing=True,
        gradient_checkpointing=True, recompute=os.environ.get("OPENFT_BENCH_RECOMPUTE", "auto"),
        memory_budget_bytes=int(OUR_BUDGET_GIB * 2**30), checkpoint_every_steps=0, eval_every_steps=0,
        n_examples=n, steps_per_epoch=math.ceil(n / BATCH), total_steps=math.ceil(n / BATCH), seed=0,
    )
    t0 = time.time()
    torch.cuda.reset_peak_memory_stats()
    trainer = build_trainer(plan, d, open_tokenizer(d), train, Path(tempfile.mkdtemp()))
    load_s = time.time() - t0
    from transformers.trainer_callback import PrinterCallback

    from gpu_worker.recompute import decoder_layers

    trainer.remove_callback(PrinterCallback)
    layers = decoder_layers(trainer.model)
    extra = {"attention": trainer.model.config._attn_implementation,
             "recomputed_layers": sum(1 for x in layers if x.gradient_checkpointing), "layers": len(layers)}
    return _train(trainer, "ours", shape, ntok, load_s, extra)


def _train(trainer: Any, variant: str, shape: str, ntok: int, load_s: float,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    import torch

    torch.cuda.synchronize()
    t1 = time.time()
    trainer.train()
    torch.cuda.synchronize()
    train_s = time.time() - t1
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return dict(variant=variant, shape=shape, load_s=round(load_s, 1), train_s=round(train_s, 1), tokens=ntok,
                tok_per_s=round(ntok / train_s), steps=trainer.state.global_step,
                peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2),
                first_loss=round(losses[0], 3) if losses else None,
                last_loss=round(losses[-1], 3) if losses else None, **(extra or {}))


# --- orchestration ---------------------------------------------------------------------------
def _child(args: list[str], timeout: float) -> dict[str, Any] | None:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT "):])
            return result
    tail = (proc.stdout + proc.stderr)[-3000:]
    print(f"--- {' '.join(args)} failed (exit {proc.returncode}):\n{tail}", flush=True)
    return None


def report(results: list[dict[str, Any]]) -> None:
    by = {(r["shape"], r["variant"]): r for r in results}
    print(f"\n{'shape':5} {'variant':7} {'tokens/s':>9} {'peak GiB':>9} {'train s':>8} {'steps':>6} "
          f"{'x A':>6} {'x B':>6}  notes")
    for r in results:
        a, b = by.get((r["shape"], "A")), by.get((r["shape"], "B"))
        xa = f"{r['tok_per_s'] / a['tok_per_s']:.2f}" if a else "-"
        xb = f"{r['tok_per_s'] / b['tok_per_s']:.2f}" if b else "-"
        notes = ""
        if r["variant"] == "ours":
            notes = f"{r.get('attention')}, recompute {r.get('recomputed_layers')}/{r.get('layers')} layers"
        print(f"{r['shape']:5} {r['variant']:7} {r['tok_per_s']:>9,} {r['peak_gib']:>9.2f} {r['train_s']:>8.1f} "
              f"{r['steps']:>6} {xa:>6} {xb:>6}  {notes}")
    for shape in sorted({r["shape"] for r in results}):
        ours, a, b = by.get((shape, "ours")), by.get((shape, "A")), by.get((shape, "B"))
        if ours and b:
            ok = ours["tok_per_s"] >= 1.25 * b["tok_per_s"] and ours["peak_gib"] <= 16
            print(f"{shape}: ours/B = {ours['tok_per_s'] / b['tok_per_s']:.2f} (target >= 1.25 at <= 16 GiB, "
                  f"peak {ours['peak_gib']:.2f} GiB): {'met' if ok else 'NOT met'}")
        if ours and a:
            ratio = ours["tok_per_s"] / a["tok_per_s"]
            print(f"{shape}: ours/A = {ratio:.2f} (target >= 3.5): {'met' if ratio >= 3.5 else 'NOT met'}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_make":
        make(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        variant, shape, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
        result = run_ours(shape, n) if variant == "ours" else run_baseline(variant, shape, n)
        print("RESULT " + json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="8b,1b")
    parser.add_argument("--variants", default="A,B,ours")
    parser.add_argument("--examples", type=int, default=384)
    parser.add_argument("--timeout", type=float, default=900)
    opts = parser.parse_args()
    import torch

    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}", flush=True)
    results = []
    for shape in opts.shapes.split(","):
        subprocess.run([sys.executable, __file__, "_make", shape], check=True, cwd=ROOT)
        for variant in opts.variants.split(","):
            found = _child(["_run", variant, shape, str(opts.examples)], opts.timeout)
            if found is not None:
                print("RESULT " + json.dumps(found), flush=True)
                results.append(found)
    report(results)


if __name__ == "__main__":
    main()
