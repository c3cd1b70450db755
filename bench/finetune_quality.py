"""Fine-tuning quality across tasks: held-out answers of the base model against the fine-tuned one.

Starts ``openft serve`` (a subprocess, its own data dir) and, for each base model and task, does
what a user of the OpenAI API does with the official client: uploads a JSONL training file,
creates a job with every hyperparameter ``"auto"``, waits for it, then asks the base model and
the ``ft:`` model the held-out prompts. Held-out prompts are written in *phrasings* (sentence
templates) that no training example uses, so a model that memorized sentences scores nothing.
With ``--dpo``, a DPO job (auto hyperparameters, preference pairs built from the training file:
the right answer preferred over another example's) continues from the SFT model and is scored
the same way. Prints, per base and task, the exact-match share of the base, of the fine-tuned
model (greedy, and at the API's default temperature 1.0) and of the DPO model, with the jobs'
steps and wall time. The bases side by side (default: ``tiny-chat-random``, the old random-weight
model, and the pretrained ``tiny-chat``) are the baselines measured in the same run.

    python bench/finetune_quality.py [--tasks topic,parity,...] [--n-train 200] [--models tiny-chat] [--dpo]
                                     [--seeds 1,2,3]

The tasks are rules a small model can learn from a few hundred examples:

- ``topic``: the topic of a sentence (sports, food, weather, tech) from its keyword;
- ``parity``: whether a 2-5 digit number is even or odd (the last digit decides);
- ``name``: copy the person's name out of a sentence into JSON (names never seen in training);
- ``ticket``: route a support message to a JSON team and priority (two independent keywords);
- ``number_word``: a number word to digits (``seventy-nine`` -> ``79``), held-out phrasings.

``--n-train`` sizes every task's training file (the held-out set stays ``--n-test``). One run of
30-40 held-out prompts moves by 10-20 points from seed to seed; ``--seeds`` draws each task's
training file and held-out prompts once per seed, and passes the seed to the job (its LoRA
initialization and data order), so a run repeats to the digit; it ends with the mean and range of
every base and task, which is what candidates should be ranked on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-openft-bench-quality"
SHOW_MISSES = int(os.environ.get("SHOW_MISSES", "0"))

Example = dict[str, Any]
Task = tuple[list[Example], list[tuple[list[dict[str, str]], str]]]


def chat(system: str | None, user: str, answer: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


Maker = Callable[[random.Random, bool], tuple[str, str]]


def train_and_held_out(make: Maker, system: str | None, n_train: int, n_test: int, seed: int,
                       held_out: Callable[[str], bool] | None = None) -> Task:
    """``n_train`` examples and ``n_test`` held-out (messages, answer) pairs with unseen prompts.

    ``make(rng, False)`` draws a training prompt, ``make(rng, True)`` one in a held-out phrasing.
    With ``held_out``, prompts it accepts are kept for the test set only (e.g. unseen names).
    """
    rng = random.Random(seed)
    train: list[Example] = []
    seen: set[str] = set()
    for _ in range(50 * (n_train + n_test)):
        if len(train) >= n_train:
            break
        prompt, answer = make(rng, False)
        if held_out is not None and held_out(prompt):
            continue
        seen.add(prompt)
        train.append({"messages": chat(system, prompt, answer)})
    test: list[tuple[list[dict[str, str]], str]] = []
    for _ in range(50 * (n_train + n_test)):
        if len(test) >= n_test:
            break
        prompt, answer = make(rng, True)
        if prompt not in seen and (held_out is None or held_out(prompt)):
            seen.add(prompt)
            test.append((chat(system, prompt), answer))
    return train, test


TOPICS = {
    "sports": ["football", "tennis", "the match", "the goal", "basketball", "the referee", "the stadium"],
    "food": ["pizza", "the soup", "bread", "the pasta", "chocolate", "the salad", "cheese"],
    "weather": ["the rain", "snow", "the storm", "the wind", "sunshine", "the fog", "thunder"],
    "tech": ["the laptop", "my phone", "the software", "the server", "the keyboard", "the app", "wifi"],
}
OPENERS = ["I think", "Yesterday", "Everyone says", "Honestly,", "My friend said", "Today", "Apparently"]
ENDINGS = ["was great", "is getting worse", "surprised me", "made my day", "was everywhere", "is all we talk about"]
TOPIC_HELD_OUT = ["Can we talk about {k} for a second?", "Nobody expected {k} to be like that.",
                  "{K}, again. Unbelievable!", "Quick question on {k} from my side."]


def topic_task(n_train: int, n_test: int, seed: int) -> Task:
    def make(rng: random.Random, held_out: bool) -> tuple[str, str]:
        label = rng.choice(sorted(TOPICS))
        keyword = rng.choice(TOPICS[label])
        if held_out:
            return rng.choice(TOPIC_HELD_OUT).format(k=keyword, K=keyword[0].upper() + keyword[1:]), label
        return f"{rng.choice(OPENERS)} {keyword} {rng.choice(ENDINGS)}.", label
    return train_and_held_out(make, "What is the topic? Answer with one word.", n_train, n_test, seed)


PARITY_HELD_OUT = ["{n}: odd or even?", "Tell me whether {n} is even or odd.", "Even or odd - {n}"]


def parity_task(n_train: int, n_test: int, seed: int) -> Task:
    def make(rng: random.Random, held_out: bool) -> tuple[str, str]:
        n = rng.randrange(10, 100_000)
        frame = rng.choice(PARITY_HELD_OUT) if held_out else "Is {n} even or odd?"
        return frame.format(n=n), "even" if n % 2 == 0 else "odd"
    return train_and_held_out(make, None, n_train, n_test, seed)


FIRST_NAMES = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mason", "Amelia",
               "Ethan", "Harper", "Logan", "Evelyn", "James", "Aria", "Henry", "Chloe", "Jack", "Ella", "Owen",
               "Grace", "Leo", "Nora", "Caleb", "Lily", "Isaac", "Zoe", "Ryan", "Hazel", "Adam", "Ruby", "Ezra",
               "Alice", "Hugo", "Clara", "Felix", "Iris", "Oscar", "Maya", "Victor", "Rosa", "Simon", "Lena",
               "Tobias", "Nina", "Marco", "Eva", "Pablo"]
CITIES = ["Paris", "Berlin", "Madrid", "Rome", "Oslo", "Vienna", "Lisbon", "Dublin", "Prague", "Warsaw"]
NAME_FRAMES = ["Hi, I am {n} from {c}.", "My name is {n} and I live in {c}.", "{n} here, writing from {c}.",
               "Hello! This is {n}, based in {c}.", "I'm {n}. I moved to {c} last year."]
NAME_HELD_OUT = ["Greetings from {c}, {n} speaking.", "{n} ({c}) would like a refund.", "Signed, {n}, {c}."]
HELD_OUT_NAMES = set(FIRST_NAMES[::5])


def name_task(n_train: int, n_test: int, seed: int) -> Task:
    def make(rng: random.Random, held_out: bool) -> tuple[str, str]:
        name = rng.choice(FIRST_NAMES)
        text = rng.choice(NAME_HELD_OUT if held_out else NAME_FRAMES).format(n=name, c=rng.choice(CITIES))
        return text, json.dumps({"name": name})
    return train_and_held_out(make, "Extract the person's name as JSON.", n_train, n_test, seed,
                              held_out=lambda prompt: any(f"{n} " in prompt or f"{n}," in prompt
                                                          or f"{n}." in prompt for n in HELD_OUT_NAMES))



TEAMS = {"billing": ["invoice", "refund", "charge", "payment"],
         "shipping": ["parcel", "delivery", "courier", "tracking"],
         "account": ["password", "login", "username", "email address"]}
URGENT = ["urgent", "asap", "immediately", "right now"]
CALM = ["Thanks.", "No rush.", "Cheers."]


TICKET_HELD_OUT = ["Re: {kw}. {tail}", "Something is off with the {kw}. {tail}", "Question regarding {kw}. {tail}"]


def ticket_task(n_train: int, n_test: int, seed: int) -> Task:
    def make(rng: random.Random, held_out: bool) -> tuple[str, str]:
        team = rng.choice(sorted(TEAMS))
        high = rng.random() < 0.5
        keyword = rng.choice(TEAMS[team])
        if held_out:
            tail = f"Need this fixed {rng.choice(URGENT)}." if high else rng.choice(CALM)
            text = rng.choice(TICKET_HELD_OUT).format(kw=keyword, tail=tail)
        else:
            text = f"{rng.choice(['Hi,', 'Hello,', 'Hey team,', 'Dear support,'])} problem with " \
                   f"{rng.choice(['my', 'the'])} {keyword}"
            text += f", please help {rng.choice(URGENT)}." if high else f". {rng.choice(CALM)}"
        return text, json.dumps({"team": team, "priority": "high" if high else "normal"})
    return train_and_held_out(make, "Route the support ticket. Answer with JSON.", n_train, n_test, seed)


UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER_FRAMES = ["Write {w} in digits.", "{w} as a number:", "Digits for {w}?", "Convert '{w}' to digits."]
NUMBER_HELD_OUT = ["What number is {w}?", "{w} =", "Please give {w} as digits."]


def number_word(n: int) -> str:
    if n < 20:
        return UNITS[n]
    tens, unit = divmod(n, 10)
    return TENS[tens - 2] + (f"-{UNITS[unit]}" if unit else "")


def number_word_task(n_train: int, n_test: int, seed: int) -> Task:
    def make(rng: random.Random, held_out: bool) -> tuple[str, str]:
        n = rng.randrange(100)
        return rng.choice(NUMBER_HELD_OUT if held_out else NUMBER_FRAMES).format(w=number_word(n)), str(n)
    return train_and_held_out(make, None, n_train, n_test, seed)


TASKS: dict[str, Callable[[int, int, int], Task]] = {
    "topic": topic_task, "parity": parity_task, "name": name_task, "ticket": ticket_task,
    "number_word": number_word_task,
}
#: The held-out exact match a pretrained base must reach with "auto" (issue 11): classification and
#: routing 0.9, copying an unseen name into JSON 0.8, number words 0.9; DPO on top keeps or raises it.
FLOORS: dict[str, float] = {"topic": 0.9, "parity": 0.9, "ticket": 0.9, "name": 0.8, "number_word": 0.9}


@dataclass
class Result:
    model: str
    task: str
    seed: int
    n_train: int
    steps: int
    seconds: float
    base_greedy: float
    tuned_greedy: float
    tuned_sampled: float
    status: str
    dpo_greedy: float | None = None
    dpo_seconds: float = 0.0

    def verdict(self) -> str:
        """``meets`` when the fine-tune reaches the task's floor (and DPO, when run, keeps it), else ``below``."""
        floor = FLOORS.get(self.task)
        if floor is None:
            return "-"
        dpo_ok = self.dpo_greedy is None or self.dpo_greedy >= self.tuned_greedy
        return "meets" if self.tuned_greedy >= floor and dpo_ok else "below"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    # the caller's catalog file stays: --model can name a model it adds
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFT_") or k == "OPENFT_CATALOG_PATH"}
    env.update(OPENFT_API_KEY=KEY, OPENFT_LOG_LEVEL="WARNING")
    log = (data_dir / "serve.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "sdk.cli.main", "serve", "--port", str(port),
                             "--data-dir", str(data_dir)], cwd=ROOT, env=env, stdout=log, stderr=log)


