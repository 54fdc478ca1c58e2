"""The SLF integration tables as the SSID database sees them, and how their columns map to attributes.

Why declared here and not imported: the seed (Supplement Four, chapter 2, "Database Tables")
makes four tables the whole contract between the Student Resolver and any SSID vendor
database. ``ssid`` never imports ``sif_agent`` (see .importlinter), so the tables are declared
again with lightweight ``sqlalchemy.table()/column()`` constructs, by the seed's names
(unquoted, so ``SLF_BATCH`` and ``slf_batch`` are the same table on PostgreSQL and SQLite).
Only the columns the database reads or writes are declared; the resolver creates the tables.

* ``SLF_BATCH``: the database works only on rows of batches with READY = 1.
* ``SLF_TRANSACTION_PARMS``: one row per transaction (TransactionId in SLF_TRANSACTION_GUID),
  the student attributes and N_SLF_STATUS. Two resolver columns the database must know:
  RESOLVE_ACTION / RESOLVE_STATE_ID (a district's resolution of an ambiguous row at 8,
  applied as 5 USER_MATCH / 6 USER_NEW) and status 13 CANCELLED_IN_PROGRESS (confirmed 13→12).
* ``SLF_POTENTIAL_MATCH``: the candidates of a 7 UNRESOLVED row, with CONFIDENCE.
* ``SLF_ERROR_LOG``: ERROR_DSCR, the text the district reads for status 10.

The attribute columns of SLF_TRANSACTION_PARMS are the seed's (LEGAL_FIRST_NAME, BIRTH_DATE
as YYYYMMDD, ...) plus whatever the state configured on the resolver (``[[resolver.columns]]``
in conf/resolver.example.toml: BIRTHPLACE_CITY, NATIVE_LANGUAGE, ADMISSION_REASON,
IRN_CURRENT_DISTRICT, ...). ``ColumnMap`` says which column feeds which catalogue attribute;
``OHIO_COLUMNS`` is the default, and a column the table lacks is simply not read.

The legal status changes of the database are copied from the seed's "Summary of States" (and
the resolver's two extensions) as data in ``DATABASE_TRANSITIONS``; every change the poller
makes is checked against it and written as a conditional UPDATE (``WHERE N_SLF_STATUS = old``).
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import column, table
from sqlalchemy.sql.elements import quoted_name

from .catalogue import problems_summary


class SlfStatus(enum.IntEnum):
    """N_SLF_STATUS values, exactly as the seed numbers and names them."""

    REQUEST = 1
    REQUEST_IN_PROGRESS = 2
    SYSTEM_MATCH = 3
    SYSTEM_NEW = 4
    USER_MATCH = 5
    USER_NEW = 6
    UNRESOLVED = 7
    RESOLUTION_IN_PROGRESS = 8
    COMPLETE = 9
    ERROR = 10
    ERROR_IN_PROGRESS = 11
    CANCELLED = 12
    CANCELLED_IN_PROGRESS = 13

    def __str__(self) -> str:
        return f"{self.value}={self.name}"


S = SlfStatus
#: the changes the SSID database may make (seed "Summary of States" + the resolver's extensions)
DATABASE_TRANSITIONS: frozenset[tuple[SlfStatus, SlfStatus]] = frozenset({
    (S.REQUEST, S.REQUEST_IN_PROGRESS),  # claim
    (S.REQUEST_IN_PROGRESS, S.SYSTEM_MATCH), (S.REQUEST_IN_PROGRESS, S.SYSTEM_NEW),
    (S.REQUEST_IN_PROGRESS, S.USER_MATCH), (S.REQUEST_IN_PROGRESS, S.USER_NEW),
    (S.REQUEST_IN_PROGRESS, S.UNRESOLVED), (S.REQUEST_IN_PROGRESS, S.ERROR),
    (S.RESOLUTION_IN_PROGRESS, S.USER_MATCH), (S.RESOLUTION_IN_PROGRESS, S.USER_NEW),
    (S.RESOLUTION_IN_PROGRESS, S.ERROR),
    (S.SYSTEM_MATCH, S.ERROR), (S.SYSTEM_NEW, S.ERROR), (S.USER_MATCH, S.ERROR), (S.USER_NEW, S.ERROR),
    (S.CANCELLED_IN_PROGRESS, S.CANCELLED),  # extension: confirm a cancellation
    (S.REQUEST, S.CANCELLED), (S.REQUEST_IN_PROGRESS, S.CANCELLED), (S.UNRESOLVED, S.CANCELLED),
    (S.RESOLUTION_IN_PROGRESS, S.CANCELLED),  # extension: a state administrator cancels
})
del S

#: SLF_TRANSACTION_PARMS.RESOLVE_ACTION values written by the resolver (a district's resolution)
RESOLVE_MATCH, RESOLVE_NEW = "MATCH", "NEW"
#: lengths of the seed's columns the database writes
STATE_ID_LENGTH = 20
ERROR_DSCR_LENGTH = 255


class IllegalTransition(ValueError):
    def __init__(self, old: int, new: int, row: object = None) -> None:
        self.old, self.new = SlfStatus(old), SlfStatus(new)
        super().__init__(f"the SSID database may not change N_SLF_STATUS {self.old} -> {self.new}"
                         + (f" (SLF_TRANSACTION_PARMS {row})" if row is not None else ""))


def check_transition(old: int, new: int, row: object = None) -> SlfStatus:
    """``new`` if the database may change ``old`` to it, else :class:`IllegalTransition`."""
    if (SlfStatus(old), SlfStatus(new)) not in DATABASE_TRANSITIONS:
        raise IllegalTransition(old, new, row)
    return SlfStatus(new)


# ---- the tables (the names are the contract) ----

def _n(name: str) -> quoted_name:
    return quoted_name(name, False)


def _table(name: str, *columns: str):
    return table(_n(name), *[column(_n(c)) for c in columns])


#: candidate attribute columns of SLF_POTENTIAL_MATCH (seed), besides the ids and CONFIDENCE
MATCH_COLUMNS = ("STATE_ID", "LOCAL_ID", "HOME_SCHOOL_CODE", "LEGAL_FIRST_NAME", "LEGAL_LAST_NAME",
                 "LEGAL_MIDDLE_NAME", "ETHNICITY_CODE", "GENDER_CODE", "BIRTH_DATE", "GRADE_LEVEL")
#: SLF_TRANSACTION_PARMS columns the database reads besides the attribute columns
PARMS_COLUMNS = ("N_TRANSACTION_PARMS_ID", "N_BATCH_ID", "SLF_TRANSACTION_GUID", "N_SLF_STATUS", "STATE_ID",
                 "LOCAL_ID", "HOME_SCHOOL_CODE", "SLF_REQUEST_TYPE", "RESOLVE_ACTION", "RESOLVE_STATE_ID")

batch_t = _table("SLF_BATCH", "N_BATCH_ID", "READY", "SCHOOL_YR", "DISTRICT_CODE", "SCHOOL_CODE", "BATCH_NUM",
                 "APP_BATCH_NUM")
match_t = _table("SLF_POTENTIAL_MATCH", "N_POTENTIAL_MATCH_ID", "N_TRANSACTION_PARMS_ID", "N_BATCH_ID",
                 "CONFIDENCE", *MATCH_COLUMNS)
error_log_t = _table("SLF_ERROR_LOG", "N_ERROR_LOG_ID", "N_TRANSACTION_PARMS_ID", "N_BATCH_ID", "ERROR_DSCR")


def parms_table(attribute_columns: Iterable[str] = ()):
    """SLF_TRANSACTION_PARMS with the fixed columns and these attribute columns."""
    names = list(PARMS_COLUMNS)
    names += [c for c in attribute_columns if c not in names]
    return _table("SLF_TRANSACTION_PARMS", *names)


# ---- columns → catalogue attributes ----

FORMATS = ("text", "yyyymmdd")


@dataclass(frozen=True)
class ColumnMap:
    """An SLF_TRANSACTION_PARMS column, the catalogue attribute it feeds, and its format.

    ``format`` "yyyymmdd": the seed's BIRTH_DATE (20170412), handed to the catalogue as
    2017-04-12 (and back for SLF_POTENTIAL_MATCH).
    """

    column: str
    attribute: str
    format: str = "text"

    def to_attribute(self, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        if self.format == "yyyymmdd" and re.fullmatch(r"\d{8}", text):
            return f"{text[:4]}-{text[4:6]}-{text[6:]}"
        return text

    def to_column(self, value: str | None) -> str | None:
        if not value:
            return None
        if self.format == "yyyymmdd" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return value.replace("-", "")
        return value


#: the seed's columns and Ohio's configured ones (conf/resolver.example.toml) → the Ohio catalogue
OHIO_COLUMNS: tuple[ColumnMap, ...] = (
    ColumnMap("LEGAL_FIRST_NAME", "LegalFirstName"),
    ColumnMap("LEGAL_MIDDLE_NAME", "LegalMiddleName"),
    ColumnMap("LEGAL_LAST_NAME", "LegalLastName"),
    ColumnMap("BIRTH_DATE", "BirthDate", "yyyymmdd"),
    ColumnMap("GENDER_CODE", "Gender"),
    ColumnMap("BIRTHPLACE_CITY", "BirthPlaceCity"),
    ColumnMap("ETHNICITY_CODE", "RaceEthnicity"),
    ColumnMap("NATIVE_LANGUAGE", "NativeLanguage"),
    ColumnMap("ADMISSION_REASON", "AdmissionReason"),
    ColumnMap("SSN", "SSN"),
    ColumnMap("MOTHERS_MAIDEN_NAME", "MothersMaidenName"),
)
#: where the district and building IRNs come from: the first non-blank of these (parms, then batch)
OHIO_DISTRICT_COLUMNS = ("IRN_CURRENT_DISTRICT", "DISTRICT_CODE")
OHIO_BUILDING_COLUMNS = ("HOME_SCHOOL_CODE", "SCHOOL_CODE")


class SlfConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SlfMapping:
    """How the SSID database reads SLF_TRANSACTION_PARMS (and writes SLF_POTENTIAL_MATCH)."""

    columns: tuple[ColumnMap, ...] = OHIO_COLUMNS
    district_columns: tuple[str, ...] = OHIO_DISTRICT_COLUMNS
    building_columns: tuple[str, ...] = OHIO_BUILDING_COLUMNS
    #: the catalogue user group whose task lists apply to SLF requests (None: the tasks' own lists)
    group: str | None = None
    #: the user recorded in the audit for the poller's own decisions
    user: str = "slf-poller"
    _by_attribute: dict[str, ColumnMap] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        for c in self.columns:
            if c.format not in FORMATS:
                problems.append(f"{c.column}: format must be one of {', '.join(FORMATS)}")
        cols = [c.column for c in self.columns]
        problems += [f"column {n} is mapped twice" for n in sorted({n for n in cols if cols.count(n) > 1})]
        if problems:
            raise SlfConfigError("; ".join(problems))
        self._by_attribute.update({c.attribute: c for c in self.columns})

    def attribute_columns(self, present: Iterable[str] | None = None) -> tuple[str, ...]:
        """The mapped columns plus the IRN columns of SLF_TRANSACTION_PARMS (those ``present``)."""
        names = [c.column for c in self.columns] + [c for c in self.district_columns + self.building_columns
                                                    if c not in ("DISTRICT_CODE", "SCHOOL_CODE")]
        if present is not None:
            have = {p.upper() for p in present}
            names = [n for n in names if n.upper() in have]
        return tuple(dict.fromkeys(names))

    def values(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Catalogue attribute values of one SLF row (blank ones left out)."""
        out = {}
        for c in self.columns:
            v = c.to_attribute(row.get(c.column))
            if v is not None:
                out[c.attribute] = v
        return out

    def column_of(self, attribute: str) -> str:
        c = self._by_attribute.get(attribute)
        return c.column if c else attribute

    def _first(self, row: Mapping[str, Any], names: Sequence[str]) -> str | None:
        for n in names:
            v = row.get(n)
            if v not in (None, ""):
                return str(v).strip()
        return None

    def district(self, row: Mapping[str, Any]) -> str | None:
        return self._first(row, self.district_columns)

    def building(self, row: Mapping[str, Any]) -> str | None:
        return self._first(row, self.building_columns)

    def candidate_columns(self, values: Mapping[str, str]) -> dict[str, str | None]:
        """SLF_POTENTIAL_MATCH attribute columns for a stored student's values (seed columns only)."""
        out: dict[str, str | None] = {}
        for attribute, value in values.items():
            c = self._by_attribute.get(attribute)
            if c is not None and c.column in MATCH_COLUMNS:
                out[c.column] = c.to_column(value)
        return out


