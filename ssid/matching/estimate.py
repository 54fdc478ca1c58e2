"""Estimate m and u from data, as Splink does: u from random pairs, m by EM or from labels.

Hand-set defaults (weights.py) are a starting point; a state's own master table says how often
two different students agree by chance on each field (u: random pairs are almost never the
same child), and candidate pairs from blocking, or resolved reviews, say how often the same
child's records agree (m). The result is a new Parameters version.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from .compare import FIELD_LEVELS, Level, compare
from .standardize import Standardized
from .weights import LevelParam, Parameters

Vector = tuple[tuple[str, str], ...]  # ((field, level), ...) without MISSING fields


def vector(a: Standardized, b: Standardized) -> Vector:
    return tuple((f, str(lvl)) for f, lvl in compare(a, b).items() if lvl != Level.MISSING)


def _proportions(counts: Mapping[str, Counter[str]], smoothing: float) -> dict[str, dict[str, float]]:
    out = {}
    for f, levels in FIELD_LEVELS.items():
        c = counts.get(f, Counter())
        total = sum(c.values()) + smoothing * len(levels)
        out[f] = {str(lvl): (c[str(lvl)] + smoothing) / total for lvl in levels}
    return out


def estimate_u(records: Sequence[Standardized], pairs: int = 100_000, seed: int = 0, smoothing: float = 0.5
               ) -> dict[str, dict[str, float]]:
    """u per field and level from random pairs of distinct master records."""
    rng = random.Random(seed)
    counts: dict[str, Counter[str]] = {f: Counter() for f in FIELD_LEVELS}
    n = len(records)
    if n < 2:
        raise ValueError("need at least two records")
    for _ in range(pairs):
        i, j = rng.randrange(n), rng.randrange(n - 1)
        j += j >= i
        for f, lvl in vector(records[i], records[j]):
            counts[f][lvl] += 1
    return _proportions(counts, smoothing)


def estimate_m_from_labels(matches: Iterable[tuple[Standardized, Standardized]], smoothing: float = 0.5
                           ) -> dict[str, dict[str, float]]:
    """m per field and level from pairs known to be the same student (resolved reviews)."""
    counts: dict[str, Counter[str]] = {f: Counter() for f in FIELD_LEVELS}
    for a, b in matches:
        for f, lvl in vector(a, b):
            counts[f][lvl] += 1
    return _proportions(counts, smoothing)


def estimate_m_em(vectors: Iterable[Vector], params: Parameters, iterations: int = 40, tolerance: float = 1e-6,
                  floor: float = 1e-4) -> tuple[dict[str, dict[str, float]], float]:
    """m (and the share of matches, lambda) by expectation–maximisation over comparison vectors
    of unlabelled candidate pairs, with u held fixed (Splink's practice: u from random pairs).
    Starts from ``params``; returns (m, lambda)."""
    grouped = Counter(vectors)
    if not grouped:
        raise ValueError("no comparison vectors")
    m = {f: {lvl: p.m for lvl, p in levels.items()} for f, levels in params.fields.items() if f in FIELD_LEVELS}
    u = {f: {lvl: p.u for lvl, p in levels.items()} for f, levels in params.fields.items() if f in FIELD_LEVELS}
    lam = 0.5
    total = sum(grouped.values())
    for _ in range(iterations):
        num: dict[str, Counter[str]] = {f: Counter() for f in m}
        den: dict[str, float] = {f: 0.0 for f in m}
        matched = 0.0
        for vec, count in grouped.items():
            log_m = math.log(lam) + sum(math.log(m[f][lvl]) for f, lvl in vec if f in m)
            log_u = math.log(1 - lam) + sum(math.log(u[f][lvl]) for f, lvl in vec if f in u)
            p = 1.0 / (1.0 + math.exp(max(-700.0, min(700.0, log_u - log_m))))
            matched += p * count
            for f, lvl in vec:
                if f in m:
                    num[f][lvl] += p * count
                    den[f] += p * count
        new_lam = min(max(matched / total, 1e-9), 1 - 1e-9)
        change = abs(new_lam - lam)
        for f in m:
            if den[f] <= 0:
                continue
            levels = m[f]
            fresh = {lvl: max(num[f][lvl] / den[f], floor) for lvl in levels}
            norm = sum(fresh.values())
            for lvl in levels:
                value = fresh[lvl] / norm
                change = max(change, abs(value - levels[lvl]))
                levels[lvl] = value
        lam = new_lam
        if change < tolerance:
            break
    return m, lam


def parameters_from(base: Parameters, version: str, m: Mapping[str, Mapping[str, float]] | None = None,
                    u: Mapping[str, Mapping[str, float]] | None = None, prior: float | None = None) -> Parameters:
    """A new parameter version: ``base`` with the given m and/or u replaced (other fields kept)."""
    updates: dict[str, dict[str, LevelParam]] = {}
    for f, levels in base.fields.items():
        if f not in FIELD_LEVELS:
            continue
        updates[f] = {lvl: LevelParam(m[f][lvl] if m and f in m and lvl in m[f] else p.m,
                                      u[f][lvl] if u and f in u and lvl in u[f] else p.u)
                      for lvl, p in levels.items()}
    return base.replace_levels(version, updates, prior)
