"""The state's own u probabilities, read from its master table (``slf ssid estimate``).

Why: the built-in parameters assume a generic US K-12 population. How often two *different*
children agree by chance on a birth date, a birthplace, a race or language code, a district,
depends on the state's own students (spec/matching.md: u from random pairs of the master
table, as Splink does). m, how often one child's records agree with each other, cannot be read
from the table (each child is stored once), so it is kept from the base parameters.

A random pair of two stored students is almost never one child, so the share of random pairs
at each comparison level is that level's u. Levels too rare to be measured in the sample (an
equal SSN, a day/month swap) keep the base value, and so does a field too seldom filled in on
both sides to be measured at all, rather than be replaced by a guess.

m can be estimated too, on request, as Splink does: by expectation–maximisation over candidate
pairs, here the candidates shown in the stored decisions' explanations (their field levels, as
compared then), with u held at the measured values. Those pairs mix the same child and
different children; EM tells them apart by how their levels co-occur. A level seen too seldom
among them keeps its m, and the measured levels share what the kept ones leave.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import func, or_, select

from .atomic import atomic_write
from .db.schema import ACTIVE, aliases_t, students_t
from .decisions import decisions_t, stored_explanation
from .matching import Parameters, Standardized
from .matching.compare import FIELD_LEVELS
from .matching.estimate import Vector, estimate_m_em, vector
from .matching.weights import LevelParam
from .records import standardized_from_json

#: random pairs compared on a field (both sides filled in) before its u is replaced
MIN_FIELD_PAIRS = 1_000
#: random pairs at a level before that level's u is replaced (fewer: too rare to measure here)
MIN_LEVEL_PAIRS = 20


@dataclass(frozen=True)
class LevelChange:
    field: str
    level: str
    pairs: int  # random pairs observed at this level
    before: LevelParam
    after: LevelParam
    measured: bool  # u measured; False: too rare in the sample (or the field too seldom filled in): kept
    candidates: int = 0  # candidate pairs of stored decisions at this level (0: m not estimated)
    m_measured: bool = False  # m estimated; False: kept from the base


@dataclass
class Estimate:
    parameters: Parameters
    students: int  # distinct active students in the sample
    pairs: int  # random pairs compared
    compared: dict[str, int] = field(default_factory=dict)  # field -> pairs with both sides filled in
    levels: list[LevelChange] = field(default_factory=list)
    candidate_pairs: int = 0  # candidate pairs read from stored decisions (0: m kept)
    match_share: float | None = None  # EM's share of those pairs that are one child


async def decision_vectors(store, limit: int) -> list[Vector]:
    """The comparison vectors (field levels, MISSING left out) of the candidates shown in the
    newest ``limit`` stored decisions that the matcher explained."""
    out: list[Vector] = []
    d_ = decisions_t.c
    q = (select(d_.explanation, d_.explanation_z).where(or_(d_.explanation.is_not(None), d_.explanation_z.is_not(None)))
         .order_by(d_.id.desc()).limit(limit))
    async with store.read() as conn:
        for row in (await conn.execute(q)).mappings().all():
            try:
                d = stored_explanation(row)
            except ValueError:  # not JSON, or compressed bytes that are not an explanation: nothing to learn from
                continue
            candidates = d.get("candidates") if isinstance(d, dict) else None
            for c in candidates if isinstance(candidates, list) else ():
                out.append(tuple((f["field"], f["level"]) for f in c.get("fields", ())
                                 if f.get("field") in FIELD_LEVELS and f.get("level") != "MISSING"))
    return out


async def sample_records(store, size: int, seed: int) -> list[Standardized]:
    """Up to ``size`` active students, one stored version each, drawn at random (by alias row id:
    no full scan, on SQLite as on PostgreSQL)."""
    rng = random.Random(seed)
    async with store.read() as conn:
        top = (await conn.execute(select(func.max(aliases_t.c.id)))).scalar() or 0
        if top == 0:
            return []
        wanted = sorted(rng.sample(range(1, top + 1), min(top, size * 2)))  # some ids are gaps or inactive
        chosen: dict[str, Standardized] = {}
        for i in range(0, len(wanted), 500):
            q = (select(aliases_t.c.student_id, aliases_t.c.std)
                 .select_from(aliases_t.join(students_t, students_t.c.student_id == aliases_t.c.student_id))
                 .where(aliases_t.c.id.in_(wanted[i:i + 500]), students_t.c.status == ACTIVE))
            for sid, std in (await conn.execute(q)).all():
                chosen.setdefault(sid, standardized_from_json(json.loads(std) if isinstance(std, str) else std))
    records = [chosen[sid] for sid in sorted(chosen)]  # the same draw on every backend
    rng.shuffle(records)
    return records[:size]


def estimate_from(records: list[Standardized], base: Parameters, version: str, pairs: int, seed: int,
                  candidates: list[Vector] | None = None) -> Estimate:
    """u from ``pairs`` random pairs of distinct ``records``; with ``candidates`` (comparison
    vectors of candidate pairs), m by EM with that u; the prior and every level not measured
    kept from ``base``."""
    if len(records) < 2:
        raise ValueError("the database needs at least two active students to compare")
    rng = random.Random(seed)
    counts: dict[str, Counter[str]] = {f: Counter() for f in FIELD_LEVELS}
    n = len(records)
    for _ in range(pairs):
        i, j = rng.randrange(n), rng.randrange(n - 1)
        j += j >= i
        for f, lvl in vector(records[i], records[j]):
            counts[f][lvl] += 1
    out = Estimate(base, n, pairs)
    updates: dict[str, dict[str, LevelParam]] = {}
    for f, levels in base.fields.items():
        if f not in FIELD_LEVELS:
            continue
        seen = sum(counts[f].values())
        out.compared[f] = seen
        for lvl, p in levels.items():
            k = counts[f][lvl]
            measured = seen >= MIN_FIELD_PAIRS and k >= MIN_LEVEL_PAIRS
            after = LevelParam(p.m, k / seen) if measured else p
            updates.setdefault(f, {})[lvl] = after
            out.levels.append(LevelChange(f, lvl, k, p, after, measured))
    out.parameters = base.replace_levels(version, updates)
    if candidates is not None:
        _estimate_m(out, candidates, version)
    return out


def _estimate_m(out: Estimate, candidates: list[Vector], version: str) -> None:
    if len(candidates) < MIN_FIELD_PAIRS:
        raise ValueError(f"the stored decisions show {len(candidates):,} candidate pairs; estimating m needs at "
                         f"least {MIN_FIELD_PAIRS:,}: run without --m-from-decisions until more decisions are stored")
    with_u = out.parameters
    m, share = estimate_m_em(candidates, with_u)
    counts: dict[str, Counter[str]] = {f: Counter() for f in FIELD_LEVELS}
    for vec in candidates:
        for f, lvl in vec:
            counts[f][lvl] += 1
    updates: dict[str, dict[str, LevelParam]] = {}
    measured_m: set[tuple[str, str]] = set()
    for f, levels in with_u.fields.items():
        if f not in FIELD_LEVELS or sum(counts[f].values()) < MIN_FIELD_PAIRS:
            continue
        seen = {lvl for lvl in levels if counts[f][lvl] >= MIN_LEVEL_PAIRS}
        kept = sum(p.m for lvl, p in levels.items() if lvl not in seen)
        found = sum(m[f][lvl] for lvl in seen)
        if not seen or kept >= 1 or found <= 0:
            continue
        scale = (1 - kept) / found  # the measured levels share what the kept ones leave
        updates[f] = {lvl: LevelParam(min(1.0, m[f][lvl] * scale), p.u) if lvl in seen else p
                      for lvl, p in levels.items()}
        measured_m.update((f, lvl) for lvl in seen)
    out.parameters = with_u.replace_levels(version, updates)
    out.candidate_pairs, out.match_share = len(candidates), share
    out.levels = [replace(c, after=out.parameters.fields[c.field][c.level], candidates=counts[c.field][c.level],
                          m_measured=(c.field, c.level) in measured_m) for c in out.levels]


async def estimate(store, base: Parameters, version: str, *, sample: int = 20_000, pairs: int = 200_000,
                   seed: int = 0, m_from_decisions: int = 0) -> Estimate:
    """``estimate_from`` over a random sample of the store's active students and, when
    ``m_from_decisions`` > 0, the candidates of that many of its newest stored decisions."""
    records = await sample_records(store, sample, seed)
    candidates = await decision_vectors(store, m_from_decisions) if m_from_decisions else None
    return estimate_from(records, base, version, pairs, seed, candidates)


def write_parameters(params: Parameters, out: Path) -> None:
    """The parameter set as JSON (``Parameters.to_dict``), written to a temporary file, fsynced and renamed."""
    with atomic_write(out, encoding="utf-8") as f:
        json.dump(params.to_dict(), f, indent=1)
        f.write("\n")
