"""From catalogue attributes to what the database indexes: columns, matcher record, keys.

Why one place: the same student values are stored by ID issuance, modification, the legacy
import and (later) batch files and the SLF poller; each must put the five core attributes in
the same columns, build the same matcher record, and derive the same identity key and
blocking keys, or a student stored one way would not be found another way. Pure functions.

* ``identity_key``: the normalised (last, first, middle, birth date, gender) the rule "never
  create a duplicate" compares (RFP 1.21.7.4.1): two records with equal keys are the same
  person as far as the key attributes can tell, whatever the case, accents or punctuation.
* ``block_rows``: ``ssid.matching.blocking.record_keys`` of the standardised record, each with
  the gender and first initial the matcher narrows an oversized block by and, on a YLF key,
  the birth month and day its rule reads (``ssid.matching.blocking.month_day``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import date
from typing import Any, NamedTuple

from .catalogue import MATCH_FIELDS
from .matching import StudentRecord, record_keys, standardize
from .matching.blocking import YEAR_LAST_FIRST, month_day
from .matching.standardize import Standardized

#: catalogue attribute -> ssid_students column; the other attributes go to the JSON column
CORE_COLUMNS: Mapping[str, str] = {
    "LegalFirstName": "first_name", "LegalMiddleName": "middle_name", "LegalLastName": "last_name",
    "BirthDate": "birth_date", "Gender": "gender",
}
#: the stored order of a standardised record's fields (``Indexed.std_json``); append new fields at the end
STD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Standardized) if f.name != "raw")
#: names the field layout: stored lists start with it, so a change to Standardized is noticed, never misread
STD_LAYOUT = hashlib.sha1(",".join(STD_FIELDS).encode()).hexdigest()[:8]
STD_BIRTH_AT = STD_FIELDS.index("birth_date") + 1
#: the attributes of the identity key, in order
IDENTITY_ATTRIBUTES = ("LegalLastName", "LegalFirstName", "LegalMiddleName", "BirthDate", "Gender")


def split_values(values: Mapping[str, str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """(core column values, other attributes) of a cleaned record."""
    core = {col: (values.get(name) or None) for name, col in CORE_COLUMNS.items()}
    extra = {k: v for k, v in values.items() if k not in CORE_COLUMNS and v not in (None, "")}
    return core, extra


def join_values(row: Mapping[str, Any]) -> dict[str, str]:
    """The attribute values of a ``ssid_students`` row (blank ones left out)."""
    out = {name: row[col] for name, col in CORE_COLUMNS.items() if row.get(col)}
    out.update({k: v for k, v in (row.get("attributes") or {}).items() if v not in (None, "")})
    return out


def match_record(values: Mapping[str, str], district: str | None = None, building: str | None = None
                 ) -> StudentRecord:
    """The matcher's record for these attribute values."""
    kw: dict[str, Any] = {field: values[name] for name, field in MATCH_FIELDS.items() if values.get(name)}
    birth = kw.get("birth_date")
    if isinstance(birth, str) and len(birth) == 10 and birth[4] == "-":
        try:  # cleaned values carry ISO dates: hand the matcher a date (no parsing per record)
            kw["birth_date"] = date.fromisoformat(birth)
        except ValueError:
            pass
    return StudentRecord(**kw, district=district or "", building=building or "")


def identity_key(std: Standardized, values: Mapping[str, str]) -> str:
    birth = std.birth_date.isoformat() if std.birth_date else (values.get("BirthDate") or "").strip()
    return "|".join((std.last_key, std.first_key, std.middle_key, birth, std.gender))


@dataclass(frozen=True)
class Indexed:
    """Everything derived from one version of a student's attributes."""

    record: StudentRecord
    std: Standardized
    identity: str
    keys: tuple[KeyRow, ...]

    def record_json(self) -> dict[str, str]:
        """The matcher record as JSON-ready data (blank fields left out)."""
        return record_json(self.record)

    def std_json(self) -> list[Any]:
        """The standardised form as a JSON-ready list: ``STD_LAYOUT``, then the ``STD_FIELDS`` values.

        A list, not a dict: it is stored for every alias (4 million legacy rows and more) and read
        back for every candidate of every lookup; without the field names it is a third of the
        size and faster to encode and decode. The layout tag makes a later change of
        ``Standardized``'s fields fail loudly instead of shifting values into the wrong fields.
        Built directly rather than with ``Standardized.to_dict()``, which costs several times more.
        """
        std = self.std
        out = [STD_LAYOUT, *(getattr(std, f) for f in STD_FIELDS)]
        if out[STD_BIRTH_AT] is not None:
            out[STD_BIRTH_AT] = out[STD_BIRTH_AT].isoformat()
        return out


def record_json(record: StudentRecord) -> dict[str, str]:
    """A matcher record as stored (``ssid_aliases.record``): JSON-ready, blank fields left out."""
    out = {name: v for name in _RECORD_FIELD_NAMES if (v := getattr(record, name))}
    if isinstance(out.get("birth_date"), date):
        out["birth_date"] = out["birth_date"].isoformat()
    return out


def index(values: Mapping[str, str], district: str | None = None, building: str | None = None) -> Indexed:
    record = match_record(values, district, building)
    std = standardize(record)
    return Indexed(record, std, identity_key(std, values), block_keys(std))


