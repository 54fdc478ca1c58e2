"""The Matcher facade: standardise → block → score every version of every candidate → decide.

The keys as given are read first; the error variants only when those lead to no automatic
match, or to one that differs from the query in a name or the birth date (``blocking.tiers``),
and then every candidate of both is ranked and decided together.

The database layer supplies candidates through a CandidateSource; everything here is pure and
synchronous, so the same engine serves the SLF poller, the web UI, batch files and the
duplicate sweep, and is tested without a database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any, NamedTuple

from .blocking import (BlockingConfig, CandidateRow, Candidates, CandidateSource, QueryKey, gather, query_keys,
                       tiers)
from .compare import FIELDS, FIRST_AT, LAST_AT, Level, compare_levels, name_levels, one_misspelling_apart
from .decide import (POSSIBLE_TWIN, Outcome, ScoredCandidate, Thresholds, Verdict, confidence, decide,
                     hard_conflicts)
from .explain import Explanation, record_dict
from .pickled import reduce_frozen
from .romanized import BUILT_IN, Romanizations
from .standardize import DEFAULT_CONFIG, StandardizeConfig, Standardized, StudentRecord, standardize, swap_names
from .weights import DEFAULT_PARAMETERS, FieldScore, Frequencies, Parameters, score_levels, total_weight

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

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


class Matcher:
    """``Matcher(params, thresholds, source, frequencies).match(record) -> Decision``.

    ``explain_limit``: the best-scored students the explanation shows in full (at least K, the
    potential matches offered). Five, as K: a batch row's explanation is two thirds of what it
    writes to the database, and a reviewer reads the candidates offered, not the tenth best.
    ``romanizations``: the first names written several ways (the built-in table, or it with a
    state's own lines)."""

    def __init__(self, params: Parameters = DEFAULT_PARAMETERS, thresholds: Thresholds = Thresholds(),
                 source: CandidateSource | None = None, frequencies: Frequencies | None = None, *,
                 blocking: BlockingConfig = BlockingConfig(), standardize_config: StandardizeConfig = DEFAULT_CONFIG,
                 explain_limit: int = 5, romanizations: Romanizations = BUILT_IN) -> None:
        self.params = params
        self.thresholds = thresholds
        self.source = source
        self.frequencies = frequencies
        self.blocking = blocking
        self.standardize_config = standardize_config
        self.explain_limit = max(explain_limit, thresholds.max_candidates)
        self.romanizations = romanizations
        self._alike = romanizations.alike

    def standardize(self, record: StudentRecord | Standardized) -> Standardized:
        return record if isinstance(record, Standardized) else standardize(record, self.standardize_config)

    # ---- scoring ----

    def reading(self, q: Standardized, c: Standardized, memo: dict[tuple[str, str], float] | None = None
                ) -> tuple[tuple[Level, ...], float, Standardized, bool]:
        """The best reading of a pair: its levels (``FIELDS`` order), total weight, the query as
        read (names swapped or not) and whether they were swapped. The names are read the other
        way round only when neither agrees, and kept so only when that scores higher."""
        levels = compare_levels(q, c, self._alike)
        total = total_weight(levels, c, self.params, self.frequencies, memo)
        if levels[FIRST_AT] not in _FIRST_AGREES and levels[LAST_AT] not in _LAST_AGREES:
            qs = _swapped(q)
            s_first, s_last = name_levels(qs, c, self._alike)  # the swapped reading changes these levels only
            if _swap_reading_fits(s_first, s_last, qs, c):
                s_levels = (s_first, *levels[FIRST_AT + 1:LAST_AT], s_last, *levels[LAST_AT + 1:])
                s_total = total_weight(s_levels, c, self.params, self.frequencies, memo)
                penalty = self.params.weight("name_order", Level.SWAPPED)
                if s_total + penalty > total:
                    return s_levels, s_total + penalty, qs, True
        return levels, total, q, False

    def score_pair(self, q: Standardized, c: Standardized
                   ) -> tuple[tuple[FieldScore, ...], float, tuple[str, ...], bool]:
        """Per-field weights, total, hard conflicts and whether the names were read swapped."""
        levels, total, qq, swapped = self.reading(q, c)
        by_field = dict(zip(FIELDS, levels))
        fields, _ = score_levels(by_field, qq, c, self.params, self.frequencies)
        if swapped:
            fields = (*fields, FieldScore("name_order", str(Level.SWAPPED), self.params.weight("name_order",
                                                                                                Level.SWAPPED)))
        return fields, total, hard_conflicts(qq, c, by_field, self.frequencies, self._alike), swapped

    def score_student(self, q: Standardized, rows: Sequence[CandidateRow], found_by: Iterable[str] = ()
                      ) -> ScoredCandidate:
        """Score every stored version (alias) of one student and keep the best."""
        if not rows:
            raise ValueError("a student needs at least one version to be scored")
        row = rows[0] if len(rows) == 1 else self._best_version(q, rows, {})[1]
        fields, total, conflicts, swapped = self.score_pair(q, row.record)
        return ScoredCandidate(row.student_id, row.version, total, confidence(total, self.params.prior),
                               fields, conflicts, tuple(found_by), swapped)

    def _best_version(self, q: Standardized, rows: Sequence[CandidateRow], memo: dict[tuple[str, str], float],
                      totals: dict[tuple[str, int], float] | None = None) -> tuple[float, CandidateRow]:
        """(total weight, version) of a student's best-scoring version (the first, on a tie).
        ``totals``: the weights of versions scored before in this lookup, by (student, version)."""
        best_total, best_row = -math.inf, rows[0]
        for row in rows:
            known = None if totals is None else totals.get((row.student_id, row.version))
            if known is not None:
                total = known
            else:
                total = self.reading(q, row.record, memo)[1]
                if totals is not None:
                    totals[(row.student_id, row.version)] = total
            if total > best_total:
                best_total, best_row = total, row
        return best_total, best_row

    def compare_records(self, a: StudentRecord | Standardized, b: StudentRecord | Standardized,
                        student_id: str = "") -> ScoredCandidate:
        """Score two records directly (the duplicate sweep, the review screen)."""
        return self.score_student(self.standardize(a), [CandidateRow(student_id, 0, self.standardize(b))])

    # ---- lookup ----

    def match(self, record: StudentRecord | Standardized) -> Decision:
        return self.match_many([record])[0]

    def match_many(self, records: Sequence[StudentRecord | Standardized]) -> list[Decision]:
        """``[match(r) for r in records]``, the same decisions, each tier's reads asked together:
        every record's keys as given first, then the variant keys of those that need them, handed
        to the source's ``prepare`` (if it has one: the database prefetch reads them all in one
        statement) before any record reads them."""
        source = self.source
        if source is None:
            raise ValueError("Matcher.match needs a candidate source")
        firsts = [self._first_tier(self.standardize(r), source) for r in records]
        wanted = [k for first in firsts if first.needs_variants for k in first.variants]
        prepare = getattr(source, "prepare", None)
        if wanted and prepare is not None:
            prepare(wanted)
        return [self._decision(first, source) for first in firsts]

    def _first_tier(self, q: Standardized, source: CandidateSource) -> _Lookup:
        as_given, variants = tiers(query_keys(q))
        scores = _Scores()
        found = gather(as_given, source, self.blocking)
        scored = self._score_ranked(q, found, scores)
        verdict = decide(scored, self.thresholds, found.incomplete)
        needed = bool(variants) and not (verdict.outcome == Outcome.MATCH and _agrees_as_given(verdict.candidates[0]))
        return _Lookup(q, variants, scores, found, scored, verdict, needed)

    def _decision(self, first: _Lookup, source: CandidateSource) -> Decision:
        q, found, scored, verdict = first.query, first.found, first.scored, first.verdict
        if first.needs_variants:
            found = gather(first.variants, source, self.blocking, prior=found)
            scored = self._score_ranked(q, found, first.scores)
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
            candidates_scored=len(found.rows), thresholds=_thresholds_dict(self.thresholds),
            parameters_version=self.params.version,
        )
        return Decision(verdict.outcome, verdict.student_id, verdict.candidates, verdict.reason, explanation)

    def _score_ranked(self, q: Standardized, found: Candidates, scores: _Scores | None = None
                      ) -> list[ScoredCandidate]:
        """The students ``decide`` and the explanation look at, scored in full: the best
        ``explain_limit`` by weight, and on to the first after the best that is no possible twin
        (the rival for the margin). Every student is ranked by its total weight alone; building
        field scores and conflicts for the rest (most of a lookup at ten million students) would
        change nothing: ``decide`` and the explanation read the best-ranked candidates only."""
        scores = scores or _Scores()
        memo, totals = scores.memo, scores.totals
        ranked = sorted(((*self._best_version(q, rows, memo, totals), sid) for sid, rows in found.rows.items()),
                        key=lambda t: (-t[0], t[2]))
        out: list[ScoredCandidate] = []
        rival = False
        for _, row, sid in ranked:
            if len(out) >= self.explain_limit and rival:
                break
            found_by = tuple(found.found_by.get(sid, ()))
            c = scores.full.get((sid, row.version, found_by))
            if c is None:
                c = scores.full[(sid, row.version, found_by)] = self.score_student(q, [row], found_by)
            rival = rival or (bool(out) and POSSIBLE_TWIN not in c.conflicts)
            out.append(c)
        return out


