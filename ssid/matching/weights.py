"""Fellegi–Sunter match weights: versioned m/u parameters, term frequencies, pair scores.

For each field level, m = P(level | same student) and u = P(level | different students); the
match weight is log2(m/u), and a pair's weight is the sum over fields (missing values add 0).
Names get a term-frequency adjustment: agreeing on a rare surname is stronger evidence than
agreeing on SMITH, so an exact name agreement uses u = the value's own frequency.
Parameters are plain data (a JSON/TOML-friendly dict) with a version recorded in every decision.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .compare import FIELD_LEVELS, FIELDS, Level
from .pickled import reduce_frozen
from .standardize import Standardized

TF_VALUE = {"first_name": "first_key", "last_name": "last_key"}


@dataclass(frozen=True)
class LevelParam:
    m: float
    u: float

    def __post_init__(self) -> None:
        if not (0 < self.m <= 1 and 0 < self.u <= 1):
            raise ValueError(f"m and u must be probabilities in (0, 1], got m={self.m}, u={self.u}")

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class Parameters:
    """m/u per field and level, the prior match probability of a candidate pair (for the
    0–1 confidence) and the term-frequency settings. Treat as immutable."""

    version: str
    fields: Mapping[str, Mapping[str, LevelParam]]
    prior: float = 2.0 ** -14
    tf_fields: tuple[str, ...] = ("first_name", "last_name")
    tf_min_u: float = 1e-4  # caps the bonus of a very rare name (siblings share surnames)
    _weights: dict[tuple[str, str], float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        w = {(f, lvl): p.weight for f, levels in self.fields.items() for lvl, p in levels.items()}
        object.__setattr__(self, "_weights", w)

    def weight(self, field_name: str, level: str) -> float:
        """Weight of a level; 0 for MISSING or a level this parameter set does not know."""
        return self._weights.get((field_name, level), 0.0)

    def m(self, field_name: str, level: str) -> float:
        return self.fields[field_name][level].m

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "prior": self.prior, "tf_fields": list(self.tf_fields),
            "tf_min_u": self.tf_min_u,
            "fields": {f: {lvl: {"m": p.m, "u": p.u} for lvl, p in levels.items()}
                       for f, levels in self.fields.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Parameters:
        return cls(
            version=str(data["version"]), prior=float(data.get("prior", 2.0 ** -14)),
            tf_fields=tuple(data.get("tf_fields", ("first_name", "last_name"))),
            tf_min_u=float(data.get("tf_min_u", 1e-4)),
            fields={f: {lvl: LevelParam(float(p["m"]), float(p["u"])) for lvl, p in levels.items()}
                    for f, levels in data["fields"].items()},
        )

    def replace_levels(self, version: str, updates: Mapping[str, Mapping[str, LevelParam]], prior: float | None = None
                       ) -> Parameters:
        """A new parameter set (new version) with some fields' levels replaced."""
        merged = {f: dict(levels) for f, levels in self.fields.items()}
        for f, levels in updates.items():
            merged.setdefault(f, {}).update(levels)
        return Parameters(version, merged, self.prior if prior is None else prior, self.tf_fields, self.tf_min_u)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


def _p(**levels: tuple[float, float]) -> dict[str, LevelParam]:
    return {name: LevelParam(m, u) for name, (m, u) in levels.items()}


