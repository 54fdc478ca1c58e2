"""Comparison levels: how closely one field of two standardised records agrees.

Fellegi–Sunter scoring needs each field reduced to a small set of agreement levels, each with
its own m and u probability (weights.py). The levels follow spec/matching.md; a level is the
first of the field's list that holds, so the order below is part of the definition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import StrEnum

from rapidfuzz.distance import OSA, JaroWinkler

from .phonetic import phonetic, spelling_key
from .romanized import romanized_alike

#: two first names -> whether they are one name romanized two ways (``Romanizations.alike``)
Alike = Callable[[str, str], bool]
from .standardize import Standardized


class Level(StrEnum):
    EXACT = "EXACT"
    JW_92 = "JW_92"  # Jaro-Winkler >= 0.92
    JW_88 = "JW_88"  # Jaro-Winkler >= 0.88
    PHONETIC = "PHONETIC"  # NYSIIS codes equal
    NICKNAME = "NICKNAME"  # nickname table: a canonical name in common (first names: or one name romanized two ways)
    TOKEN_SUBSET = "TOKEN_SUBSET"  # one name's tokens within the other's (GARCIA / GARCIA-LOPEZ)
    INITIAL = "INITIAL"  # middle name: an initial agreeing with the other's first letter
    DAY_MONTH_SWAPPED = "DAY_MONTH_SWAPPED"
    ONE_DIGIT = "ONE_DIGIT"  # YYYYMMDD differs in exactly one digit
    WITHIN_MONTH = "WITHIN_MONTH"  # same year, at most 31 days apart
    ONE_EDIT = "ONE_EDIT"  # SSN: one substitution, insertion, deletion or transposition
    SAME_BUILDING = "SAME_BUILDING"
    SAME_DISTRICT = "SAME_DISTRICT"
    SWAPPED = "SWAPPED"  # name order: first and last given the other way round
    DIFFERENT = "DIFFERENT"
    MISSING = "MISSING"  # either side blank: weight 0, no evidence either way


L = Level
#: the levels of each field, in the order they are tested (MISSING is implicit, weight 0)
FIELD_LEVELS: dict[str, tuple[Level, ...]] = {
    "first_name": (L.EXACT, L.JW_92, L.NICKNAME, L.TOKEN_SUBSET, L.JW_88, L.PHONETIC, L.DIFFERENT),
    "middle_name": (L.EXACT, L.INITIAL, L.JW_92, L.NICKNAME, L.TOKEN_SUBSET, L.JW_88, L.PHONETIC, L.DIFFERENT),
    "last_name": (L.EXACT, L.JW_92, L.TOKEN_SUBSET, L.JW_88, L.PHONETIC, L.DIFFERENT),
    "birth_date": (L.EXACT, L.DAY_MONTH_SWAPPED, L.ONE_DIGIT, L.WITHIN_MONTH, L.DIFFERENT),
    "gender": (L.EXACT, L.DIFFERENT),
    "birth_city": (L.EXACT, L.JW_92, L.JW_88, L.DIFFERENT),
    "race_ethnicity": (L.EXACT, L.DIFFERENT),
    "native_language": (L.EXACT, L.DIFFERENT),
    "ssn": (L.EXACT, L.ONE_EDIT, L.DIFFERENT),
    "mothers_maiden_name": (L.EXACT, L.JW_92, L.JW_88, L.PHONETIC, L.DIFFERENT),
    "school": (L.SAME_BUILDING, L.SAME_DISTRICT, L.DIFFERENT),
}
FIELDS: tuple[str, ...] = tuple(FIELD_LEVELS)

_jw = JaroWinkler.similarity
#: the levels as module constants: a member read through the class costs ~60 ns, and
#: ``compare`` reads a dozen for every candidate version of every lookup
_DAY_MONTH_SWAPPED = L.DAY_MONTH_SWAPPED
_DIFFERENT = L.DIFFERENT
_EXACT = L.EXACT
_INITIAL = L.INITIAL
_JW_88 = L.JW_88
_JW_92 = L.JW_92
_MISSING = L.MISSING
_NICKNAME = L.NICKNAME
_ONE_DIGIT = L.ONE_DIGIT
_ONE_EDIT = L.ONE_EDIT
_PHONETIC = L.PHONETIC
_SAME_BUILDING = L.SAME_BUILDING
_SAME_DISTRICT = L.SAME_DISTRICT
_TOKEN_SUBSET = L.TOKEN_SUBSET
_WITHIN_MONTH = L.WITHIN_MONTH


def compare_name(a: str, b: str, a_phonetic: str = "", b_phonetic: str = "",
                 a_canonical: tuple[str, ...] = (), b_canonical: tuple[str, ...] = (),
                 initials: bool = False, romanized: Alike | None = None) -> Level:
    """Level of two comparison-form names (``Standardized.*_key``). ``romanized``: for first
    names, the table by which two spellings of one name (DANIIL/DANIEL) agree as nicknames do."""
    if not a or not b:
        return _MISSING
    if a == b or ((" " in a or " " in b) and a.replace(" ", "") == b.replace(" ", "")):
        return _EXACT
    if initials and (len(a) == 1 or len(b) == 1):
        return _INITIAL if a[0] == b[0] else _DIFFERENT
    jw = _jw(a, b)
    if jw >= 0.92:
        return _JW_92
    if nickname_equal(a, b, a_canonical, b_canonical) or (romanized is not None and romanized(a, b)):
        return _NICKNAME
    if not (a.isalpha() and b.isalpha()):  # two different one-word names are never a token subset
        ta, tb = set(a.split()), set(b.split())
        if ta <= tb or tb <= ta:
            return _TOKEN_SUBSET
    if jw >= 0.88:
        return _JW_88
    if a_phonetic and a_phonetic == b_phonetic:
        return _PHONETIC
    return _DIFFERENT


def nickname_equal(a: str, b: str, a_canonical: tuple[str, ...], b_canonical: tuple[str, ...]) -> bool:
    """True when the nickname table gives two first names a canonical name in common. A name
    of several tokens takes its first token's canonical names (MARY ANN → MARY), so two such
    names must also agree after that token: MIN-JUN and MIN-SEO, or MARY KATE and MARY ANN,
    are two children (often twins), not one child's nickname."""
    if not a_canonical or not b_canonical or set(a_canonical).isdisjoint(b_canonical):
        return False
    ta, tb = a.split(), b.split()
    return len(ta) < 2 or len(tb) < 2 or ta[1:] == tb[1:]


