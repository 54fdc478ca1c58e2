"""The audit trail: what changed, when, by whom, from which district, and how it arrived.

Why this shape (RFP 1.21.8, Supplement Two C): every creation, modification, deactivation and
reactivation writes exactly one row *in the same transaction as the change*, so there is never
a change without its row or a row without its change. Each row carries the seed's fields: the
date/time, old and new values, the batch job id (blank when made online), the user id, the
user's district IRN, the change type, and whether it came through the SLF; plus whether a new
ID was forced past offered matches (RFP 1.21.8.1) and a correlation id. The table is
append-only: this module offers no update or delete, and the database refuses both (triggers,
see ``db.migrations``).

SSNs are masked in old/new values (only the last four digits are kept): the audit is read by
more people than the record is.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .db.schema import audit_t


class ChangeType(str, enum.Enum):
    CREATE = "CREATE"  # a new ID issued
    LEGACY_IMPORT = "LEGACY_IMPORT"  # an ID and its attributes loaded from the prior system
    MODIFY = "MODIFY"  # attributes changed
    ALIAS = "ALIAS"  # a new version of the matching attributes recorded (a match under another spelling)
    DEACTIVATE = "DEACTIVATE"
    REACTIVATION_REQUEST = "REACTIVATION_REQUEST"
    REACTIVATE = "REACTIVATE"  # approved by the state
    REACTIVATION_REJECT = "REACTIVATION_REJECT"
    RESERVE = "RESERVE"  # an ID recorded as used (reserved or retired) without a student
    USER = "USER"  # a user added, limited, suspended or restored

    def __str__(self) -> str:
        return self.value


SENSITIVE = frozenset({"SSN"})


def mask(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy for the audit: SSN reduced to its last four digits."""
    if values is None:
        return None
    out = dict(values)
    for k in SENSITIVE & out.keys():
        v = str(out[k] or "")
        out[k] = f"*****{v[-4:]}" if len(v) >= 4 else "*****"
    return out


@dataclass(frozen=True)
class Actor:
    """Who makes a change and through which channel (the audit row's who/where/how)."""

    user_id: str
    district_irn: str | None = None
    batch_job_id: str | None = None
    via_slf: bool = False
    correlation_id: str | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: float
    change_type: str
    student_id: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    batch_job_id: str | None
    user_id: str | None
    user_district: str | None
    via_slf: bool
    forced_new: bool
    correlation_id: str | None
    detail: dict[str, Any] | None

    @classmethod
    def from_row(cls, r) -> AuditRow:
        m = r._mapping
        return cls(**{k: m[k] for k in cls.__dataclass_fields__})


def entry(at: float, change_type: ChangeType, actor: Actor, student_id: str | None = None,
          old: Mapping[str, Any] | None = None, new: Mapping[str, Any] | None = None, *,
          forced_new: bool = False, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One audit row as column values (for one insert or an executemany)."""
    return {"at": at, "change_type": str(change_type), "student_id": student_id, "old_values": mask(old),
            "new_values": mask(new), "batch_job_id": actor.batch_job_id, "user_id": actor.user_id,
            "user_district": actor.district_irn, "via_slf": actor.via_slf, "forced_new": forced_new,
            "correlation_id": actor.correlation_id, "detail": dict(detail) if detail else None}


async def record(conn: AsyncConnection, rows: dict[str, Any] | Iterable[dict[str, Any]]) -> None:
    """Append audit rows inside the caller's transaction (the only write this module has)."""
    rows = [rows] if isinstance(rows, dict) else list(rows)
    if rows:
        await conn.execute(insert(audit_t), rows)


async def history(conn: AsyncConnection, student_id: str | None = None, *, change_type: str | None = None,
                  user_id: str | None = None, since: float | None = None, limit: int | None = None,
                  newest_first: bool = False) -> list[AuditRow]:
    q = select(audit_t)
    if student_id is not None:
        q = q.where(audit_t.c.student_id == student_id)
    if change_type is not None:
        q = q.where(audit_t.c.change_type == change_type)
    if user_id is not None:
        q = q.where(audit_t.c.user_id == user_id)
    if since is not None:
        q = q.where(audit_t.c.at >= since)
    q = q.order_by(audit_t.c.id.desc() if newest_first else audit_t.c.id)
    if limit is not None:
        q = q.limit(limit)
    return [AuditRow.from_row(r) for r in (await conn.execute(q)).all()]
