"""Decide: match, potential matches or no match, from scored candidates.

The errors are not symmetric (spec/matching.md): a false match hands one child another
child's record, so an automatic match needs a weight above T_match, a clear margin over the
next student, and no hard conflict (two different SSNs; a possible twin). Between T_review and
that, at most K candidates go to a person, best first with a 0–1 confidence; below, a new ID.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from .compare import Alike, Level, keying_slip, one_misspelling_apart, spelling_variant, vowels_apart
from .pickled import reduce_frozen
from .romanized import romanized_alike
from .standardize import Standardized
from .weights import FieldScore, Frequencies

SSN_CONFLICT = "SSN_CONFLICT"  # both records carry a valid SSN and they differ
POSSIBLE_TWIN = "POSSIBLE_TWIN"  # same birth date and surname, first names not the same name


class Outcome(StrEnum):
    MATCH = "MATCH"
    POTENTIAL = "POTENTIAL"
    NO_MATCH = "NO_MATCH"


@dataclass(frozen=True)
class Thresholds:
    """Decision settings, in weight units (log2 of likelihood ratios), for the configuration file.

    Defaults were read off the weights of true and false candidate pairs on synthetic
    populations (ssid.population, 100,000 and 1,000,000 students, seeds 1, 3, 5): wrong
    candidates without a hard conflict reached about 23 (30 at 1M with a birth date one digit
    off), true matches mostly score above 32. Re-derive them when the parameters change."""

    match: float = 26.0  # T_match
    match_inexact_birth_date: float = 32.0  # T_match when the birth dates are not equal
    review: float = 16.0  # T_review
    margin: float = 6.0  # best − second-best student, for an automatic match
    max_candidates: int = 5  # K: potential matches returned at most
    review_when_incomplete: bool = True  # never issue a new ID automatically when blocks were cut
    #: the number of stored students the match thresholds were set for (see ``for_population``)
    reference_population: int = 1_000_000

    def __post_init__(self) -> None:
        if not self.review <= self.match <= self.match_inexact_birth_date:
            raise ValueError(f"thresholds must satisfy review <= match <= match_inexact_birth_date (got review "
                             f"{self.review:g}, match {self.match:g}, match_inexact_birth_date "
                             f"{self.match_inexact_birth_date:g})")
        if self.max_candidates < 1 or self.margin < 0:
            raise ValueError(f"max_candidates must be >= 1 and margin >= 0 (got max_candidates {self.max_candidates}, "
                             f"margin {self.margin:g})")

    def for_population(self, students: int) -> Thresholds:
        """The thresholds for a table of ``students`` students.

        A weight is a likelihood ratio; the prior odds that a given stored student is the one
        looked up fall as the table grows, so the same evidence is worth less against ten
        million students than against one million (at 5.85 million, children sharing first and
        middle name, birth date and birthplace but not surname reached 27 against T_match 26).
        Above ``reference_population`` both match thresholds rise by log2(students /
        reference): the posterior odds an automatic match needs stay what they were tuned for.
        The review threshold stays, so such pairs go to review instead."""
        if students <= self.reference_population:
            return self
        extra = math.log2(students / self.reference_population)
        return replace(self, match=self.match + extra, match_inexact_birth_date=self.match_inexact_birth_date + extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thresholds:
        return cls(**dict(data))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class ScoredCandidate:
    """One student scored against the query (its best-scoring version, if it has aliases)."""

    student_id: str
    version: int
    weight: float
    confidence: float
    fields: tuple[FieldScore, ...]
    conflicts: tuple[str, ...] = ()
    found_by: tuple[str, ...] = ()
    names_swapped: bool = False

    def __init__(self, student_id: str, version: int, weight: float, confidence: float,
                 fields: tuple[FieldScore, ...], conflicts: tuple[str, ...] = (), found_by: tuple[str, ...] = (),
                 names_swapped: bool = False) -> None:
        # written out, not generated (``native``: hot constructors)
        object.__setattr__(self, "student_id", student_id)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "conflicts", conflicts)
        object.__setattr__(self, "found_by", found_by)
        object.__setattr__(self, "names_swapped", names_swapped)

    def field_weights(self) -> dict[str, float]:
        return {f.field: f.weight for f in self.fields}

    def level(self, field_name: str) -> str:
        return next((f.level for f in self.fields if f.field == field_name), str(Level.MISSING))

    def to_dict(self) -> dict[str, Any]:
        return {"student_id": self.student_id, "version": self.version, "weight": self.weight,
                "confidence": self.confidence, "fields": [asdict(f) for f in self.fields],
                "conflicts": list(self.conflicts), "found_by": list(self.found_by),
                "names_swapped": self.names_swapped}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoredCandidate:
        return cls(d["student_id"], int(d["version"]), float(d["weight"]), float(d["confidence"]),
                   tuple(FieldScore(**f) for f in d["fields"]), tuple(d["conflicts"]), tuple(d["found_by"]),
                   bool(d["names_swapped"]))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    student_id: str | None  # the matched student, for MATCH only
    candidates: tuple[ScoredCandidate, ...]  # MATCH: the match; POTENTIAL: at most K, best first
    reason: str

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


def confidence(weight: float, prior: float) -> float:
    """Posterior match probability for a pair with this weight, given the prior (0.0–1.0)."""
    x = weight + math.log2(prior / (1.0 - prior))
    x = max(-60.0, min(60.0, x))
    return 1.0 / (1.0 + 2.0 ** -x)


#: a submitted first name is "carried by no child" when at most this many per million stored
#: first names carry it (0 below a million names, up to 10 at 10 million: keyed misspellings
#: in the master table itself), and only when the table is large enough for absence to mean
#: something (in a small or new database every uncommon name looks unheard-of)
RARE_NAME_PER_MILLION = 1.0
RARE_NAME_MIN_TABLE = 50_000


def names_counted(frequencies: Frequencies | None) -> bool:
    """Whether the master table's first-name counts can tell a name from a misspelling: there
    are counts, and enough of them (in a small or new database every uncommon name looks new)."""
    return frequencies is not None and frequencies.totals.get("first_name", 0) >= RARE_NAME_MIN_TABLE


def unheard_of(name: str, frequencies: Frequencies | None) -> bool:
    """True when (almost) no stored student has this first name (see RARE_NAME_PER_MILLION)."""
    if not name or frequencies is None or not names_counted(frequencies):
        return False
    total = frequencies.totals["first_name"]
    return frequencies.count("first_name", name) * 1_000_000 <= RARE_NAME_PER_MILLION * total


def _same_first_name(q: Standardized, c: Standardized, levels: Mapping[str, Level],
                     frequencies: Frequencies | None = None, alike: Alike = romanized_alike) -> bool:
    """Could the two first names be one child's rather than twins'? Twins share the birth date,
    surname, mother, birthplace, language and school, so only first name, middle name, gender
    and SSN can tell them apart; and parents give twins two different names.

    * a nickname (BILL/WILLIAM) or an extra token: yes;
    * otherwise never when gender disagrees (half of all twins differ in gender);
    * first and middle names given the other way round (JAYDEN ALEXANDER / ALEXANDER JAYDEN,
      both names in full: a child who goes by the middle name): yes;
    * otherwise never when the middle names disagree (most twins' do);
    * a keying slip (JOHN/JHON; not a substituted letter: JAYDEN/JAYLEN may be twins), a
      spelling variant (SOFIA/SOPHIA) or one name romanized two ways (``romanized.py``:
      DANIIL/DANIEL, MARYAM/MARIAM; parents do not give twins one name twice): yes;
    * with the master table's name counts: a similar name (JW >= 0.88 or equal NYSIIS) or one
      within one misspelling (``one_misspelling_apart``) that no child in the state carries
      (``unheard_of``: HARKONY for HARMONY, LAIELA for LAYLA), yes, as a twin's name is a name;
      a name other children carry may be the twin's own (JAYLEN, ISABEL): a person decides,
      even when the full middle names agree (twins JAYDEN MARCUS and JAYLEN MARCUS exist),
      unless the two differ in vowels only (``vowels_apart``: DANIIL/DANIEL, ISMAEL/ISMAIL,
      one name transliterated two ways) and the full middle names agree;
    * without name counts: a similar name when the full middle names agree, the best evidence
      the engine has."""
    level = levels["first_name"]
    a, b = q.first_key, c.first_key
    romanized = alike(a, b)
    if level in (Level.EXACT, Level.TOKEN_SUBSET) or (level == Level.NICKNAME and not romanized):
        return True
    if levels["gender"] == Level.DIFFERENT:
        return False
    if len(q.middle_key) > 1 and a == c.middle_key and q.middle_key == b:
        return True  # first and middle names given the other way round
    if levels["middle_name"] == Level.DIFFERENT:
        return False
    if keying_slip(a, b) or spelling_variant(a, b) or romanized:
        return True
    similar = level in (Level.JW_92, Level.JW_88, Level.PHONETIC)
    same_middle = levels["middle_name"] == Level.EXACT and len(q.middle_key) > 1
    if not names_counted(frequencies):
        return similar and same_middle
    if (similar or one_misspelling_apart(a, b)) and unheard_of(a, frequencies):
        return True
    return similar and same_middle and vowels_apart(a, b)


def hard_conflicts(q: Standardized, c: Standardized, levels: Mapping[str, Level],
                   frequencies: Frequencies | None = None, alike: Alike = romanized_alike) -> tuple[str, ...]:
    """Conflicts that forbid an automatic match whatever the weight (``frequencies``: the
    master table's name counts, which tell a misspelt name from a twin's real one; ``alike``:
    the table of first names romanized several ways)."""
    out = []
    ssn = levels["ssn"]
    if ssn in _SSN_DIFFERS:
        out.append(SSN_CONFLICT)
    if (levels["birth_date"] == _EXACT and ssn != _EXACT and levels["last_name"] in _SURNAME_AGREES
            and not _same_first_name(q, c, levels, frequencies, alike)):
        out.append(POSSIBLE_TWIN)
    return tuple(out)


# read once (an enum member read through its class is slow, and this runs for every candidate version)
_EXACT = Level.EXACT
_SSN_DIFFERS = (Level.ONE_EDIT, Level.DIFFERENT)
_SURNAME_AGREES = (Level.EXACT, Level.JW_92, Level.TOKEN_SUBSET)


def decide(candidates: Sequence[ScoredCandidate], thresholds: Thresholds, incomplete: bool = False) -> Verdict:
    """The outcome for one query, from its scored candidates (one per student, any order)."""
    ranked = sorted(candidates, key=lambda c: (-c.weight, c.student_id))
    k = thresholds.max_candidates
    if not ranked or ranked[0].weight < thresholds.review:
        if incomplete and thresholds.review_when_incomplete:
            return Verdict(Outcome.POTENTIAL, None, tuple(ranked[:k]),
                           "no candidate reached the review threshold, but some blocks were cut: "
                           "a person must confirm before a new ID is issued")
        return Verdict(Outcome.NO_MATCH, None, (), "no candidate reached the review threshold")
    best = ranked[0]
    # a candidate that may be the query's twin is no rival for the margin: it is already
    # excluded from matching, and counting it would send every returning twin to review
    rivals = [c.weight for c in ranked[1:] if POSSIBLE_TWIN not in c.conflicts]
    second = rivals[0] if rivals else None
    # a different child with the same name born days apart is the false match seen at scale:
    # without an exact birth date, the names and the rest must carry more evidence. That holds
    # for a day and month given the other way round too: with the usual T_match, a new COLTON J
    # WILLIAMS was matched to a COLTON J FAIRSHFIELD born on the swapped date (1,000,000
    # students, seed 7), for one more returning student in 700 with two errors
    exact_birth = best.level("birth_date") == Level.EXACT
    needed = thresholds.match if exact_birth else thresholds.match_inexact_birth_date
    if best.weight >= needed:
        if best.conflicts:
            reason = "best candidate has a hard conflict: " + ", ".join(best.conflicts)
        elif second is not None and best.weight - second < thresholds.margin:
            reason = f"second candidate within the margin ({best.weight - second:.1f} < {thresholds.margin:g})"
        else:
            return Verdict(Outcome.MATCH, best.student_id, (best,), "best candidate above the match threshold")
    elif best.weight >= thresholds.match:
        reason = "birth dates differ and the best candidate is below the match threshold for that case"
    else:
        reason = "best candidate between the review and match thresholds"
    floor = min(thresholds.review, best.weight - thresholds.margin)
    shown = tuple(c for c in ranked if c.weight >= floor)[:k]
    return Verdict(Outcome.POTENTIAL, None, shown, reason)