def block_keys(std: Standardized) -> tuple[KeyRow, ...]:
    """The ``ssid_block_keys`` rows of one stored version (without the student and version)."""
    initial = std.first_key[:1]
    md = month_day(std.birth_date) if std.birth_date is not None else None
    return tuple(KeyRow(k, std.gender, initial, md if k.startswith(_YLF) else None) for k in record_keys(std))


_YLF = YEAR_LAST_FIRST + "|"


class KeyRow(NamedTuple):
    """One ``ssid_block_keys`` row of a version, without the student and version."""

    key: str
    gender: str
    first_initial: str
    month_day: int | None  # YLF keys only: the birth month and day the key's rule compares


def key_rows(student_id: str, version: int, keys: Sequence[KeyRow]) -> list[dict[str, Any]]:
    """``ssid_block_keys`` rows (as column dicts) of one stored version."""
    return [{"key": k.key, "student_id": student_id, "version": version, "gender": k.gender,
             "first_initial": k.first_initial, "month_day": k.month_day} for k in keys]


class StaleStandardized(ValueError):
    """A stored standardised record was written with another version of ``Standardized``."""


def standardized_from_json(std: Sequence[Any] | Mapping[str, Any], record: Mapping[str, Any] | None = None
                           ) -> Standardized:
    """A stored alias (``std_json`` list, or a dict with the field names) back into the matcher's form.

    Runs for every candidate version of every lookup, so the stored list is turned into the
    frozen dataclasses directly (``_restore``) rather than through ``from_dict`` and ``__init__``;
    the result is equal, field by field and type by type, to ``Standardized.from_dict``'s.
    ``record``: the raw record stored beside it; None leaves ``raw`` blank (a lookup's candidates:
    the matcher compares standardised values only)."""
    if record is None:
        record = {}
    if type(std) is not list and isinstance(std, Mapping):  # (the list, decoded JSON, is what is stored)
        return Standardized.from_dict({**std, "raw": dict(record)})
    if std and std[0] == STD_LAYOUT and len(std) == len(STD_FIELDS) + 1:
        if _RESTORE:
            return _restore(std, record)
        return Standardized.from_dict({**dict(zip(STD_FIELDS, std[1:])), "raw": dict(record)})
    raise StaleStandardized(f"a stored standardised record has layout {std[0] if std else '?'!r}, the matcher "
                            f"now uses {STD_LAYOUT!r}: the aliases must be standardised again")


_RECORD_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(StudentRecord)}
_RECORD_FIELD_NAMES = tuple(_RECORD_DEFAULTS)
_RECORD_NAMES = frozenset(_RECORD_DEFAULTS)
_BLANK_RECORD = StudentRecord()
_TUPLE_FIELDS = ("first_canonical", "last_token_phonetics")
_STD_BIRTH = STD_FIELDS.index("birth_date")
_STD_TUPLES = tuple(STD_FIELDS.index(name) for name in _TUPLE_FIELDS)
#: compiled (``ssid.matching.native``), the classes have no instance dict and their constructors are
#: cheap: called positionally (``raw``, the last field, last)
_NATIVE = not hasattr(_BLANK_RECORD, "__dict__")
#: as Python, setting instance dicts directly, as the generated ``__init__`` would (a frozen one
#: sets each field through ``object.__setattr__``): only while both classes are plain dataclasses
#: (no slots, no ``__post_init__``, plain defaults)
_RESTORE = (all(not hasattr(cls, "__slots__") and not hasattr(cls, "__post_init__")
                for cls in (Standardized, StudentRecord))
            and MISSING not in _RECORD_DEFAULTS.values() and "birth_date" in STD_FIELDS
            and all(name in STD_FIELDS for name in _TUPLE_FIELDS)
            and [f.name for f in fields(Standardized)] == [*STD_FIELDS, "raw"])


def _restore(std: Sequence[Any], record: Mapping[str, Any]) -> Standardized:
    if record:
        if not _RECORD_NAMES.issuperset(record):  # a field StudentRecord no longer has: left out, as from_dict does
            record = {k: v for k, v in record.items() if k in _RECORD_NAMES}
        if _NATIVE:
            raw = StudentRecord(**record)
        else:
            raw = object.__new__(StudentRecord)
            raw.__dict__.update(_RECORD_DEFAULTS)
            raw.__dict__.update(record)
    else:  # a lookup's candidate: one blank record serves them all (it is frozen)
        raw = _BLANK_RECORD
    values = list(std[1:])
    birth = values[_STD_BIRTH]
    values[_STD_BIRTH] = date.fromisoformat(birth) if birth else None
    for i in _STD_TUPLES:
        values[i] = tuple(values[i] or ())
    if _NATIVE:
        return Standardized(*values, raw)
    out = object.__new__(Standardized)
    out.__dict__.update(zip(STD_FIELDS, values))
    out.__dict__["raw"] = raw
    return out


def matching_changed(before: Mapping[str, str], after: Mapping[str, str]) -> bool:
    """Whether a modification changes anything the matcher looks at (then a new alias is stored)."""
    return any((before.get(name) or "") != (after.get(name) or "") for name in MATCH_FIELDS)
