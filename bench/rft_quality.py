"""Reinforcement fine-tuning quality: an SFT parent against its RFT children, in one run.

Starts ``openft serve`` (a subprocess, its own data dir) and does what a user of the OpenAI API
does with the official client: a short SFT job on ``number_word`` (a number word to digits) makes
a parent that gets part of the way (GRPO learns from prompts the model gets sometimes right, see
docs/training.md); two reinforcement jobs continue from it with every hyperparameter ``"auto"``
(or ``--rft-hyperparameters``), one graded by a ``string_check`` grader and one by a ``python``
grader (partial credit for a right digit count). By default (``--rft-on new-phrasings``) the
reinforcement lines are prompts in phrasings the parent never saw, the way RFT is used to carry
a model to a new kind of prompt it can be graded on; the held-out prompts are other prompts in
those phrasings (none is a training line). ``--rft-on sft-phrasings`` trains on more lines in the
SFT file's phrasings instead. Held-out prompts are answered greedily by the parent and each child
and scored through ``/v1/fine_tuning/alpha/graders/run`` with the job's own grader. Prints parent
vs child mean scores and each job's wall time side by side.

    python bench/rft_quality.py [--base tiny-chat] [--n-sft 80] [--sft-epochs 8] [--n-rft 60] [--n-test 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_quality import KEY, free_port, number_word_task, start_server, upload, wait_job, wait_ready  # noqa: E402

STRING_CHECK = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}", "operation": "eq"}
PYTHON = {"type": "python", "name": "digits", "source": (
    "def grade(sample, item):\n"
    "    out, want = sample['output_text'].strip(), item['answer']\n"
    "    if out == want:\n        return 1.0\n"
    "    return 0.2 if out.isdigit() and len(out) == len(want) else 0.0\n")}


def rft_rows(train: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reinforcement lines from SFT lines: the prompt, and the answer as ``item.answer``."""
    return [{"messages": row["messages"][:-1], "answer": row["messages"][-1]["content"]} for row in train]


def held_out_score(client: Any, model: str, test: list[tuple[list[dict[str, str]], str]], grader: dict) -> float:
    total = 0.0
    for messages, want in test:
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=0.0)
        out = client.fine_tuning.alpha.graders.run(grader=grader, model_sample=reply.choices[0].message.content or "",
                                                   item={"answer": want})
        total += out.reward
    return total / len(test)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="tiny-chat")
    parser.add_argument("--n-sft", type=int, default=80)
    parser.add_argument("--sft-epochs", type=int, default=8)
    parser.add_argument("--n-rft", type=int, default=60)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--rft-on", choices=["new-phrasings", "sft-phrasings"], default="new-phrasings",
                        help="the reinforcement lines: prompts in the held-out phrasings (other prompts than the "
                             "test's), or more lines in the SFT file's phrasings")
    parser.add_argument("--rft-hyperparameters", type=json.loads, default={},
                        help='JSON for the reinforcement jobs, e.g. {"n_epochs": 16} (default: all "auto")')
    args = parser.parse_args()
    import openai

    if args.rft_on == "new-phrasings":
        sft_rows, new_prompts = number_word_task(args.n_sft, args.n_rft + args.n_test, seed=1)
        rft_train = [{"messages": messages, "answer": want} for messages, want in new_prompts[:args.n_rft]]
        test = new_prompts[args.n_rft:]
    else:
        sft_train, test = number_word_task(args.n_sft + args.n_rft, args.n_test, seed=1)
        sft_rows, rft_train = sft_train[:args.n_sft], rft_rows(sft_train[args.n_sft:])
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(Path(tmp), port)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_ready(base_url)
            client = openai.OpenAI(base_url=base_url + "/v1", api_key=KEY)
            job = client.fine_tuning.jobs.create(
                model=args.base, training_file=upload(client, "sft", sft_rows), suffix="parent",
                method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": args.sft_epochs}}})
            job, sft_seconds, _ = wait_job(client, job)
            if job.status != "succeeded":
                print(f"SFT parent {job.status}: {job.error}")
                return 1
            parent = job.fine_tuned_model
            train_id = upload(client, "rft", rft_train)
            print(f"{'grader':<14}{'parent':>8}{'child':>8}{'gain':>8}{'SFT s':>8}{'RFT s':>8}{'steps':>7}")
            for grader in (STRING_CHECK, PYTHON):
                before = held_out_score(client, parent, test, grader)
                child = client.fine_tuning.jobs.create(
                    model=parent, training_file=train_id, suffix=f"rft-{grader['type'].replace('_', '-')}",
                    method={"type": "reinforcement", "reinforcement": {
                        "grader": grader, "hyperparameters": args.rft_hyperparameters}})
                child, rft_seconds, steps = wait_job(client, child)
                if child.status != "succeeded":
                    print(f"{grader['type']:<14}{before:>8.2f}  RFT {child.status}: {child.error}")
                    continue
                after = held_out_score(client, child.fine_tuned_model, test, grader)
                resolved = child.method.reinforcement.hyperparameters if child.method and child.method.reinforcement \
                    else None
                print(f"{grader['type']:<14}{before:>8.2f}{after:>8.2f}{after - before:>+8.2f}"
                      f"{sft_seconds:>8.0f}{rft_seconds:>8.0f}{steps:>7}  {resolved.to_dict() if resolved else ''}",
                      flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