#: Defaults reasoned from K-12 data: ~4,750 possible birth dates, US name frequency skew
#: (sum of squared frequencies ≈ 0.004 for first names, 0.0015 for surnames), a few per cent
#: of re-submissions with each kind of keying error. Replace with estimate.py's output once a
#: master table and resolved reviews exist.
DEFAULT_PARAMETERS = Parameters(
    version="default-1",
    fields={
        "first_name": _p(EXACT=(.88, .004), JW_92=(.03, .002), NICKNAME=(.04, .0008), TOKEN_SUBSET=(.01, .0005),
                         JW_88=(.01, .004), PHONETIC=(.005, .003), DIFFERENT=(.025, .9857)),
        "middle_name": _p(EXACT=(.80, .006), INITIAL=(.08, .04), JW_92=(.03, .002), NICKNAME=(.01, .001),
                          TOKEN_SUBSET=(.01, .001), JW_88=(.01, .004), PHONETIC=(.005, .003),
                          DIFFERENT=(.055, .939)),
        "last_name": _p(EXACT=(.90, .0015), JW_92=(.03, .0008), TOKEN_SUBSET=(.035, .0002), JW_88=(.01, .003),
                        PHONETIC=(.005, .001), DIFFERENT=(.02, .9935)),
        "birth_date": _p(EXACT=(.94, .00021), DAY_MONTH_SWAPPED=(.012, .00015), ONE_DIGIT=(.025, .003),
                         WITHIN_MONTH=(.008, .012), DIFFERENT=(.015, .9846)),
        "gender": _p(EXACT=(.985, .5), DIFFERENT=(.015, .5)),
        "birth_city": _p(EXACT=(.85, .04), JW_92=(.03, .003), JW_88=(.01, .006), DIFFERENT=(.11, .951)),
        "race_ethnicity": _p(EXACT=(.92, .35), DIFFERENT=(.08, .65)),
        "native_language": _p(EXACT=(.95, .65), DIFFERENT=(.05, .35)),
        "ssn": _p(EXACT=(.96, 1e-6), ONE_EDIT=(.03, 2e-5), DIFFERENT=(.01, .99998)),
        "mothers_maiden_name": _p(EXACT=(.85, .002), JW_92=(.04, .001), JW_88=(.01, .003), PHONETIC=(.01, .002),
                                  DIFFERENT=(.09, .992)),
        "school": _p(SAME_BUILDING=(.55, .01), SAME_DISTRICT=(.15, .03), DIFFERENT=(.30, .96)),
        # a penalty, applied when the best reading of the query has first and last swapped
        "name_order": _p(SWAPPED=(.005, .04)),
    },
)


class Frequencies(Protocol):
    """What the matcher asks of name counts: ``TermFrequencies`` here, the database's name counts
    (``ssid.db.namecounts.DbTermFrequencies``) in the service."""

    @property
    def totals(self) -> Mapping[str, int]: ...

    def count(self, field_name: str, value: str) -> int: ...

    def frequency(self, field_name: str, value: str) -> float | None: ...


