"""The Matcher facade: standardise → block → score every version of every candidate → decide.

The database layer supplies candidates through a CandidateSource; everything here is pure and
synchronous, so the same engine serves the SLF poller, the web UI, batch files and the
duplicate sweep, and is tested without a database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from .blocking import BlockingConfig, CandidateRow, CandidateSource, gather, query_keys
from .compare import Level, compare, name_levels, one_misspelling_apart
from .decide import Outcome, ScoredCandidate, Thresholds, confidence, decide, hard_conflicts
from .explain import Explanation, record_dict
from .standardize import DEFAULT_CONFIG, StandardizeConfig, Standardized, StudentRecord, standardize, swap_names
from .weights import DEFAULT_PARAMETERS, FieldScore, Parameters, TermFrequencies, score_levels

_FIRST_AGREES = (Level.EXACT, Level.JW_92, Level.NICKNAME, Level.TOKEN_SUBSET)
_LAST_AGREES = (Level.EXACT, Level.JW_92, Level.TOKEN_SUBSET)
_SIMILAR = (Level.JW_88, Level.PHONETIC)


def _swap_reading_fits(first: Level, last: Level, q: Standardized, c: Standardized) -> bool:
    """Whether the names read the other way round agree (``first``, ``last``: their levels):
    both, or one of them while the other is only misspelt (first and last swapped, and a typo
    in one of them)."""
    first_ok, last_ok = first in _FIRST_AGREES, last in _LAST_AGREES
    if first_ok and last_ok:
        return True
    if first_ok:
        return last in _SIMILAR or one_misspelling_apart(q.last_key, c.last_key)
    if last_ok:
        return first in _SIMILAR or one_misspelling_apart(q.first_key, c.first_key)
    return False


@dataclass(frozen=True)
class Decision:
    """The result of one lookup, with its explanation (store ``to_json()`` with the decision)."""

    outcome: Outcome
    student_id: str | None
    candidates: tuple[ScoredCandidate, ...]
    reason: str
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        return self.explanation.to_dict()

    def to_json(self) -> str:
        return self.explanation.to_json()

    @classmethod
    def from_json(cls, text: str) -> Decision:
        e = Explanation.from_dict(json.loads(text))
        shown = {c.student_id: c for c in e.candidates}
        chosen = tuple(shown[s] for s in e.returned)
        return cls(e.outcome, e.student_id, chosen, e.reason, e)


class Matcher:
    """``Matcher(params, thresholds, source, frequencies).match(record) -> Decision``."""

    def __init__(self, params: Parameters = DEFAULT_PARAMETERS, thresholds: Thresholds = Thresholds(),
                 source: CandidateSource | None = None, frequencies: TermFrequencies | None = None, *,
                 blocking: BlockingConfig = BlockingConfig(), standardize_config: StandardizeConfig = DEFAULT_CONFIG,
                 explain_limit: int = 10) -> None:
        self.params = params
        self.thresholds = thresholds
        self.source = source
        self.frequencies = frequencies
        self.blocking = blocking
        self.standardize_config = standardize_config
        self.explain_limit = max(explain_limit, thresholds.max_candidates)

    def standardize(self, record: StudentRecord | Standardized) -> Standardized:
        return record if isinstance(record, Standardized) else standardize(record, self.standardize_config)

    # ---- scoring ----

    def score_pair(self, q: Standardized, c: Standardized
                   ) -> tuple[tuple[FieldScore, ...], float, tuple[str, ...], bool]:
        """Per-field weights, total, hard conflicts and whether the names were read swapped."""
        levels = compare(q, c)
        fields, total = score_levels(levels, q, c, self.params, self.frequencies)
        swapped = False
        if levels["first_name"] not in _FIRST_AGREES and levels["last_name"] not in _LAST_AGREES:
            qs = _swapped(q)
            s_first, s_last = name_levels(qs, c)  # the swapped reading changes these levels only
            if _swap_reading_fits(s_first, s_last, qs, c):
                s_levels = {**levels, "first_name": s_first, "last_name": s_last}  # == compare(qs, c)
                s_fields, s_total = score_levels(s_levels, qs, c, self.params, self.frequencies)
                penalty = self.params.weight("name_order", Level.SWAPPED)
                if s_total + penalty > total:
                    fields = (*s_fields, FieldScore("name_order", str(Level.SWAPPED), penalty))
                    total, levels, q, swapped = s_total + penalty, s_levels, qs, True
        return fields, total, hard_conflicts(q, c, levels, self.frequencies), swapped

    def score_student(self, q: Standardized, rows: Sequence[CandidateRow], found_by: Iterable[str] = ()
                      ) -> ScoredCandidate:
        """Score every stored version (alias) of one student and keep the best."""
        best: tuple[CandidateRow, tuple[FieldScore, ...], float, tuple[str, ...], bool] | None = None
        for row in rows:
            fields, total, conflicts, swapped = self.score_pair(q, row.record)
            if best is None or total > best[2]:
                best = (row, fields, total, conflicts, swapped)
        if best is None:
            raise ValueError("a student needs at least one version to be scored")
        row, fields, total, conflicts, swapped = best
        return ScoredCandidate(row.student_id, row.version, total, confidence(total, self.params.prior),
                               fields, conflicts, tuple(found_by), swapped)

    def compare_records(self, a: StudentRecord | Standardized, b: StudentRecord | Standardized,
                        student_id: str = "") -> ScoredCandidate:
        """Score two records directly (the duplicate sweep, the review screen)."""
        return self.score_student(self.standardize(a), [CandidateRow(student_id, 0, self.standardize(b))])

    # ---- lookup ----

    def match(self, record: StudentRecord | Standardized) -> Decision:
        if self.source is None:
            raise ValueError("Matcher.match needs a candidate source")
        q = self.standardize(record)
        found = gather(query_keys(q), self.source, self.blocking)
        scored = [self.score_student(q, rows, found.found_by.get(sid, ())) for sid, rows in found.rows.items()]
        verdict = decide(scored, self.thresholds, found.incomplete)
        top = sorted(scored, key=lambda c: (-c.weight, c.student_id))[:self.explain_limit]
        records = {}
        for c in top:
            version = next(r for r in found.rows[c.student_id] if r.version == c.version)
            records[c.student_id] = record_dict(version.record)
        explanation = Explanation(
            outcome=verdict.outcome, student_id=verdict.student_id, reason=verdict.reason,
            returned=tuple(c.student_id for c in verdict.candidates), query=q.raw.to_dict(),
            standardized=record_dict(q), keys=found.reports, candidates=tuple(top), candidate_records=records,
            candidates_scored=len(scored), thresholds=_thresholds_dict(self.thresholds),
            parameters_version=self.params.version,
        )
        return Decision(verdict.outcome, verdict.student_id, verdict.candidates, verdict.reason, explanation)


def _swapped(q: Standardized) -> Standardized:
    """``swap_names(q)``, built once per query rather than once per candidate pair that needs it
    (the last query's reading is kept: a lookup scores all its candidates against one query)."""
    global _LAST_SWAP
    last = _LAST_SWAP
    if last is not None and last[0] is q:
        return last[1]
    qs = swap_names(q)
    _LAST_SWAP = (q, qs)
    return qs


_LAST_SWAP: tuple[Standardized, Standardized] | None = None


_THRESHOLD_FIELDS = tuple(f.name for f in dataclass_fields(Thresholds))
_PLAIN = (int, float, bool, str, type(None))


def _thresholds_dict(thresholds: Thresholds) -> dict[str, Any]:
    """``thresholds.to_dict()`` without ``asdict``'s recursive deep copy, while every value is a
    plain scalar (which ``asdict`` returns as it is)."""
    out = {name: getattr(thresholds, name) for name in _THRESHOLD_FIELDS}
    return out if all(type(v) in _PLAIN for v in out.values()) else thresholds.to_dict()
