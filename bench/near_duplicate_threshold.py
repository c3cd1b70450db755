"""How the near-duplicate check (MinHash LSH at ``NEAR_THRESHOLD``) treats realistic text.

Sentences are taken from the docstrings of the Python standard library (real English prose
with a varied vocabulary, 10 to 40 words). Three kinds of pairs are fed to ``QualityPass``:

- ``reworded``: a sentence and a copy with one or two words replaced by other words of the
  corpus (what the issue calls a near duplicate);
- ``template``: two instances of the same question template with different slot values
  (``What does <function>() return ...?``) and different sentence-long answers: genuinely
  different examples that share their question's wording;
- ``template-short``: the same, but the answers are one templated sentence too
  (``<function>() returns <value>.``): only the slot values differ;
- ``unrelated``: two different sentences.

Prints the estimated Jaccard similarity (character 5-grams) per kind and the share of pairs the
pass flags as near (or exact) duplicates.

    python bench/near_duplicate_threshold.py [--pairs 300]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import random
import re
import statistics

from core.data_quality import QualityPass

_SKIP = ("test", "idlelib", "tkinter", "turtle", "antigravity", "this", "lib2to3", "ensurepip")


def sentences() -> list[str]:
    """Sentences of 10-40 words from standard library docstrings."""
    out: set[str] = set()
    for mod in sorted(m.name for m in pkgutil.iter_modules() if m.name[0] != "_" and m.name not in _SKIP):
        try:
            module = importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - some modules need a platform or a display
            continue
        for obj in [module, *vars(module).values()]:
            doc = inspect.getdoc(obj) if callable(obj) or inspect.ismodule(obj) else None
            for s in re.split(r"(?<=[.!?])\s+", " ".join((doc or "").split())):
                if 10 <= len(s.split()) <= 40 and not re.search(r"[>{}=]|\.\.\.", s):
                    out.add(s)
    return sorted(out)


def reword(rng: random.Random, text: str, vocabulary: list[str]) -> str:
    words = text.split()
    for _ in range(rng.choice((1, 2))):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def _chat(user: str, answer: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def _jaccard(a: str, b: str) -> float:
    def grams(t: str) -> set[str]:
        t = " ".join(re.findall(r"\w+", t.casefold()))
        return {t[i:i + 5] for i in range(len(t) - 4)}
    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(3)
    corpus = sentences()
    vocabulary = sorted({w for s in corpus for w in s.split() if w.isalpha()})
    names = sorted(n for n in dir(__builtins__) if n.islower() and not n.startswith("_"))
    print(f"{len(corpus)} sentences, {len(vocabulary)} distinct words")
    picked = rng.sample(corpus, 4 * args.pairs)
    kinds: dict[str, list[tuple[dict[str, object], dict[str, object]]]] = {
        "reworded": [], "template": [], "template-short": [], "unrelated": []}
    for i in range(args.pairs):
        s = picked[i]
        answer = picked[args.pairs + i]
        kinds["reworded"].append((_chat(s, answer), _chat(reword(rng, s, vocabulary), answer)))
        f, g = rng.sample(names, 2)
        cond = picked[2 * args.pairs + i]
        kinds["template"].append((
            _chat(f"What does {f}() return when it is called with no arguments?", f"{f}() {picked[i].lower()}"),
            _chat(f"What does {g}() return when it is called with no arguments?", f"{g}() {cond.lower()}")))
        value, other = rng.sample(vocabulary, 2)
        kinds["template-short"].append((
            _chat(f"What does {f}() return when it is called with no arguments?", f"{f}() returns {value}."),
            _chat(f"What does {g}() return when it is called with no arguments?", f"{g}() returns {other}.")))
        kinds["unrelated"].append((_chat(s, picked[args.pairs + i]), _chat(cond, picked[3 * args.pairs + i])))
    for kind, pairs in kinds.items():
        quality = QualityPass()  # one file per kind, pairs on lines 2i+1, 2i+2
        for i, (a, b) in enumerate(pairs):
            quality.add("training_file", 2 * i + 1, a)
            quality.add("training_file", 2 * i + 2, b)
        dropped = quality.duplicate_lines("training_file", "near")
        flagged = sum(1 for i in range(len(pairs)) if 2 * i + 2 in dropped)
        other = len(dropped) - flagged
        sims = [_jaccard(" ".join(m["content"] for m in a["messages"]), " ".join(m["content"] for m in b["messages"]))
                for a, b in pairs]
        print(f"{kind:<14s} Jaccard median {statistics.median(sims):.2f} (min {min(sims):.2f}, max {max(sims):.2f}); "
              f"flagged {flagged}/{len(pairs)} pairs ({flagged / len(pairs):.1%}), {other} flags across pairs")


if __name__ == "__main__":
    main()
