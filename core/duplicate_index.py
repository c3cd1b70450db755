"""Exact and near duplicates of a file's examples, in a few bytes per example.

Per example the index keeps an 8-byte digest of the normalised example (exact duplicates), the
:data:`BANDS` 8-byte band keys of its MinHash signature (near duplicates, LSH banding) and its
line number: ``8 + 8 * BANDS + 4`` bytes (96 with 64 permutations at threshold 0.6) in
``array`` buffers, no Python object per example. A per-band dict of every key would cost about
100 bytes per band per example (a datasketch ``MinHashLSH`` about 300), several GB for the
million-example files a 500 MB upload holds.

Clusters are resolved once the file is read (:meth:`DuplicateIndex.resolve`): exact duplicates by
sorting the digests, near duplicates by sorting each band's keys, then walking only the examples
that share a band key with another one, in line order, exactly as an online LSH index would: an
example is a near duplicate of the earliest kept example it shares a band with; otherwise it is
kept and indexed. The band/row split (minimising false positives plus false negatives around
the threshold) is datasketch's.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

import numpy as np

NUM_PERM: Final = 64


@cache
def lsh_scheme(threshold: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(a, b, bands, rows)``: :data:`NUM_PERM` random 64-bit hash parameters (``a`` odd; seeded,
    so every process agrees) and datasketch's band/row split for ``threshold``."""
    from datasketch import MinHashLSH

    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 2**64, size=NUM_PERM, dtype=np.uint64, endpoint=False) for _ in range(2))
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    return a | np.uint64(1), b, lsh.b, lsh.r


