"""The SLF integration tables: the one schema the resolver and the SSID database share.

Why here, as data: the seed (Supplement Four, chapter 2, "Database Tables") defines the
seam between the Student Resolver and any SSID vendor database as four tables. Keeping
their names and columns exactly as the seed spells them lets a third-party database
replace ours without touching the resolver (design: "the resolver and the SSID database
meet only in the SLF tables' schema").

* ``SLF_BATCH``: one row per batch (a row exists even for a single request); SIF_ZONE_ID
  and SIF_SOURCE_ID of the requesting locator; READY (the database processes only READY=1
  batches); SCHOOL_YR, DISTRICT_CODE, SCHOOL_CODE (values that apply to every transaction
  of the batch); BATCH_NUM (from the locator, or the day); APP_BATCH_NUM (the database's).
* ``SLF_TRANSACTION_PARMS``: one row per transaction (TransactionId in
  SLF_TRANSACTION_GUID) with the student attributes and N_SLF_STATUS (``status.py``).
* ``SLF_POTENTIAL_MATCH``: the candidates of an ambiguous (7) transaction, with CONFIDENCE.
* ``SLF_ERROR_LOG``: ERROR_DSCR, the text returned to the district for status 10.

Names are emitted unquoted (``quote=False``), so ``SLF_BATCH`` and ``slf_batch`` name the
same table on PostgreSQL and SQLite alike, whatever case a vendor's SQL uses.

Columns the seed does not name and the resolver needs are marked "resolver" below; a
vendor database reads them only for the two extensions it must know (district
resolutions in RESOLVE_ACTION / RESOLVE_STATE_ID, cancellation through status 13).
``SLF_RESOLVER_REQUEST`` (the resolver's own log of SIF_Requests) and
``SLF_RESOLVER_SCHEMA`` (migrations) are never read by the database.

Attribute columns of SLF_TRANSACTION_PARMS are ``CORE_ATTRIBUTES`` (the seed's) plus any a
state configures (``AttributeColumn``; added by ``migrations.sync_columns``). Each names
the StudentLocator path it is read from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from sqlalchemy import (
    Column, Float, ForeignKey, Index, Integer, MetaData, SmallInteger, String, Table, Text, UniqueConstraint,
)
from sqlalchemy.types import Double

#: formats a column value may be converted to before it is stored
FORMATS = ("text", "yyyymmdd", "school_year")


@dataclass(frozen=True)
class AttributeColumn:
    """A student attribute column: its name, where in StudentLocator it comes from, its size.

    ``table`` is "parms" (SLF_TRANSACTION_PARMS) or "batch" (SLF_BATCH, values that apply to
    the whole batch); ``codes`` names state-side code tables applied before storing;
    ``format`` converts the value ("yyyymmdd": an xs:date as the seed's BIRTH_DATE;
    "school_year": an xs:date as the ending year of its school year, e.g. 2026-08-19 → 2027).
    """

    name: str
    path: str
    length: int
    table: str = "parms"
    format: str = "text"
    codes: tuple[str, ...] = ()
    description: str = ""


#: The seed's SLF_TRANSACTION_PARMS attribute columns and SLF_BATCH's per-batch values,
#: with the StudentLocator path each is read from (seed: "In SIF, maps to ...").
CORE_ATTRIBUTES: tuple[AttributeColumn, ...] = (
    AttributeColumn("SIF_REFID", "StudentPersonalRefId", 32, description="StudentPersonal RefId"),
    AttributeColumn("STATE_ID", "StateProvinceId", 20, description="state ID (pre-filled by the district, or assigned)"),
    AttributeColumn("LOCAL_ID", "LocalId", 20),
    AttributeColumn("HOME_SCHOOL_CODE", 'RequestingAgencyId[@Type="School"]', 6),
    AttributeColumn("LEGAL_FIRST_NAME", 'Name[@Type="04"]/FirstName', 60),
    AttributeColumn("LEGAL_LAST_NAME", 'Name[@Type="04"]/LastName', 60),
    AttributeColumn("LEGAL_MIDDLE_NAME", 'Name[@Type="04"]/MiddleName', 60),
    AttributeColumn("ETHNICITY_CODE", "Demographics/RaceList/Race/Code", 4),
    AttributeColumn("GENDER_CODE", "Demographics/Gender", 6),
    AttributeColumn("BIRTH_DATE", "Demographics/BirthDate", 8, format="yyyymmdd"),
    AttributeColumn("GRADE_LEVEL", "GradeLevel/Code", 2),
    AttributeColumn("SCHOOL_YR", "EffectiveDate", 4, table="batch", format="school_year"),
    AttributeColumn("DISTRICT_CODE", 'RequestingAgencyId[@Type="LEA"]', 8, table="batch"),
    AttributeColumn("SCHOOL_CODE", 'RequestingAgencyId[@Type="School"]', 8, table="batch"),
)
CORE_NAMES = frozenset(c.name for c in CORE_ATTRIBUTES)

#: candidate columns of SLF_POTENTIAL_MATCH (seed), besides the ids and CONFIDENCE
MATCH_ATTRIBUTES = ("STATE_ID", "LOCAL_ID", "HOME_SCHOOL_CODE", "LEGAL_FIRST_NAME", "LEGAL_LAST_NAME",
                    "LEGAL_MIDDLE_NAME", "ETHNICITY_CODE", "GENDER_CODE", "BIRTH_DATE", "GRADE_LEVEL")
_MATCH_LENGTHS = {c.name: c.length for c in CORE_ATTRIBUTES}

#: SLF_TRANSACTION_PARMS.SLF_REQUEST_TYPE (resolver): what the district asked for
REQUEST_TYPES = ("Request", "Release")
#: SLF_TRANSACTION_PARMS.RESOLVE_ACTION (resolver → database): the district's resolution
RESOLVE_MATCH, RESOLVE_NEW = "MATCH", "NEW"
#: SLF_RESOLVER_REQUEST.AWAITS: which answer a pending request waits for
AWAIT_OUTCOME, AWAIT_DECISION, AWAIT_CANCEL = "OUTCOME", "DECISION", "CANCEL"


def _c(name: str, type_, *args, **kw) -> Column:
    return Column(name, type_, *args, quote=False, **kw)


@dataclass(frozen=True)
class Schema:
    """The SQLAlchemy tables for one set of attribute columns."""

    metadata: MetaData
    batch: Table
    parms: Table
    match: Table
    error_log: Table
    request: Table
    version: Table
    extra: tuple[AttributeColumn, ...] = field(default=())

    @property
    def seed_tables(self) -> tuple[Table, ...]:
        return (self.batch, self.parms, self.match, self.error_log)


@lru_cache(maxsize=32)
def schema(extra: tuple[AttributeColumn, ...] = ()) -> Schema:
    """The tables, with ``extra`` attribute columns on SLF_TRANSACTION_PARMS.

    Cached per column set, so every store of a process shares one MetaData per set.
    """
    for c in extra:
        if c.name in CORE_NAMES:
            raise ValueError(f"{c.name} is a seed column; configure its path/codes, not a new column")
        if c.table != "parms":
            raise ValueError(f"extra column {c.name}: only SLF_TRANSACTION_PARMS takes extra columns")
    md = MetaData()
    batch = Table(
        "SLF_BATCH", md,
        _c("N_BATCH_ID", Integer, primary_key=True, autoincrement=True),
        _c("SIF_ZONE_ID", String(64), nullable=False),  # seed: VarChar(50); SIF ids may be 64
        _c("SIF_SOURCE_ID", String(64), nullable=False),
        _c("READY", SmallInteger, nullable=False, default=0),
        _c("SCHOOL_YR", String(4)),
        _c("DISTRICT_CODE", String(8)),
        _c("SCHOOL_CODE", String(8)),
        _c("BATCH_NUM", String(32)),
        _c("APP_BATCH_NUM", String(32)),
        # resolver
        _c("CREATED_AT", Float, nullable=False),  # epoch seconds; READY by age/time of day
        _c("READY_AT", Float),
        Index("ix_slf_batch_key", "SIF_ZONE_ID", "SIF_SOURCE_ID", "BATCH_NUM"),
        Index("ix_slf_batch_ready", "READY"),
        quote=False,
    )
    parms = Table(
        "SLF_TRANSACTION_PARMS", md,
        _c("N_TRANSACTION_PARMS_ID", Integer, primary_key=True, autoincrement=True),
        _c("N_BATCH_ID", Integer, ForeignKey("SLF_BATCH.N_BATCH_ID"), nullable=False),
        _c("SLF_TRANSACTION_GUID", String(32), nullable=False),
        _c("SIF_REFIDTYPE", SmallInteger, nullable=False, default=1),  # 1 = StudentPersonal
        *[_c(a.name, String(a.length)) for a in CORE_ATTRIBUTES if a.table == "parms"],
        *[_c(a.name, String(a.length)) for a in extra],
        _c("N_SLF_STATUS", Integer, nullable=False),
        # resolver
        _c("SLF_REQUEST_TYPE", String(8), nullable=False, default="Request"),  # Request | Release
        _c("SIF_MSG_ID", String(32)),  # the SIF_Request that created the row
        _c("RESOLVE_ACTION", String(8)),  # MATCH | NEW: the district's resolution of an ambiguous row
        _c("RESOLVE_STATE_ID", String(20)),  # the candidate the district picked (MATCH)
        _c("N_SEEN_STATUS", Integer),  # the status the resolver last set or acted on
        _c("N_REFUSED_STATUS", Integer),  # a status the database set illegally (ignored, logged once)
        _c("N_FINAL_STATUS", Integer),  # the outcome (3-6, 10, 12) of a row kept as 9 COMPLETE
        _c("CLAIM_TOKEN", String(64)),  # the worker answering this row now
        _c("CLAIM_UNTIL", Float),
        _c("CREATED_AT", Float, nullable=False),
        _c("UPDATED_AT", Float, nullable=False),
        UniqueConstraint("SLF_TRANSACTION_GUID", "SLF_REQUEST_TYPE", name="uq_slf_parms_guid"),
        Index("ix_slf_parms_status", "N_SLF_STATUS"),
        Index("ix_slf_parms_batch", "N_BATCH_ID"),
        quote=False,
    )
    match = Table(
        "SLF_POTENTIAL_MATCH", md,
        _c("N_POTENTIAL_MATCH_ID", Integer, primary_key=True, autoincrement=True),
        _c("N_TRANSACTION_PARMS_ID", Integer, ForeignKey("SLF_TRANSACTION_PARMS.N_TRANSACTION_PARMS_ID"),
           nullable=False),
        _c("N_BATCH_ID", Integer, ForeignKey("SLF_BATCH.N_BATCH_ID"), nullable=False),
        _c("CONFIDENCE", Double),
        *[_c(n, String(_MATCH_LENGTHS[n])) for n in MATCH_ATTRIBUTES],
        Index("ix_slf_match_parms", "N_TRANSACTION_PARMS_ID"),
        quote=False,
    )
    error_log = Table(
        "SLF_ERROR_LOG", md,
        _c("N_ERROR_LOG_ID", Integer, primary_key=True, autoincrement=True),
        # the seed prints "N_TRANSACTION_PARM S_ID" (a line break); the name is N_TRANSACTION_PARMS_ID
        _c("N_TRANSACTION_PARMS_ID", Integer, ForeignKey("SLF_TRANSACTION_PARMS.N_TRANSACTION_PARMS_ID"),
           nullable=False),
        _c("N_BATCH_ID", Integer, ForeignKey("SLF_BATCH.N_BATCH_ID"), nullable=False),
        _c("ERROR_DSCR", String(255)),
        Index("ix_slf_error_parms", "N_TRANSACTION_PARMS_ID"),
        quote=False,
    )
    request = Table(
        "SLF_RESOLVER_REQUEST", md,
        _c("N_REQUEST_ID", Integer, primary_key=True, autoincrement=True),
        _c("SIF_ZONE_ID", String(64), nullable=False),
        _c("SIF_SOURCE_ID", String(64), nullable=False),
        _c("SIF_MSG_ID", String(32), nullable=False),
        _c("SLF_TRANSACTION_GUID", String(32), nullable=False),
        _c("SLF_REQUEST_TYPE", String(8), nullable=False),  # Request | Release (which row family)
        _c("ID_STATUS", String(16), nullable=False),  # the request's IdStatus
        _c("AWAITS", String(8), nullable=False),  # OUTCOME | DECISION | CANCEL
        _c("N_TRANSACTION_PARMS_ID", Integer),  # no foreign key: the row is deleted when complete
        _c("REQUEST_REF", Text, nullable=False),  # sif_agent.requests.RequestRef as JSON
        _c("RECEIVED_AT", Float, nullable=False),
        _c("ANSWERED_AT", Float),
        _c("ANSWER", String(16)),  # the IdStatus answered (Valid, Ambiguous, Error, Cancelled, Release)
        _c("ANSWER_STATE_ID", String(20)),
        _c("ANSWER_TEXT", String(255)),
        _c("ANSWER_FINAL", SmallInteger, nullable=False, default=0),  # 1: the transaction's outcome
        _c("CLAIM_TOKEN", String(64)),
        _c("CLAIM_UNTIL", Float),
        UniqueConstraint("SIF_ZONE_ID", "SIF_SOURCE_ID", "SIF_MSG_ID", name="uq_slf_request_msg"),
        Index("ix_slf_request_guid", "SLF_TRANSACTION_GUID"),
        Index("ix_slf_request_pending", "ANSWERED_AT"),
        Index("ix_slf_request_parms", "N_TRANSACTION_PARMS_ID"),
        quote=False,
    )
    version = Table(
        "SLF_RESOLVER_SCHEMA", md,
        _c("VERSION", Integer, primary_key=True, autoincrement=False),
        _c("DESCRIPTION", String(200), nullable=False),
        _c("APPLIED_AT", Float, nullable=False),
        quote=False,
    )
    return Schema(md, batch, parms, match, error_log, request, version, tuple(extra))


def attribute_columns(extra: Iterable[AttributeColumn] = ()) -> tuple[AttributeColumn, ...]:
    """Core then extra attribute columns (for reading a request)."""
    return CORE_ATTRIBUTES + tuple(extra)


#: the base schema (no extra columns): what the SSID side and tests read
BASE = schema()