def compare_birth_date(a: date | None, b: date | None) -> Level:
    if a is None or b is None:
        return _MISSING
    if a == b:
        return _EXACT
    if a.day == b.month and a.month == b.day and a.year == b.year:
        return _DAY_MONTH_SWAPPED
    sa, sb = f"{a.year:04d}{a.month:02d}{a.day:02d}", f"{b.year:04d}{b.month:02d}{b.day:02d}"
    if sum(x != y for x, y in zip(sa, sb)) == 1:
        return _ONE_DIGIT
    if a.year == b.year and abs((a - b).days) <= 31:
        return _WITHIN_MONTH
    return _DIFFERENT


def compare_exact(a: str, b: str) -> Level:
    if not a or not b:
        return _MISSING
    return _EXACT if a == b else _DIFFERENT


def compare_city(a: str, b: str) -> Level:
    if not a or not b:
        return _MISSING
    if a == b:
        return _EXACT
    jw = _jw(a, b)
    return _JW_92 if jw >= 0.92 else _JW_88 if jw >= 0.88 else _DIFFERENT


def compare_ssn(a: str, b: str) -> Level:
    if not a or not b:
        return _MISSING
    if a == b:
        return _EXACT
    return _ONE_EDIT if OSA.distance(a, b, score_cutoff=1) <= 1 else _DIFFERENT


def compare_school(a: Standardized, b: Standardized) -> Level:
    if not a.district or not b.district:
        return _MISSING
    if a.district != b.district:
        return _DIFFERENT
    return _SAME_BUILDING if a.building and a.building == b.building else _SAME_DISTRICT


def compare(q: Standardized, c: Standardized, alike: Alike = romanized_alike) -> dict[str, Level]:
    """The level of every field for query ``q`` against candidate ``c``, by field name."""
    return dict(zip(FIELDS, compare_levels(q, c, alike)))