def wait_ready(base_url: str, timeout: float = 120) -> None:
    import httpx2

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx2.get(base_url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("openft serve did not become ready")


def score(client: Any, model: str, test: list[tuple[list[dict[str, str]], str]], temperature: float | None,
          show_misses: int = 0) -> float:
    extra = {} if temperature is None else {"temperature": temperature}
    hits = 0
    for messages, want in test:
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=24, seed=0, **extra)
        answer = (reply.choices[0].message.content or "").strip()
        hits += answer == want
        if answer != want and show_misses > 0:
            show_misses -= 1
            print(f"    miss: {messages[-1]['content']!r} -> {answer!r} (want {want!r})")
    return hits / len(test)


def wait_job(client: Any, job: Any) -> tuple[Any, float, int]:
    """The finished job, its wall time from now and its step count."""
    started = time.monotonic()
    while job.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(1)
        job = client.fine_tuning.jobs.retrieve(job.id)
    steps = max((int(e.data["step"]) for e in client.fine_tuning.jobs.list_events(job.id, limit=1000)
                 if e.type == "metrics" and isinstance(e.data, dict) and "step" in e.data), default=0)
    return job, time.monotonic() - started, steps


def preference_pairs(train: list[Example], seed: int) -> list[Example]:
    """DPO lines from SFT lines: the right answer preferred over another example's different answer."""
    rng = random.Random(seed)
    answers = sorted({row["messages"][-1]["content"] for row in train})
    out = []
    for row in train:
        good = row["messages"][-1]["content"]
        bad = rng.choice([a for a in answers if a != good] or [good + "?"])
        out.append({"input": {"messages": row["messages"][:-1]},
                    "preferred_output": [{"role": "assistant", "content": good}],
                    "non_preferred_output": [{"role": "assistant", "content": bad}]})
    return out


