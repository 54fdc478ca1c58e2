"""The explanation stored with every decision, and shown on the review screen.

An auditor (or the district clerk resolving a potential match, RFP 1.21.6.1) must be able to
see why the engine decided what it did: the inputs and their normalised forms, which keys
found each candidate, each field's level and weight, and the thresholds and parameter version
in force. Plain data, JSON round-trippable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .blocking import KeyReport
from .decide import Outcome, ScoredCandidate
from .pickled import reduce_frozen
from .standardize import Standardized, plain_fields
from .weights import FieldScore


@dataclass(frozen=True)
class Explanation:
    outcome: Outcome
    student_id: str | None
    reason: str
    returned: tuple[str, ...]  # the student ids the decision returned (the match, or the potentials)
    query: dict[str, Any]  # the raw record as submitted
    standardized: dict[str, Any]  # its normalised form
    keys: tuple[KeyReport, ...]  # every key looked up: rows found, narrowed, cut
    candidates: tuple[ScoredCandidate, ...]  # the best scored students, best first
    candidate_records: dict[str, dict[str, Any]]  # student_id -> normalised form of the version scored
    candidates_scored: int
    thresholds: dict[str, Any]
    parameters_version: str

    @property
    def incomplete(self) -> bool:
        return any(k.left_out > 0 for k in self.keys)

    def differences(self, student_id: str) -> dict[str, tuple[Any, Any]]:
        """Fields whose level is not an agreement, with (query value, candidate value)."""
        cand = next(c for c in self.candidates if c.student_id == student_id)
        rec = self.candidate_records.get(student_id, {})
        source = {"first_name": "first", "middle_name": "middle", "last_name": "last", "school": "building"}
        out = {}
        for f in cand.fields:
            if f.level not in ("EXACT", "MISSING", "SAME_BUILDING"):
                attr = source.get(f.field, f.field)
                out[f.field] = (self.standardized.get(attr), rec.get(attr))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome), "student_id": self.student_id, "reason": self.reason,
            "returned": list(self.returned), "query": self.query, "standardized": self.standardized,
            "keys": [k.to_dict() for k in self.keys],
            "candidates": [candidate_dict(c) for c in self.candidates],
            "candidate_records": self.candidate_records, "candidates_scored": self.candidates_scored,
            "incomplete": self.incomplete, "thresholds": self.thresholds,
            "parameters_version": self.parameters_version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Explanation:
        return cls(
            outcome=Outcome(d["outcome"]), student_id=d["student_id"], reason=d["reason"],
            returned=tuple(d["returned"]), query=dict(d["query"]),
            standardized=dict(d["standardized"]), keys=tuple(KeyReport.from_dict(k) for k in d["keys"]),
            candidates=tuple(ScoredCandidate.from_dict(c) for c in d["candidates"]),
            candidate_records={k: dict(v) for k, v in d["candidate_records"].items()},
            candidates_scored=int(d["candidates_scored"]), thresholds=dict(d["thresholds"]),
            parameters_version=str(d["parameters_version"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Explanation:
        return cls.from_dict(json.loads(text))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


def record_dict(std: Standardized) -> dict[str, Any]:
    """A normalised record as the explanation holds it: ``std.to_dict()`` without ``raw``,
    built without converting the raw record only to drop it (every lookup stores several)."""
    return plain_fields(std)


_SCORE_FIELDS = tuple(f.name for f in fields(FieldScore))


def candidate_dict(c: ScoredCandidate) -> dict[str, Any]:
    """``c.to_dict()`` without ``dataclasses.asdict`` (a recursive deep copy per field score,
    most of the cost of storing an explanation): the field scores hold plain values only."""
    return {"student_id": c.student_id, "version": c.version, "weight": c.weight,
            "confidence": c.confidence, "fields": [{n: getattr(f, n) for n in _SCORE_FIELDS} for f in c.fields],
            "conflicts": list(c.conflicts), "found_by": list(c.found_by), "names_swapped": c.names_swapped}
