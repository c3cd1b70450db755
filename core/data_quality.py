"""The data quality report: duplicates, near-duplicates, leakage, personal data and secrets,
answer balance; gathered in the validation pass, one example at a time.

Memory grows with the sketches, not the file: per example an 8-byte digest (exact duplicates)
and the LSH band keys of a MinHash signature of :data:`NUM_PERM` values (near duplicates), about
100 bytes in all (``core.duplicate_index``); answer counts are capped at
:data:`MAX_DISTINCT_ANSWERS` distinct answers. Line numbers kept per finding are capped at
:data:`MAX_LINES`.

- exact duplicates: the whole example (every message's role and text, tools) after folding
  case and whitespace; clusters list their line numbers, first occurrence first;
- near duplicates: estimated Jaccard similarity (MinHash with :data:`NUM_PERM` permutations,
  LSH bands) of the character 5-grams of the words of the non-system messages at least
  :data:`NEAR_THRESHOLD` (a rewording of one or two words in a
  sentence-long example), not already exact duplicates; a system prompt every example shares is
  left out, or every example would look alike;
- leakage: validation examples that are exact or near duplicates of a training example;
- personal data and secrets (``core.sensitive``): kind, line and field
  (``messages[2].content``), never the value;
- answers: the share of the most frequent final assistant answers, empty answers.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from core import sensitive
from core.duplicate_index import NUM_PERM, DuplicateIndex, lsh_scheme, sketch

NEAR_THRESHOLD: Final = 0.6
__all__ = ["NEAR_THRESHOLD", "NUM_PERM", "QualityPass"]
SHINGLE: Final = 5
MAX_LINES: Final = 50
SKETCH_BATCH: Final = 512  # examples sketched together (a few MB of hashes at a time)
MAX_DISTINCT_ANSWERS: Final = 10_000
DOMINANT_ANSWER_SHARE: Final = 0.8
_WORD: Final = re.compile(r"\w+")


def _normalize(text: str) -> str:
    return " ".join(text.casefold().split())


def _texts(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(field, text, role)`` of every string a person wrote in an example (chat or preference)."""
    out: list[tuple[str, str, str]] = []

    def messages(prefix: str, msgs: Any) -> None:
        for i, msg in enumerate(msgs if isinstance(msgs, list) else []):
            if not isinstance(msg, dict):
                continue
            role, content = str(msg.get("role")), msg.get("content")
            if isinstance(content, str):
                out.append((f"{prefix}[{i}].content", content, role))
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        out.append((f"{prefix}[{i}].content[{j}].text", part["text"], role))
            for k, call in enumerate(msg.get("tool_calls") or []):
                args = call.get("function", {}).get("arguments") if isinstance(call, dict) else None
                if isinstance(args, str):
                    out.append((f"{prefix}[{i}].tool_calls[{k}].function.arguments", args, role))

    if "messages" in obj:
        messages("messages", obj.get("messages"))
    else:
        inp = obj.get("input")
        messages("input.messages", inp.get("messages") if isinstance(inp, dict) else None)
        messages("preferred_output", obj.get("preferred_output"))
        messages("non_preferred_output", obj.get("non_preferred_output"))
    return out


def _final_answer(obj: dict[str, Any]) -> str | None:
    msgs = obj.get("messages") if "messages" in obj else obj.get("preferred_output")
    if not isinstance(msgs, list):
        return None
    for msg in reversed(msgs):
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            content = msg.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else ""
    return None


@dataclass
class _FileQuality:
    index: DuplicateIndex
    n_examples: int = 0
    sensitive: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    n_answers: int = 0
    empty_answers: list[int] = field(default_factory=list)
    n_empty_answers: int = 0
    pending: list[tuple[int, int, str]] = field(default_factory=list)  # (line, digest, text) to sketch


