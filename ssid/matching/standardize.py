"""Standardise a submitted student record into the forms that blocking and scoring compare.

Districts key the same child differently (accents, case, "O'Brien" vs "OBRIEN", "Smith Jr.",
middle name "NMN", SSN 999-99-9999); comparing raw strings would call those different people.
Every standardised record keeps the raw record beside it, for audit and for the review screen.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from .nicknames import canonical_first_names
from .phonetic import phonetic
from .pickled import reduce_frozen

SUFFIXES: dict[str, str] = {
    "JR": "JR", "JNR": "JR", "JUNIOR": "JR", "SR": "SR", "SNR": "SR", "SENIOR": "SR",
    "II": "II", "2ND": "II", "III": "III", "3RD": "III", "IV": "IV", "4TH": "IV", "V": "V", "5TH": "V",
}

DEFAULT_NAME_PLACEHOLDERS = frozenset({"UNKNOWN", "UNK", "NONE", "NULL", "NA", "N A", "NO NAME", "FNU", "LNU"})
DEFAULT_MIDDLE_PLACEHOLDERS = frozenset(
    {"", "*", "NMN", "NMI", "NONE", "UNKNOWN", "UNK", "NULL", "NA", "N A", "NO MIDDLE NAME", "X", "-"})
DEFAULT_SSN_PLACEHOLDERS = frozenset(
    {"123456789", "987654321", "078051120", "219099999"} | {d * 9 for d in "0123456789"})
DEFAULT_SENTINEL_DATES = frozenset(
    {date(1900, 1, 1), date(1901, 1, 1), date(1800, 1, 1), date(1753, 1, 1), date(9999, 12, 31), date(1111, 11, 11)})

#: typographic apostrophes, dashes and spaces (what word processors and spreadsheets put in
#: names) and the plain character each stands for; the catalogue stores names with the latter
TYPOGRAPHIC = {"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'", "–": "-", "—": "-", "‐": "-", "‑": "-", "‒": "-",
               "−": "-", "\u00a0": " "}
# letters NFKD does not decompose
_FOLD = str.maketrans({"ß": "SS", "ẞ": "SS", "Æ": "AE", "æ": "AE", "Ø": "O", "ø": "O", "Œ": "OE", "œ": "OE",
                       "Ł": "L", "ł": "L", "Đ": "D", "đ": "D", "Þ": "TH", "þ": "TH", "Ð": "D", "ð": "D",
                       "ı": "I", **TYPOGRAPHIC})
_NOT_NAME = re.compile(r"[^A-Z'\- ]+")
_APOSTROPHES = re.compile(r"'+")
_HYPHENS = re.compile(r"-+")


@dataclass(frozen=True)
class StudentRecord:
    """One submission of a student's attributes exactly as received (the raw values)."""

    first_name: str = ""
    last_name: str = ""
    middle_name: str = ""
    suffix: str = ""
    birth_date: date | str | None = None  # date, YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY
    gender: str = ""
    birth_city: str = ""
    race_ethnicity: str = ""
    native_language: str = ""
    ssn: str = ""
    mothers_maiden_name: str = ""
    district: str = ""
    building: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {name: getattr(self, name) for name in _RECORD_FIELDS}
        bd = out["birth_date"]
        out["birth_date"] = bd.isoformat() if isinstance(bd, date) else (bd or "")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudentRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class StandardizeConfig:
    """Placeholders that mean "unknown" in this state's data; all configurable."""

    name_placeholders: frozenset[str] = DEFAULT_NAME_PLACEHOLDERS
    middle_placeholders: frozenset[str] = DEFAULT_MIDDLE_PLACEHOLDERS
    ssn_placeholders: frozenset[str] = DEFAULT_SSN_PLACEHOLDERS
    sentinel_birth_dates: frozenset[date] = DEFAULT_SENTINEL_DATES

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class Standardized:
    """A record in comparable form. Names: ``first`` is for display (hyphen and apostrophe
    kept), ``first_key`` for comparison (apostrophes dropped, hyphens as spaces)."""

    first: str
    middle: str
    last: str
    suffix: str
    first_key: str
    middle_key: str
    last_key: str
    first_canonical: tuple[str, ...]  # nickname-table canonical names, sorted
    first_phonetic: str
    last_phonetic: str
    last_token_phonetics: tuple[str, ...]  # one per last-name token, plus the joined name
    birth_date: date | None
    gender: str
    birth_city: str
    race_ethnicity: str
    native_language: str
    ssn: str
    mothers_maiden_name: str
    district: str
    building: str
    raw: StudentRecord = field(compare=False)

    def __init__(self, first: str, middle: str, last: str, suffix: str, first_key: str, middle_key: str,
                 last_key: str, first_canonical: tuple[str, ...], first_phonetic: str, last_phonetic: str,
                 last_token_phonetics: tuple[str, ...], birth_date: date | None, gender: str, birth_city: str,
                 race_ethnicity: str, native_language: str, ssn: str, mothers_maiden_name: str, district: str,
                 building: str, raw: StudentRecord) -> None:
        # written out, not generated (``native``: hot constructors)
        object.__setattr__(self, "first", first)
        object.__setattr__(self, "middle", middle)
        object.__setattr__(self, "last", last)
        object.__setattr__(self, "suffix", suffix)
        object.__setattr__(self, "first_key", first_key)
        object.__setattr__(self, "middle_key", middle_key)
        object.__setattr__(self, "last_key", last_key)
        object.__setattr__(self, "first_canonical", first_canonical)
        object.__setattr__(self, "first_phonetic", first_phonetic)
        object.__setattr__(self, "last_phonetic", last_phonetic)
        object.__setattr__(self, "last_token_phonetics", last_token_phonetics)
        object.__setattr__(self, "birth_date", birth_date)
        object.__setattr__(self, "gender", gender)
        object.__setattr__(self, "birth_city", birth_city)
        object.__setattr__(self, "race_ethnicity", race_ethnicity)
        object.__setattr__(self, "native_language", native_language)
        object.__setattr__(self, "ssn", ssn)
        object.__setattr__(self, "mothers_maiden_name", mothers_maiden_name)
        object.__setattr__(self, "district", district)
        object.__setattr__(self, "building", building)
        object.__setattr__(self, "raw", raw)

    @property
    def first_tokens(self) -> tuple[str, ...]:
        return tuple(self.first_key.split())

    @property
    def last_tokens(self) -> tuple[str, ...]:
        return tuple(self.last_key.split())

    @property
    def canonical_phonetics(self) -> tuple[str, ...]:
        return tuple(sorted({phonetic(c) for c in self.first_canonical if c}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for storage next to the raw record, and for explanations)."""
        out = plain_fields(self)
        out["raw"] = self.raw.to_dict()  # (the last field: the order is the fields' order)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Standardized:
        kw = dict(data)
        kw["raw"] = StudentRecord.from_dict(kw.get("raw") or {})
        kw["birth_date"] = date.fromisoformat(kw["birth_date"]) if kw.get("birth_date") else None
        for name in ("first_canonical", "last_token_phonetics"):
            kw[name] = tuple(kw.get(name) or ())
        return cls(**kw)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


_PLAIN_FIELDS = tuple(f.name for f in fields(Standardized) if f.name != "raw")


def plain_fields(std: Standardized) -> dict[str, Any]:
    """Every field but ``raw`` as JSON-ready values (dates as ISO text, tuples as lists)."""
    out: dict[str, Any] = {}
    for name in _PLAIN_FIELDS:
        value = getattr(std, name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out
_RECORD_FIELDS = tuple(f.name for f in fields(StudentRecord))


def fold(text: str) -> str:
    """Upper case ASCII: accents removed (JOSÉ → JOSE, MÜLLER → MULLER, ß → SS)."""
    if text.isascii():
        return text.replace("`", "'").upper()
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_FOLD).upper()


@lru_cache(maxsize=1 << 16)
def clean_name(text: str) -> str:
    """Letters, inner hyphens and apostrophes, single spaces: " o'brien--smith, " → "O'BRIEN-SMITH".

    Cached: names repeat (a bulk load sees SMITH hundreds of thousands of times)."""
    text = fold(text or "")
    if text.isalpha() and text.isascii():  # one plain word, the common case: nothing to clean
        return text
    text = _HYPHENS.sub("-", _APOSTROPHES.sub("'", _NOT_NAME.sub(" ", text)))
    return " ".join([t for t in (t.strip("-'") for t in text.split()) if t])


def name_key(display: str) -> str:
    """Comparison form of a cleaned name: apostrophes dropped, hyphens become spaces."""
    return " ".join(display.replace("'", "").replace("-", " ").split())


def split_suffix(last: str, suffix: str = "") -> tuple[str, str]:
    """Move a trailing generational suffix of a cleaned last name to its own field."""
    given = SUFFIXES.get(clean_name(suffix).replace(" ", ""), "")
    tokens = last.split()
    if len(tokens) > 1 and tokens[-1] in SUFFIXES:
        given = given or SUFFIXES[tokens[-1]]
        tokens = tokens[:-1]
    return " ".join(tokens), given


def parse_birth_date(value: date | str | None, sentinels: frozenset[date] = DEFAULT_SENTINEL_DATES) -> date | None:
    """A real birth date, or None for blank, unparseable or sentinel values."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        text = str(value).strip()
        parsed = None
        for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%m-%d-%Y", "%Y/%m/%d"):
            try:
                parsed = datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        if parsed is None:
            return None
        value = parsed
    return None if value in sentinels else value


def clean_ssn(value: str, placeholders: frozenset[str] = DEFAULT_SSN_PLACEHOLDERS) -> str:
    """Nine digits of a structurally valid SSN, else '' (never-issued area/group/serial too)."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    if len(digits) != 9 or digits in placeholders:
        return ""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area >= "900" or group == "00" or serial == "0000":
        return ""
    return digits


def clean_gender(value: str) -> str:
    g = fold(value or "").strip()
    if g in ("M", "MALE", "BOY"):
        return "M"
    if g in ("F", "FEMALE", "GIRL"):
        return "F"
    if g in ("X", "N", "NONBINARY", "NON-BINARY"):
        return "X"
    return "" if g in ("U", "UNKNOWN", "UNK", "") else g


def clean_code(value: str) -> str:
    return " ".join(fold(str(value or "")).split())


def _first_canonicals(first_key: str) -> tuple[str, ...]:
    if not first_key:
        return ()
    whole = canonical_first_names(first_key)
    if whole != frozenset((first_key,)):
        return tuple(sorted(whole))
    return tuple(sorted(canonical_first_names(first_key.split()[0])))


@lru_cache(maxsize=4096)
def _standardize_cached(record: StudentRecord, config: StandardizeConfig) -> Standardized:
    first = clean_name(record.first_name)
    if first in config.name_placeholders:
        first = ""
    last, suffix = split_suffix(clean_name(record.last_name), record.suffix)
    if last in config.name_placeholders:
        last = ""
    middle = clean_name(record.middle_name)
    if middle in config.middle_placeholders or fold(record.middle_name or "").strip() in config.middle_placeholders:
        middle = ""
    first_key, middle_key, last_key = name_key(first), name_key(middle), name_key(last)
    last_tokens = last_key.split()
    token_codes = {phonetic(t) for t in last_tokens}
    if len(last_tokens) > 1:
        token_codes.add(phonetic(last_key))
    return Standardized(
        first=first, middle=middle, last=last, suffix=suffix,
        first_key=first_key, middle_key=middle_key, last_key=last_key,
        first_canonical=_first_canonicals(first_key),
        first_phonetic=phonetic(first_key), last_phonetic=phonetic(last_key),
        last_token_phonetics=tuple(sorted(c for c in token_codes if c)),
        birth_date=parse_birth_date(record.birth_date, config.sentinel_birth_dates),
        gender=clean_gender(record.gender),
        birth_city=name_key(clean_name(record.birth_city)),
        race_ethnicity=clean_code(record.race_ethnicity),
        native_language=clean_code(record.native_language),
        ssn=clean_ssn(record.ssn, config.ssn_placeholders),
        mothers_maiden_name=name_key(clean_name(record.mothers_maiden_name)),
        district=clean_code(record.district), building=clean_code(record.building),
        raw=record,
    )


DEFAULT_CONFIG = StandardizeConfig()


def standardize(record: StudentRecord, config: StandardizeConfig = DEFAULT_CONFIG) -> Standardized:
    """The comparable form of ``record`` (pure; the raw record is kept in ``.raw``)."""
    return _standardize_cached(record, config)


def swap_names(r: Standardized) -> Standardized:
    """The same record read with first and last name the other way round (suffix kept)."""
    last_tokens = r.first_key.split()
    codes = {phonetic(t) for t in last_tokens}
    if len(last_tokens) > 1:
        codes.add(phonetic(r.first_key))
    return replace(
        r, first=r.last, last=r.first, first_key=r.last_key, last_key=r.first_key,
        first_canonical=_first_canonicals(r.last_key), first_phonetic=r.last_phonetic,
        last_phonetic=r.first_phonetic, last_token_phonetics=tuple(sorted(c for c in codes if c)))