def sketch(shingles: np.ndarray, starts: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The MinHash sketches of a batch of examples whose 32-bit shingle hashes (in ``uint64``) lie
    end to end in ``shingles``, example ``i``'s from ``starts[i]`` (none empty): per example the LSH
    band keys (``uint32``, one per band) and the signature's low bytes (b-bit MinHash, ``uint8``
    per permutation) to check candidates with. Each permutation is a multiply-add-shift hash,
    ``(a * x + b) mod 2**64 >> 32`` (universal on 32-bit keys, and free of the 61-bit modulo of
    datasketch's ``MinHash``, which costs a division per value); the shift is taken after the
    minimum, which it cannot change. A batch costs a few array passes per permutation, not a
    dozen array calls per example."""
    a, b, bands, rows = lsh_scheme(threshold)
    values = np.empty((NUM_PERM, len(starts)), dtype=np.uint64)
    hashed = np.empty(len(shingles), dtype=np.uint64)
    for p in range(NUM_PERM):
        np.multiply(shingles, a[p], out=hashed)
        hashed += b[p]
        values[p] = np.minimum.reduceat(hashed, starts)
    values = (values >> np.uint64(32)).T
    keys = (values[:, : bands * rows].reshape(-1, bands, rows) * _mix(rows)).sum(axis=2, dtype=np.uint64)
    return (keys >> np.uint64(32)).astype(np.uint32), (values & np.uint64(0xFF)).astype(np.uint8)


def similar(sig_a: np.ndarray, sig_b: np.ndarray, threshold: float) -> bool:
    """Whether two b-bit signatures estimate a Jaccard similarity of at least ``threshold``
    (two random bytes agree 1 time in 256: the estimate discounts that)."""
    agree = float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)
    return (agree - 1 / 256) / (1 - 1 / 256) >= threshold


@cache
def _mix(rows: int) -> np.ndarray:
    """Odd 64-bit multipliers that fold a band's ``rows`` values into one key."""
    return np.array([(0x9E3779B97F4A7C15 * (i + 1)) & ((1 << 64) - 1) | 1 for i in range(rows)], dtype=np.uint64)


@dataclass
class Clusters:
    """Resolved duplicates of one file: ``{first line: [first line, copies...]}`` and the lines to drop."""

    exact: dict[int, list[int]] = field(default_factory=dict)
    near: dict[int, list[int]] = field(default_factory=dict)


class DuplicateIndex:
    """One file's digests, band keys and b-bit signatures; :meth:`resolve` finds the clusters."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.bands = lsh_scheme(threshold)[2]
        self._lines, self._digests = array("I"), array("Q")
        self._keys, self._sigs, self._signed = array("I"), array("B"), array("B")
        self._resolved: Clusters | None = None

    def add(self, lines: np.ndarray, digests: np.ndarray, signed: np.ndarray, keys: np.ndarray,
            sigs: np.ndarray) -> None:
        """A batch of examples in line order: their ``digests``, whether each has a signature
        (``signed``; too short: exact duplicates cover it) and the :func:`sketch` of those that do."""
        rows = np.zeros((len(lines), self.bands), dtype=np.uint32)
        rows[signed] = keys
        signatures = np.zeros((len(lines), NUM_PERM), dtype=np.uint8)
        signatures[signed] = sigs
        self._lines.frombytes(np.asarray(lines, dtype=np.uint32).tobytes())
        self._digests.frombytes(np.asarray(digests, dtype=np.uint64).tobytes())
        self._signed.frombytes(np.asarray(signed, dtype=np.uint8).tobytes())
        self._keys.frombytes(rows.tobytes())
        self._sigs.frombytes(signatures.tobytes())
        self._resolved = None

    def _arrays(self) -> tuple[np.ndarray, ...]:
        """Views (no copy) of the buffers: drop them before the next :meth:`add`."""
        return (np.frombuffer(self._lines, dtype=np.uint32).astype(np.int64),
                np.frombuffer(self._digests, dtype=np.uint64),
                np.frombuffer(self._keys, dtype=np.uint32).reshape(-1, self.bands),
                np.frombuffer(self._sigs, dtype=np.uint8).reshape(-1, NUM_PERM),
                np.frombuffer(self._signed, dtype=np.uint8).astype(bool))

    def resolve(self) -> Clusters:
        """Exact clusters (first occurrence first), then near clusters among the other examples."""
        if self._resolved is None:
            self._resolved = self._resolve(*self._arrays())
        return self._resolved

    def _resolve(self, lines: np.ndarray, digests: np.ndarray, keys: np.ndarray, sigs: np.ndarray,
                 signed: np.ndarray) -> Clusters:
        out = Clusters()
        n = len(lines)
        if not n:
            return out
        _, first, inverse = np.unique(digests, return_index=True, return_inverse=True)
        first_pos = first[inverse.reshape(-1)]
        exact = first_pos != np.arange(n)
        for pos in np.flatnonzero(exact).tolist():
            head = int(lines[first_pos[pos]])
            out.exact.setdefault(head, [head]).append(int(lines[pos]))
        candidates = np.flatnonzero(signed & ~exact)
        colliding = np.zeros(n, dtype=bool)
        for k in range(self.bands):  # examples sharing a band key with another example
            band = keys[candidates, k]
            order = np.argsort(band, kind="stable")
            same = band[order][1:] == band[order][:-1]
            colliding[candidates[order[1:][same]]] = True
            colliding[candidates[order[:-1][same]]] = True
        kept: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        for pos in np.flatnonzero(colliding).tolist():  # line order, as an online index would
            row = keys[pos].tolist()
            heads = {h for k, key in enumerate(row) for h in kept[k].get(key, ())}
            near = [h for h in heads if similar(sigs[h], sigs[pos], self.threshold)]
            if near:
                head = int(lines[min(near)])
                out.near.setdefault(head, [head]).append(int(lines[pos]))
            else:
                for k, key in enumerate(row):
                    kept[k].setdefault(key, []).append(pos)
        return out

    def leaks(self, training: DuplicateIndex) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(validation line, training line)`` of each example here that is an exact, else a near,
        duplicate of a ``training`` example (the earliest one that shares a band and passes the
        signature check)."""
        v_lines, v_digests, v_keys, v_sigs, v_signed = self._arrays()
        t_lines, t_digests, t_keys, t_sigs, t_signed = training._arrays()
        exact_out: list[tuple[int, int]] = []
        near_out: list[tuple[int, int]] = []
        if not len(v_lines) or not len(t_lines):
            return exact_out, near_out
        t_pos = np.arange(len(t_lines))
        match = _first_match(v_digests, t_digests, t_pos)
        for pos in np.flatnonzero(match >= 0).tolist():
            exact_out.append((int(v_lines[pos]), int(t_lines[match[pos]])))
        signed_pos = np.flatnonzero(t_signed)
        ranges = []
        for k in range(self.bands):  # each band's training keys sorted once, looked up by bisection
            order = signed_pos[np.argsort(t_keys[signed_pos, k], kind="stable")]
            table = t_keys[order, k]
            ranges.append((order, np.searchsorted(table, v_keys[:, k], "left"),
                           np.searchsorted(table, v_keys[:, k], "right")))
        hit = np.zeros(len(v_lines), dtype=bool)
        for _, lo, hi in ranges:
            hit |= hi > lo
        for pos in np.flatnonzero(hit & v_signed & (match < 0)).tolist():
            found = {int(t) for order, lo, hi in ranges for t in order[lo[pos]:hi[pos]]}
            near = [t for t in sorted(found) if similar(t_sigs[t], v_sigs[pos], self.threshold)]
            if near:
                near_out.append((int(v_lines[pos]), int(t_lines[near[0]])))
        return exact_out, near_out


def _first_match(values: np.ndarray, table: np.ndarray, lines: np.ndarray) -> Any:
    """For each of ``values``: the smallest line of ``lines`` whose ``table`` entry equals it, else -1."""
    if not len(table):
        return np.full(len(values), -1, dtype=np.int64)
    order = np.lexsort((lines, table))
    sorted_table, sorted_lines = table[order], lines[order]
    at = np.searchsorted(sorted_table, values)
    at_clipped = np.minimum(at, len(sorted_table) - 1)
    hit = sorted_table[at_clipped] == values
    return np.where(hit, sorted_lines[at_clipped], -1)