#: the levels at which a field of the student matched agrees with the query as given
_AS_GIVEN_AGREES = {"first_name": frozenset(map(str, _FIRST_AGREES)), "last_name": frozenset(map(str, _LAST_AGREES)),
                    "birth_date": frozenset({str(Level.EXACT)})}


def _agrees_as_given(c: ScoredCandidate) -> bool:
    """Whether an automatic match found by the keys as given agrees with the query as given on
    first name, last name and birth date: then the variant keys, which recover a record keyed
    with its names or its day and month the other way round, have nothing to recover. A match
    that differs in one of them may be the wrong child (one with the same first and middle name
    and birth date, say) while the right one is keyed with the names swapped: the variants are
    read, and all candidates decided together."""
    levels = {f.field: f.level for f in c.fields}
    return not c.names_swapped and all(levels.get(name) in agree for name, agree in _AS_GIVEN_AGREES.items())


class _Scores:
    """What one lookup has scored, by its first tier of keys for its second (``Matcher.match``):
    the agreeing names' weights, each version's total weight, the students scored in full."""

    __slots__ = ("memo", "totals", "full")

    def __init__(self) -> None:
        self.memo: dict[tuple[str, str], float] = {}
        self.totals: dict[tuple[str, int], float] = {}
        self.full: dict[tuple[str, int, tuple[str, ...]], ScoredCandidate] = {}


class _Lookup(NamedTuple):
    """One lookup after its first tier (``Matcher.match_many``): what it read and decided, and
    whether it must read the variant keys before its decision stands."""

    query: Standardized
    variants: tuple[QueryKey, ...]
    scores: _Scores
    found: Candidates
    scored: list[ScoredCandidate]
    verdict: Verdict
    needs_variants: bool


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