@dataclass(frozen=True)
class TermFrequencies:
    """How often each name value occurs in the master table (counts per field), supplied by
    the caller (the database counts them; tests build them from a population)."""

    counts: Mapping[str, Mapping[str, int]]
    totals: Mapping[str, int]

    def count(self, field_name: str, value: str) -> int:
        """How many stored records carry this value (0 when unknown)."""
        return self.counts.get(field_name, {}).get(value, 0)

    def frequency(self, field_name: str, value: str) -> float | None:
        total = self.totals.get(field_name, 0)
        if not total or not value:
            return None
        return max(self.counts.get(field_name, {}).get(value, 0), 1) / total

    @classmethod
    def from_records(cls, records: Iterable[Standardized], fields: Iterable[str] = ("first_name", "last_name")
                     ) -> TermFrequencies:
        names = list(fields)
        counts = {f: Counter[str]() for f in names}
        for r in records:
            for f in names:
                v = getattr(r, TF_VALUE[f])
                if v:
                    counts[f][v] += 1
        return cls({f: dict(c) for f, c in counts.items()}, {f: sum(c.values()) for f, c in counts.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"counts": {f: dict(c) for f, c in self.counts.items()}, "totals": dict(self.totals)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TermFrequencies:
        return cls({f: dict(c) for f, c in data["counts"].items()}, dict(data["totals"]))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class FieldScore:
    """One field's contribution to a pair's weight (tf_adjustment is included in weight)."""

    field: str
    level: str
    weight: float
    tf_adjustment: float = 0.0

    def __init__(self, field: str, level: str, weight: float, tf_adjustment: float = 0.0) -> None:
        # written out, not generated (``native``: hot constructors)
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "tf_adjustment", tf_adjustment)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


def score_levels(levels: Mapping[str, Level], q: Standardized, c: Standardized, params: Parameters,
                 frequencies: Frequencies | None = None) -> tuple[tuple[FieldScore, ...], float]:
    """Per-field weights and their sum for one compared pair.

    Runs for every version of every candidate of every lookup: a field score without a
    term-frequency adjustment depends on (field, level) alone, so those are built once per
    parameter set and shared (``FieldScore`` is immutable); only a name's EXACT level with
    frequencies is computed per pair."""
    table = _field_scores(params)
    tf_fields = params.tf_fields if frequencies is not None else ()
    out = []
    total = 0.0
    for item in levels.items():
        name, level = item
        if level == _EXACT and name in tf_fields:
            score = _tf_score(name, level, c, params, frequencies)  # type: ignore[arg-type]
        else:
            score = table.get(item) or _plain_score(table, params, name, level)
        out.append(score)
        total += score.weight
    return tuple(out), total


_EXACT = Level.EXACT


def _tf_score(name: str, level: Level, c: Standardized, params: Parameters, frequencies: Frequencies
              ) -> FieldScore:
    """An agreeing name's score: u is the candidate's value's own frequency, when it has one."""
    w, adj = _tf_weight(name, level, getattr(c, TF_VALUE[name]), params, frequencies)
    return FieldScore(name, str(level), w, adj)


def _tf_weight(name: str, level: Level, value: str, params: Parameters, frequencies: Frequencies
               ) -> tuple[float, float]:
    """(weight, tf adjustment) of a name agreeing at ``level`` on this value."""
    w = params.weight(name, level)
    f = frequencies.frequency(name, value)
    if f is None:
        return w, 0.0
    tf_w = math.log2(params.m(name, level) / max(f, params.tf_min_u))
    return tf_w, tf_w - w


def total_weight(levels: Sequence[Level], c: Standardized, params: Parameters,
                 frequencies: Frequencies | None = None, memo: dict[tuple[str, str], float] | None = None
                 ) -> float:
    """``score_levels(dict(zip(FIELDS, levels)), q, c, params, frequencies)[1]``, bit for bit (the
    same weights added in the same order), without building the field scores.

    What a lookup ranks every candidate version by; only the few it shows are scored in full.
    ``memo``: agreeing names' weights by (field, value), kept by the caller for one lookup."""
    table, tf_at = _level_weights(params)
    if frequencies is None:
        tf_at = frozenset()
    total = 0.0
    for i, level in enumerate(levels):
        if level == _EXACT and i in tf_at:
            name = FIELDS[i]
            value = getattr(c, TF_VALUE[name])
            w = memo.get((name, value)) if memo is not None else None
            if w is None:
                w = _tf_weight(name, level, value, params, frequencies)[0]  # type: ignore[arg-type]
                if memo is not None:
                    memo[(name, value)] = w
            total += w
        else:
            total += table[i].get(level, 0.0)
    return total


#: id(parameters) -> (parameters, per field position {level: weight}), as ``_FIELD_SCORES``
_LEVEL_WEIGHTS: dict[int, tuple[Parameters, list[dict[str, float]], frozenset[int]]] = {}


def _level_weights(params: Parameters) -> tuple[list[dict[str, float]], frozenset[int]]:
    """(per field position {level: weight}, the positions of the term-frequency fields)."""
    got = _LEVEL_WEIGHTS.get(id(params))
    if got is None or got[0] is not params:
        if len(_LEVEL_WEIGHTS) >= 64:
            _LEVEL_WEIGHTS.clear()
        table: list[dict[str, float]] = [{level: params.weight(name, level) for level in FIELD_LEVELS[name]}
                                         for name in FIELDS]
        tf_at = frozenset(FIELDS.index(name) for name in params.tf_fields if name in FIELDS)
        got = _LEVEL_WEIGHTS[id(params)] = (params, table, tf_at)
    return got[1], got[2]


def _plain_score(table: dict[tuple[str, str], FieldScore], params: Parameters, name: str, level: Level
                 ) -> FieldScore:
    score = table[(name, level)] = FieldScore(name, str(level), params.weight(name, level), 0.0)
    return score


#: id(parameters) -> (parameters, {(field, level): FieldScore without tf adjustment}); the
#: parameters are kept in the entry so the id cannot be reused while the entry lives
_FIELD_SCORES: dict[int, tuple[Parameters, dict[tuple[str, str], FieldScore]]] = {}


def _field_scores(params: Parameters) -> dict[tuple[str, str], FieldScore]:
    got = _FIELD_SCORES.get(id(params))
    if got is None or got[0] is not params:
        if len(_FIELD_SCORES) >= 64:  # parameter sets are few; estimation may make many, briefly
            _FIELD_SCORES.clear()
        got = _FIELD_SCORES[id(params)] = (params, {})
    return got[1]


def check_parameters(params: Parameters) -> list[str]:
    """Problems with a parameter set: unknown fields or levels, fields without levels."""
    problems = []
    for f, levels in params.fields.items():
        if f not in FIELD_LEVELS and f != "name_order":
            problems.append(f"unknown field {f}")
        known = set(FIELD_LEVELS.get(f, ())) | ({"SWAPPED"} if f == "name_order" else set())
        problems += [f"{f}: unknown level {lvl}" for lvl in levels if lvl not in known]
    problems += [f"{f}: no levels" for f in FIELD_LEVELS if not params.fields.get(f)]
    return problems