def upload(client: Any, name: str, rows: list[Example]) -> str:
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    return str(client.files.create(file=(f"{name}.jsonl", body), purpose="fine-tune").id)


def run_task(client: Any, name: str, n_train: int, n_test: int, base: str, hyperparameters: dict[str, Any],
             extensions: dict[str, Any], dpo: bool, seed: int = 1) -> Result:
    train, test = TASKS[name](n_train, n_test, seed)
    job = client.fine_tuning.jobs.create(
        model=base, training_file=upload(client, name, train), suffix=name.replace("_", "-"), seed=seed,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        extra_body={"openft": extensions} if extensions else None)
    job, seconds, steps = wait_job(client, job)
    if job.status != "succeeded" or not job.fine_tuned_model:
        return Result(base, name, seed, len(train), 0, seconds, 0, 0, 0, f"{job.status}: {job.error}")
    tuned = job.fine_tuned_model
    result = Result(base, name, seed, len(train), steps, seconds, score(client, base, test, 0.0),
                    score(client, tuned, test, 0.0, SHOW_MISSES), score(client, tuned, test, None), job.status)
    if dpo:
        job = client.fine_tuning.jobs.create(
            model=tuned, training_file=upload(client, f"{name}-dpo", preference_pairs(train, seed=2)),
            suffix=f"{name.replace('_', '-')}-dpo", seed=seed,
            method={"type": "dpo", "dpo": {"hyperparameters": {}}})
        job, result.dpo_seconds, _ = wait_job(client, job)
        if job.status != "succeeded" or not job.fine_tuned_model:
            result.status = f"dpo {job.status}: {job.error}"
        else:
            result.dpo_greedy = score(client, job.fine_tuned_model, test, 0.0)
    return result


