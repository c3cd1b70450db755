"""``string_check`` and the ``text_similarity`` metrics (all but ``cosine``, see embeddings.py).

Libraries, not hand-written metrics:

- ``fuzzy_match``: rapidfuzz ``fuzz.ratio`` (normalized Indel similarity) / 100;
- ``bleu``: sacrebleu ``sentence_bleu`` (13a tokenizer, exponential smoothing) / 100;
- ``gleu``: nltk ``sentence_gleu`` (Google-BLEU, 1-4-grams) over whitespace tokens;
- ``meteor``: nltk ``single_meteor_score`` over lower-cased whitespace tokens: exact and Porter-stem
  matches, plus WordNet synonyms when the nltk ``wordnet`` corpus is installed on the host
  (nltk data is never downloaded at run time; without it the synonym stage matches nothing);
- ``rouge_1`` ... ``rouge_5``, ``rouge_l``: Google's rouge-score F-measure over lower-cased
  Unicode word tokens (its own tokenizer would drop every non-ASCII letter).

Two identical texts (also two empty ones) score 1.0; an empty text against a non-empty one 0.0.
``like``/``ilike`` are true when the input contains the reference (case-insensitively for
``ilike``); a ``%`` in the reference matches any run of characters, as in SQL.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from core.graders.spec import StringCheck


def string_check(grader: StringCheck, text: str, reference: str) -> float:
    """1.0 or 0.0 for ``operation`` over the rendered strings."""
    if grader.operation == "eq":
        return float(text == reference)
    if grader.operation == "ne":
        return float(text != reference)
    flags = re.IGNORECASE if grader.operation == "ilike" else 0
    pattern = ".*?".join(re.escape(part) for part in reference.split("%"))
    return float(re.search(pattern, text, flags | re.DOTALL) is not None)


class _UnicodeWords:
    """rouge-score's tokenizer keeps ASCII only; this one keeps every Unicode word, lower-cased."""

    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())


@functools.cache
def _rouge(metric: str) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([metric], tokenizer=_UnicodeWords())


class _NoWordNet:
    """Stands in for nltk's WordNet when its corpus is not installed: no synonyms."""

    def synsets(self, *_args: Any, **_kwargs: Any) -> list[Any]:
        return []


@functools.cache
def _wordnet() -> Any:
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except LookupError:
        return _NoWordNet()
    return wordnet


def similarity(metric: str, text: str, reference: str) -> float:
    """``metric`` (any but ``cosine``) between ``text`` and ``reference``, in [0, 1]."""
    if text == reference:
        return 1.0
    if not text or not reference:
        return 0.0
    if metric == "fuzzy_match":
        from rapidfuzz import fuzz

        return float(fuzz.ratio(text, reference)) / 100.0
    if metric == "bleu":
        import sacrebleu

        return float(sacrebleu.sentence_bleu(text, [reference]).score) / 100.0
    if metric == "gleu":
        from nltk.translate.gleu_score import sentence_gleu

        return float(sentence_gleu([reference.split()], text.split()))
    if metric == "meteor":
        from nltk.translate.meteor_score import single_meteor_score

        return float(single_meteor_score(reference.lower().split(), text.lower().split(), wordnet=_wordnet()))
    if metric.startswith("rouge_"):
        key = "rougeL" if metric == "rouge_l" else "rouge" + metric[-1]
        return float(_rouge(key).score(reference, text)[key].fmeasure)
    raise ValueError(f"unknown metric {metric}")
