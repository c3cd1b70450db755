"""The skills a base model already has: greedy answers to fresh draws of tiny-chat's own corpus.

A fine-tune only points a skill the base has at its task; a base that cannot copy a name out of
its own corpus will not learn to copy unseen names from 200 examples. So a candidate base is
measured here first (a minute), and only a base that has the skills is worth the fine-tuning
bench (``bench/finetune_quality.py``, many minutes). For each skill of
:data:`core.tiny_chat.corpus.SKILLS`, ``--n`` fresh draws (a seed the pretraining stream never
uses) are rendered through the ChatML template and answered greedily; a draw counts when the
answer is exactly the corpus's. ``--show`` prints a few answers of the named skills.

A last line repeats *real* names (``Repeat: Chloe Mia Berlin``: two of the fine-tuning bench's
first names and one of its cities, ``--n`` prompts) and counts the words repeated exactly: the
corpus's own names are made up, and a base can copy those and still not the names users send.

    python bench/base_skills.py [--model-dir DIR] [--n 24] [--show extract_json,repeat]

Without ``--model-dir`` the pretrained tiny-chat of this checkout is used (built into the build
cache, ``OPENFT_BASE_BUILD_CACHE`` or ``~/.cache/openft``, when it is not there yet).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE_SEED = 777  # not the pretraining seed: these draws are not the ones the base trained on


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a model directory (default: the pretrained tiny-chat)")
    parser.add_argument("--n", type=int, default=24, help="draws per skill")
    parser.add_argument("--show", default="", help="comma-separated skills whose answers are printed (real_names too)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from core.settings import Settings
    from core.tiny_chat.build_cache import ensure_built
    from core.tiny_chat.corpus import SKILLS
    from core.tiny_chat.pretrain import render_chat
    from core.tiny_chat.tokenizer import IM_END

    model_dir = args.model_dir or ensure_built(Settings().base_build_cache)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    end = tokenizer.convert_tokens_to_ids(IM_END)
    show = set(filter(None, args.show.split(",")))
    rng = random.Random(PROBE_SEED)

    def answer(example: tuple[str | None, str, str]) -> str:
        ids, labels = render_chat(example, tokenizer)
        prompt = [t for t, label in zip(ids, labels, strict=True) if label == -100]
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), max_new_tokens=48, do_sample=False,
                                 eos_token_id=end, pad_token_id=tokenizer.pad_token_id)
        return str(tokenizer.decode(out[0, len(prompt):].tolist(), skip_special_tokens=True)).strip()

    total = 0
    for make, _ in SKILLS:
        hits = 0
        for i in range(args.n):
            example = make(rng)
            reply = answer(example)
            hits += reply == example[2]
            if make.__name__ in show and i < 4:
                print(f"    {make.__name__}: {example[1][-50:]!r} -> {reply!r} (want {example[2]!r})")
        total += hits
        print(f"{make.__name__:<18} {hits:>3}/{args.n}", flush=True)
    print(f"{'all':<18} {total:>3}/{args.n * len(SKILLS)}")
    sys.path.insert(0, str(ROOT / "bench"))
    from finetune_quality import CITIES, FIRST_NAMES

    words = 0
    for i in range(args.n):
        names = [*rng.sample(FIRST_NAMES, 2), rng.choice(CITIES)]
        reply = answer((None, "Repeat: " + " ".join(names), ""))
        words += sum(got == want for got, want in zip(reply.split(), names, strict=False))
        if "real_names" in show and i < 4:
            print(f"    real_names: {' '.join(names)!r} -> {reply!r}")
    print(f"{'real names (words)':<18} {words:>3}/{3 * args.n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