def mapping_from_config(data: Mapping[str, Any]) -> SlfMapping:
    """An SlfMapping from a parsed ``[slf]`` table::

        [slf]
        group = "minimal"                  # the catalogue user group of SLF requests
        user = "slf-poller"                # the audit's user for system decisions
        district_columns = ["IRN_CURRENT_DISTRICT", "DISTRICT_CODE"]
        building_columns = ["HOME_SCHOOL_CODE", "SCHOOL_CODE"]
        [slf.columns]                      # replaces the Ohio defaults when given
        LEGAL_FIRST_NAME = "LegalFirstName"
        BIRTH_DATE = { attribute = "BirthDate", format = "yyyymmdd" }
    """
    known = {"group", "user", "district_columns", "building_columns", "columns"}
    unknown = set(data) - known
    if unknown:
        raise SlfConfigError(f"[slf]: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    kw: dict[str, Any] = {}
    if "columns" in data:
        cols = []
        for name, spec in dict(data["columns"]).items():
            if isinstance(spec, str):
                cols.append(ColumnMap(str(name), spec, "yyyymmdd" if name == "BIRTH_DATE" else "text"))
            elif isinstance(spec, Mapping) and "attribute" in spec:
                cols.append(ColumnMap(str(name), str(spec["attribute"]), str(spec.get("format", "text"))))
            else:
                raise SlfConfigError(f"[slf.columns] {name}: give an attribute name or "
                                     "{ attribute = \"...\", format = \"text|yyyymmdd\" }")
        kw["columns"] = tuple(cols)
    for key in ("district_columns", "building_columns"):
        if key in data:
            kw[key] = tuple(str(v) for v in data[key])
    if "group" in data:
        kw["group"] = str(data["group"]) or None
    if "user" in data:
        kw["user"] = str(data["user"])
    return SlfMapping(**kw)


def load_mapping(path: str | Path | None) -> SlfMapping:
    """The ``[slf]`` table of a TOML file (the Ohio defaults without a file or a table)."""
    if path is None:
        return SlfMapping()
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return mapping_from_config(data.get("slf") or {})


def error_text(problems: Sequence[Any], mapping: SlfMapping, task_phrase: str,
               limit: int = ERROR_DSCR_LENGTH) -> str:
    """An SLF_ERROR_LOG message naming every missing / invalid field (by its SLF column) and the fix.

    ``problems`` are ``ssid.catalogue.Problem``; the text starts with the field list (so that even
    cut at ``limit`` characters it names them all) and goes on with each problem's fix.
    """
    text = problems_summary(problems, task_phrase, mapping.column_of)
    for p in problems:
        text += f" {mapping.column_of(p.field)} {p.message}."
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text