class QualityPass:
    """Feed it the examples of the training file, then of the validation file; read :meth:`report`."""

    def __init__(self, near_threshold: float = NEAR_THRESHOLD) -> None:
        self.near_threshold = near_threshold
        self._files: dict[str, _FileQuality] = {}
        self._bands = lsh_scheme(near_threshold)[2]  # import datasketch and detect-secrets now (seconds), not mid-file
        sensitive.find("AKIA")

    def add(self, param: str, line: int, obj: dict[str, Any]) -> None:
        """One valid example of ``param`` (``training_file`` / ``validation_file``) at ``line``."""
        q = self._files.get(param)
        if q is None:
            q = self._files[param] = _FileQuality(DuplicateIndex(self.near_threshold))
        q.n_examples += 1
        texts = _texts(obj)
        norm = "\n".join(f"{role}:{_normalize(t)}" for _, t, role in texts)
        digest = int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "little")
        # a system prompt shared by every example would make them all look alike: leave it out
        q.pending.append((line, digest, " ".join(t for _, t, role in texts if role != "system")))
        if len(q.pending) >= SKETCH_BATCH:
            self._index(q)
        scanned = texts if sensitive.may_hold("\n".join(t for _, t, _ in texts)) else []
        for where, text, _ in scanned:
            for finding in sensitive.find(text):
                entry = q.sensitive.setdefault(finding.kind, {"count": 0, "lines": [], "fields": set()})
                entry["count"] += 1
                if len(entry["lines"]) < MAX_LINES and (not entry["lines"] or entry["lines"][-1] != line):
                    entry["lines"].append(line)
                entry["fields"].add(where.split("[")[0] + "." + where.rsplit(".", 1)[-1])
        answer = _final_answer(obj)
        if answer is not None:
            q.n_answers += 1
            if not answer.strip():
                q.n_empty_answers += 1
                if len(q.empty_answers) < MAX_LINES:
                    q.empty_answers.append(line)
            key = _normalize(answer)
            if key in q.answers or len(q.answers) < MAX_DISTINCT_ANSWERS:
                q.answers[key] += 1

    def duplicate_lines(self, param: str, mode: str) -> set[int]:
        """Every line a ``dedupe`` of ``mode`` (``exact`` or ``near``: both kinds) drops from ``param``
        (all copies but the first of each cluster)."""
        q = self._files.get(param)
        if q is None:
            return set()
        self._index(q)
        clusters = q.index.resolve()
        found = [clusters.exact] + ([clusters.near] if mode == "near" else [])
        return {line for kind in found for cluster in kind.values() for line in cluster[1:]}

    def _index(self, q: _FileQuality) -> None:
        """Sketch the pending examples of ``q`` as one batch and add them to its index."""
        if not q.pending:
            return
        lines, digests, texts = zip(*q.pending, strict=True)
        q.pending.clear()
        docs = [" ".join(_WORD.findall(text.casefold())).encode() for text in texts]
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        signed = lengths - SHINGLE + 1 >= SHINGLE  # shorter is not "near": exact duplicates cover it
        keys, sigs = self._sketch([d for d, s in zip(docs, signed.tolist(), strict=True) if s], lengths[signed])
        q.index.add(np.array(lines), np.array(digests, dtype=np.uint64), signed, keys, sigs)

    def _sketch(self, docs: list[bytes], lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`sketch` of ``docs`` (each at least ``2 * SHINGLE - 1`` bytes): a polynomial hash of
        every 5-byte window that lies within one doc, vectorised over the whole batch."""
        if not docs:
            return np.zeros((0, self._bands), dtype=np.uint32), np.zeros((0, NUM_PERM), dtype=np.uint8)
        data = np.frombuffer(b"".join(docs), dtype=np.uint8).astype(np.uint64)
        n = len(data) - SHINGLE + 1
        hashes = np.zeros(n, dtype=np.uint64)
        for k in range(SHINGLE):
            hashes = hashes * np.uint64(1_000_003) + data[k:k + n]
        windows = lengths - SHINGLE + 1
        first_window = np.cumsum(windows) - windows  # where each doc's shingles start in the batch
        doc_start = np.repeat(np.cumsum(lengths) - lengths, windows)  # each kept window's doc
        offset = np.arange(len(doc_start)) - np.repeat(first_window, windows)
        shingles = hashes[doc_start + offset] & np.uint64(0xFFFFFFFF)
        return sketch(shingles, first_window, self.near_threshold)

    def report(self) -> dict[str, Any]:
        """The report (JSON-ready): per file, then leakage, then one-sentence ``warnings``."""
        for q in self._files.values():
            self._index(q)
        files = {param: self._file_report(q) for param, q in self._files.items()}
        out: dict[str, Any] = {"near_duplicate_threshold": self.near_threshold, "files": files}
        if "validation_file" in files:
            train = self._files.get("training_file")
            exact, near = self._files["validation_file"].index.leaks(train.index) if train else ([], [])
            out["leakage"] = {
                "n_examples": len(exact) + len(near),
                "exact": [{"validation_line": v, "training_line": t} for v, t in exact[:MAX_LINES]],
                "near": [{"validation_line": v, "training_line": t} for v, t in near[:MAX_LINES]],
            }
        out["warnings"] = self._warnings(out)
        return out

    @staticmethod
    def _file_report(q: _FileQuality) -> dict[str, Any]:
        def clusters(found: dict[int, list[int]]) -> dict[str, Any]:
            extra = sum(len(c) - 1 for c in found.values())
            return {"n_examples": extra, "share": round(extra / q.n_examples, 4) if q.n_examples else 0.0,
                    "clusters": [c[:MAX_LINES] for c in list(found.values())[:MAX_LINES]]}

        top = q.answers.most_common(5)
        resolved = q.index.resolve()
        return {
            "n_examples": q.n_examples,
            "exact_duplicates": clusters(resolved.exact),
            "near_duplicates": clusters(resolved.near),
            "sensitive": {kind: {"count": e["count"], "lines": e["lines"], "fields": sorted(e["fields"])}
                          for kind, e in sorted(q.sensitive.items())},
            "answers": {
                "n": q.n_answers, "distinct": len(q.answers),
                "top": [{"share": round(n / q.n_answers, 4), "count": n, "answer": a[:80]} for a, n in top],
                "empty": {"count": q.n_empty_answers, "lines": q.empty_answers},
            },
        }

    @staticmethod
    def _warnings(report: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for param, f in report["files"].items():
            which = "Training" if param == "training_file" else "Validation"
            dup, near = f["exact_duplicates"]["n_examples"], f["near_duplicates"]["n_examples"]
            if dup or near:
                out.append(f"{which} file has {dup} exact and {near} near duplicate example(s) "
                           f"of {f['n_examples']}.")
            if f["sensitive"]:
                kinds = ", ".join(f"{e['count']} {k.replace('_', ' ')}" for k, e in f["sensitive"].items())
                out.append(f"{which} file contains personal data or secrets: {kinds}.")
            answers = f["answers"]
            if answers["top"] and answers["n"] >= 10 and answers["top"][0]["share"] >= DOMINANT_ANSWER_SHARE:
                out.append(f"{which} file: one answer is {answers['top'][0]['share']:.0%} of all answers.")
            if answers["empty"]["count"]:
                out.append(f"{which} file has {answers['empty']['count']} empty assistant answer(s).")
        leak = report.get("leakage")
        if leak and leak["n_examples"]:
            out.append(f"Validation file has {leak['n_examples']} example(s) that duplicate training examples.")
        return out
