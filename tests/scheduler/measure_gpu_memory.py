"""Peak GPU memory of LoRA/QLoRA SFT and DPO with the engine's TRL settings (gpu_worker.config:
padding-free SFT, adamw_torch_fused, gradient checkpointing, LoRA r16 on all projections), on
model shapes with random weights. Not a test: it needs a CUDA GPU, trl, bitsandbytes and
datasets. The figures in test_memory_estimate.py (H100_RUNS) came from it.

Usage: python measure_gpu_memory.py RUN   (one run per process; RUN is a key of RUNS)
Writes $OUT/mem_RUN.json with peak_allocated, peak_reserved and device_used_end (bytes).
"""

import json
import os
import sys
import tempfile
import time

import torch
from model_shapes import LLAMA_1B_TIED, QWEN_05B

OUT = os.environ.get("OUT", tempfile.gettempdir())
SHAPES = {"qwen05": ("qwen2", QWEN_05B), "llama1b_tied": ("llama", LLAMA_1B_TIED)}
RUNS = {  # name: (shape, quant, method, micro, seq_len)
    "qwen05_q4_sft_mb4_4096": ("qwen05", True, "sft", 4, 4096),
    "llama1b_q4_sft_mb4_4096": ("llama1b_tied", True, "sft", 4, 4096),
    "llama1b_bf16_sft_mb4_4096": ("llama1b_tied", False, "sft", 4, 4096),
    "llama1b_q4_dpo_mb2_2048": ("llama1b_tied", True, "dpo", 2, 2048),
}


def make(shape):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    arch, cfg = SHAPES[shape]
    d = os.path.join(tempfile.gettempdir(), "m_" + shape)
    if os.path.exists(d + "/done"):
        return d
    config = AutoConfig.for_model(arch, **cfg, max_position_embeddings=8192, dtype="bfloat16")
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        m = AutoModelForCausalLM.from_config(config)
    torch.set_default_dtype(torch.float32)
    m.save_pretrained(d)
    del m
    torch.cuda.empty_cache()
    vocab = {f"t{i}": i for i in range(cfg["vocab_size"])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="t0", eos_token="t1", bos_token="t2", unk_token="t0"
    )
    tok.save_pretrained(d)
    with open(d + "/done", "w") as f:
        f.write("ok")
    return d


def run(name):
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    shape, quant, method, mb, L = RUNS[name]
    d = make(shape)
    kw = {}
    if quant:
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_quant_storage=torch.uint8,
        )
    torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(
        d, dtype=torch.bfloat16, device_map={"": 0}, attn_implementation="sdpa", **kw
    )
    tok = AutoTokenizer.from_pretrained(d)
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        bias="none",
        task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    common = dict(
        output_dir=os.path.join(tempfile.gettempdir(), "o_" + name),
        per_device_train_batch_size=mb,
        gradient_accumulation_steps=1,
        num_train_epochs=1,
        learning_rate=1e-4,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        optim="adamw_torch_fused",
        bf16=True,
        gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    g = torch.Generator().manual_seed(0)
    n = 3 * mb
    if method == "sft":
        from trl import SFTConfig, SFTTrainer

        rows = []
        for _ in range(n):
            ids = torch.randint(10, 100000, (L,), generator=g).tolist()
            rows.append({"input_ids": ids, "completion_mask": [0] * (L // 2) + [1] * (L - L // 2)})
        args = SFTConfig(**common, max_length=None, packing=False, padding_free=True)
        trainer_class = SFTTrainer
    else:
        from trl import DPOConfig, DPOTrainer

        def text(k):
            return " ".join(f"t{i}" for i in torch.randint(10, 100000, (k,), generator=g).tolist())

        rows = [{"prompt": text(L // 2), "chosen": text(L // 2), "rejected": text(L // 2)} for _ in range(n)]
        args = DPOConfig(
            **common,
            beta=0.1,
            loss_type=["sigmoid"],
            max_length=L,
            truncation_mode="keep_start",
            precompute_ref_log_probs=False,
        )
        trainer_class = DPOTrainer
    tr = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                       peft_config=lora)
    t = time.time()
    tr.train()
    free, total = torch.cuda.mem_get_info()
    res = dict(
        run=name,
        shape=shape,
        quant=quant,
        method=method,
        micro=mb,
        seq_len=L,
        steps=tr.state.global_step,
        train_s=round(time.time() - t, 1),
        peak_allocated=torch.cuda.max_memory_allocated(),
        peak_reserved=torch.cuda.max_memory_reserved(),
        device_used_end=total - free,
    )
    print("RESULT " + json.dumps(res), flush=True)
    with open(f"{OUT}/mem_{name}.json", "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    run(sys.argv[1])
