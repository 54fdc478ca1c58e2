"""The periodic duplicate sweep (``slf ssid sweep``; spec/matching.md "Review and repair").

Why it works this way: a duplicate ID is two active students the matcher would have matched
had the second request been decided differently (a user forcing a new ID, a legacy load, a
record fixed later). So the sweep asks the very same questions a lookup asks: every version
(alias) of every active student is used as a query, its candidates come from the database's
blocking keys (``DbCandidateSource``, the lookup's own source) and each candidate student is
scored with ``Matcher.score_student`` (best over its versions). A pair whose weight reaches the
review threshold goes on the review list, once (the higher of the two directions' weights),
with its confidence, the fields that differ and any hard conflict. Pairs the matcher would
match automatically (above the match threshold for their birth-date case, no conflict) are
marked LIKELY_DUPLICATE; the others REVIEW. Twins carry POSSIBLE_TWIN, a hard conflict, and are
therefore never LIKELY_DUPLICATE.

Nothing is changed: a person merges with ``slf ssid deactivate`` (the surviving ID named).
The list holds IDs and field-level comparisons only, no personal data. Students are read in
pages by ID (keyset), so the sweep runs in bounded memory apart from the pairs found.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from .atomic import atomic_write
from .db.candidates import DbCandidateSource
from .db.schema import ACTIVE, aliases_t, students_t
from .matching import Matcher, ScoredCandidate
from .matching.blocking import gather, query_keys
from .matching.compare import Level
from .records import standardized_from_json

LIKELY_DUPLICATE, REVIEW = "LIKELY_DUPLICATE", "REVIEW"
COLUMNS = ("StudentID_A", "StudentID_B", "Class", "Weight", "Confidence", "DifferingFields", "Conflicts",
           "NamesSwapped", "FoundBy")
PAGE = 500
_AGREE = {str(Level.EXACT), str(Level.MISSING)}
_IGNORED = {"district", "building"}  # where a student goes to school says nothing about being a duplicate


@dataclass(frozen=True)
class ReviewPair:
    a: str
    b: str
    classification: str
    weight: float
    confidence: float
    differing: tuple[str, ...]
    conflicts: tuple[str, ...]
    names_swapped: bool
    found_by: tuple[str, ...]

    def row(self) -> list[Any]:
        return [self.a, self.b, self.classification, f"{self.weight:.2f}", f"{self.confidence:.4f}",
                " ".join(self.differing), " ".join(self.conflicts), "Y" if self.names_swapped else "N",
                " ".join(self.found_by)]


@dataclass
class SweepResult:
    pairs: list[ReviewPair] = field(default_factory=list)
    students: int = 0
    incomplete: int = 0  # students whose blocks were cut (pairs may be missing)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        likely = sum(1 for p in self.pairs if p.classification == LIKELY_DUPLICATE)
        return {"students": self.students, "pairs": len(self.pairs), "likely_duplicates": likely,
                "review": len(self.pairs) - likely, "incomplete_blocks": self.incomplete,
                "seconds": round(self.seconds, 3)}


def classify(c: ScoredCandidate, matcher: Matcher) -> str:
    t = matcher.thresholds
    needed = t.match if c.level("birth_date") == str(Level.EXACT) else t.match_inexact_birth_date
    return LIKELY_DUPLICATE if c.weight >= needed and not c.conflicts else REVIEW


def _pair(a: str, c: ScoredCandidate, matcher: Matcher) -> ReviewPair:
    lo, hi = sorted((a, c.student_id))
    differing = tuple(f.field for f in c.fields if f.level not in _AGREE and f.field not in _IGNORED)
    return ReviewPair(lo, hi, classify(c, matcher), c.weight, c.confidence, differing, tuple(c.conflicts),
                      c.names_swapped, tuple(c.found_by))


def _sweep_page(conn: Connection, matcher: Matcher, after: str | None, page: int,
                best: dict[tuple[str, str], ReviewPair]) -> tuple[str | None, int, int]:
    """Sweep the next ``page`` active students after ``after``: (last ID, students, incomplete)."""
    s = students_t.c
    q = select(s.student_id).where(s.status == ACTIVE)
    if after is not None:
        q = q.where(s.student_id > after)
    ids = list(conn.execute(q.order_by(s.student_id).limit(page)).scalars())
    if not ids:
        return None, 0, 0
    a = aliases_t.c
    versions: dict[str, list[Any]] = {}
    for sid, std, record in conn.execute(select(a.student_id, a.std, a.record).where(
            and_(a.student_id >= ids[0], a.student_id <= ids[-1])).order_by(a.student_id, a.version)):
        versions.setdefault(sid, []).append(standardized_from_json(std, record))
    source = DbCandidateSource(conn)
    review = matcher.thresholds.review
    incomplete = 0
    for sid in ids:
        cut = False
        for q_std in versions.get(sid, ()):
            found = gather(query_keys(q_std), source, matcher.blocking)
            cut = cut or found.incomplete
            for other, rows in found.rows.items():
                if other == sid:
                    continue
                c = matcher.score_student(q_std, rows, found.found_by.get(other, ()))
                if c.weight < review:
                    continue
                p = _pair(sid, c, matcher)
                key = (p.a, p.b)
                if key not in best or best[key].weight < p.weight:
                    best[key] = p
        incomplete += cut
    return ids[-1], len(ids), incomplete


async def sweep(store, matcher: Matcher | None = None, *, page: int = PAGE,
                progress: Callable[[int], None] | None = None) -> SweepResult:
    """Every pair of active students that reaches the review threshold, best first."""
    matcher = matcher or store.settings.matcher()
    started = time.perf_counter()
    result = SweepResult()
    best: dict[tuple[str, str], ReviewPair] = {}
    after: str | None = None
    while True:
        async with store.read() as conn:
            last, n, cut = await conn.run_sync(lambda c: _sweep_page(c, matcher, after, page, best))
        if not n:
            break
        result.students += n
        result.incomplete += cut
        after = last
        if progress is not None:
            progress(result.students)
    result.pairs = sorted(best.values(), key=lambda p: (p.classification != LIKELY_DUPLICATE, -p.weight, p.a, p.b))
    result.seconds = time.perf_counter() - started
    return result


def write_review(pairs: list[ReviewPair], out: Path) -> None:
    """The review list as CSV, written to a temporary file, fsynced and renamed."""
    with atomic_write(out, encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(COLUMNS)
        for p in pairs:
            w.writerow(p.row())


async def sweep_to_csv(store, out: Path, matcher: Matcher | None = None,
                       progress: Callable[[int], None] | None = None) -> SweepResult:
    result = await sweep(store, matcher, progress=progress)
    write_review(result.pairs, out)
    return result


__all__ = ["COLUMNS", "LIKELY_DUPLICATE", "REVIEW", "ReviewPair", "SweepResult", "classify", "sweep",
           "sweep_to_csv", "write_review"]