def compare_levels(q: Standardized, c: Standardized, alike: Alike = romanized_alike) -> tuple[Level, ...]:
    """``compare(q, c)``'s levels as a tuple in ``FIELDS`` order.

    Runs for every version of every candidate of every lookup, so the common outcomes (a side
    blank, the values equal) are settled inline, exactly as the ``compare_*`` functions above
    settle them first; anything else is theirs to decide."""
    first, last = name_levels(q, c, alike)
    a, b = q.middle_key, c.middle_key
    middle = _MISSING if not a or not b else _EXACT if a == b else compare_name(a, b, initials=True)
    d, e = q.birth_date, c.birth_date
    birth = _MISSING if d is None or e is None else _EXACT if d == e else compare_birth_date(d, e)
    a, b = q.gender, c.gender
    gender = _MISSING if not a or not b else _EXACT if a == b else _DIFFERENT
    a, b = q.birth_city, c.birth_city
    city = _MISSING if not a or not b else _EXACT if a == b else compare_city(a, b)
    a, b = q.race_ethnicity, c.race_ethnicity
    race = _MISSING if not a or not b else _EXACT if a == b else _DIFFERENT
    a, b = q.native_language, c.native_language
    language = _MISSING if not a or not b else _EXACT if a == b else _DIFFERENT
    a, b = q.ssn, c.ssn
    ssn = _MISSING if not a or not b else _EXACT if a == b else compare_ssn(a, b)
    a, b = q.mothers_maiden_name, c.mothers_maiden_name
    maiden = _MISSING if not a or not b else _EXACT if a == b else compare_name(a, b, phonetic(a), phonetic(b))
    a, b = q.district, c.district  # compare_school
    school = (_MISSING if not a or not b else _DIFFERENT if a != b else
              _SAME_BUILDING if q.building and q.building == c.building else _SAME_DISTRICT)
    return first, middle, last, birth, gender, city, race, language, ssn, maiden, school


#: where the names sit in ``compare_levels``' tuple
FIRST_AT, LAST_AT = FIELDS.index("first_name"), FIELDS.index("last_name")


def name_levels(q: Standardized, c: Standardized, alike: Alike = romanized_alike) -> tuple[Level, Level]:
    """The first- and last-name levels of ``compare(q, c)``: all that reading the query's names
    the other way round changes (``swap_names`` keeps every other field)."""
    a, b = q.first_key, c.first_key
    first = (_MISSING if not a or not b else _EXACT if a == b else
             compare_name(a, b, q.first_phonetic, c.first_phonetic, q.first_canonical, c.first_canonical,
                          romanized=alike))
    a, b = q.last_key, c.last_key
    last = _MISSING if not a or not b else _EXACT if a == b else compare_name(a, b, q.last_phonetic, c.last_phonetic)
    return first, last


def keying_slip(a: str, b: str) -> bool:
    """True when two different names differ by one slip of the keyboard after the first letter:
    two adjacent letters transposed (JOHN/JHON), a doubled letter (ANA/ANNA), or a letter
    dropped or added in a name of five letters or more (JAYDN/JAYDEN). A substituted letter is
    not a slip here (JAYDEN/JAYLEN may be twins), nor is a letter more in a short name
    (LEO/LEON, IAN/IVAN)."""
    if a == b or not a or not b or a[0] != b[0]:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    for i in range(1, len(long_)):
        if long_[:i] + long_[i + 1:] == short:
            doubled = long_[i - 1] == long_[i] or (i + 1 < len(long_) and long_[i + 1] == long_[i])
            if doubled or len(short) >= 5:
                return True
    return False


def spelling_variant(a: str, b: str) -> bool:
    """True when two different names are spellings of one name (equal ``spelling_key``:
    SOFIA/SOPHIA, VICTORIA/VIKTORIA), as opposed to similar names (JAYDEN/JAYLEN, LILY/LILA)."""
    return a != b and bool(a) and spelling_key(a) == spelling_key(b)


def one_misspelling_apart(a: str, b: str) -> bool:
    """True when two different names are at most two edits apart (one, if both are short):
    the reach of one keying slip or one sound-alike spelling (LAYLA/LAIELA, OWEN/OVEN,
    SEBASTIAN/EBASTIAN, HARMONY/HARKONY). Twins' names can be as close (JAYDEN/JAYLEN), so
    this alone never clears a possible twin (``decide._same_first_name``)."""
    if a == b or not a or not b:
        return False
    return OSA.distance(a, b, score_cutoff=2) <= (1 if max(len(a), len(b)) <= 3 else 2)


_VOWELS_AND_Y = str.maketrans("", "", "AEIOUY -")


def vowels_apart(a: str, b: str) -> bool:
    """True when two different names have the same consonants in the same order and differ only
    in vowels (Y counted as one): how transliterations of one name vary (DANIIL/DANIEL,
    ISMAEL/ISMAIL, KHALED/KHALID, LI/LEE), unlike twins' rhyming names (JAYDEN/JAYLEN)."""
    return a != b and bool(a) and bool(b) and a.translate(_VOWELS_AND_Y) == b.translate(_VOWELS_AND_Y)