def print_means(results: list[Result]) -> None:
    """Per base and task, the mean held-out exact match over the seeds run, with its range."""
    print(f"\n{'base model':<17} {'task':<12} {'seeds':>5}  {'base':>5} {'tuned':>5} {'range':>9} {'dpo':>5} "
          f"{'floor':>5}")
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.model, r.task), []).append(r)
    for (model, task), rs in groups.items():
        tuned = [r.tuned_greedy for r in rs]
        dpos = [r.dpo_greedy for r in rs if r.dpo_greedy is not None]
        dpo = f"{statistics.mean(dpos):.0%}" if dpos else "-"
        print(f"{model:<17} {task:<12} {len(rs):>5}  {statistics.mean(r.base_greedy for r in rs):>5.0%} "
              f"{statistics.mean(tuned):>5.0%} {f'{min(tuned):.0%}-{max(tuned):.0%}':>9} {dpo:>5} "
              f"{FLOORS.get(task, 0):>5.0%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=40)
    parser.add_argument("--models", default="tiny-chat-random,tiny-chat", help="base models, side by side")
    parser.add_argument("--dpo", action="store_true", help="also run DPO on top of each SFT model")
    parser.add_argument("--seeds", default="1", help="comma-separated data seeds; several end with a mean per task")
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    parser.add_argument("--hyperparameters", type=json.loads, default={},
                        help='JSON, e.g. {"n_epochs": 5} (default: all "auto")')
    parser.add_argument("--openft", type=json.loads, default={}, help="JSON extension fields of the job")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sys.path.insert(0, str(ROOT))
    from openai import OpenAI

    with tempfile.TemporaryDirectory(prefix="openft-quality-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        server = start_server(data_dir, port)
        try:
            wait_ready(f"http://127.0.0.1:{port}")
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=600)
            print(f"{'base model':<17} {'task':<12} {'seed':>4} {'n':>4} {'steps':>5} {'s':>6}  {'base':>5} "
                  f"{'tuned':>5} {'t=1':>5} {'dpo':>5} {'dpo s':>5} {'floor':>5} {'':<5}  status")
            results = []
            for model in args.models.split(","):
                for name, seed in itertools.product(args.tasks.split(","), seeds):
                    r = run_task(client, name, args.n_train, args.n_test, model, args.hyperparameters,
                                 args.openft, args.dpo, seed)
                    results.append(r)
                    dpo = "-" if r.dpo_greedy is None else f"{r.dpo_greedy:.0%}"
                    print(f"{r.model:<17} {r.task:<12} {r.seed:>4} {r.n_train:>4} {r.steps:>5} {r.seconds:>6.0f}  "
                          f"{r.base_greedy:>5.0%} {r.tuned_greedy:>5.0%} {r.tuned_sampled:>5.0%} {dpo:>5} "
                          f"{r.dpo_seconds:>5.0f} {FLOORS.get(r.task, 0):>5.0%} {r.verdict():<5}  {r.status}",
                          flush=True)
        finally:
            server.terminate()
            server.wait(30)
    if len(seeds) > 1:
        print_means(results)
    return 0 if all(r.status == "succeeded" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
