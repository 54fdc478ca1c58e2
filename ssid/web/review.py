"""The potential-match review queue, read from the SLF tables through the poller.

Why through ``SlfPoller``: the poller owns the SLF side of the SSID database (the table shapes
as the resolver created them, the column mapping, the legal status changes, idempotent
decisions). This module only reads: the transactions at 7 UNRESOLVED and 8
RESOLUTION_IN_PROGRESS in the user's districts and buildings, and a side-by-side comparison of
what the district submitted with each candidate, differences marked (RFP 1.21.6.1). Decisions
go through ``SlfPoller.resolve`` (5 USER_MATCH / 6 USER_NEW).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, literal, or_, select

from ..db.engine import READ_ONLY
from ..poller import SlfPoller
from ..slf import MATCH_COLUMNS, SlfMapping, SlfStatus, batch_t
from .scope import Scope

S = SlfStatus
QUEUE_STATUSES = (S.UNRESOLVED, S.RESOLUTION_IN_PROGRESS)


@dataclass(frozen=True)
class Pending:
    transaction_id: str
    status: SlfStatus
    district: str | None
    building: str | None
    values: dict[str, str]  # the submitted attributes, by catalogue name

    @property
    def decidable(self) -> bool:
        return self.status is S.RESOLUTION_IN_PROGRESS


def pending_from_row(row: Mapping[str, Any], mapping: SlfMapping) -> Pending:
    return Pending(row["SLF_TRANSACTION_GUID"], SlfStatus(row["N_SLF_STATUS"]), mapping.district(row),
                   mapping.building(row), mapping.values(row))


def _place(p, names: Sequence[str]):
    """SQL for "the first non-blank of these columns" (parms first, then batch), as the mapping reads it."""
    cols = []
    for n in names:
        if n in p.c:
            cols.append(func.nullif(p.c[n], ""))
        elif n in batch_t.c:
            cols.append(func.nullif(batch_t.c[n], ""))
    return func.coalesce(*cols, literal("")) if cols else literal("")


async def queue(poller: SlfPoller, scope: Scope, limit: int = 200) -> list[Pending]:
    """Ambiguous transactions the user may see, oldest first."""
    if scope.empty:
        return []
    p = await poller.parms()
    m = poller.mapping
    where = [p.c.N_SLF_STATUS.in_([int(s) for s in QUEUE_STATUSES])]
    if not scope.state:
        district, building = _place(p, m.district_columns), _place(p, m.building_columns)
        where.append(or_(and_(district.in_(sorted(scope.districts) or [""]), district != ""),
                         and_(building.in_(sorted(scope.buildings) or [""]), building != "")))
    q = (select(p, batch_t.c.DISTRICT_CODE, batch_t.c.SCHOOL_CODE)
         .select_from(p.join(batch_t, batch_t.c.N_BATCH_ID == p.c.N_BATCH_ID))
         .where(and_(*where)).order_by(p.c.N_TRANSACTION_PARMS_ID).limit(limit))
    async with poller.slf.connect() as conn:
        conn = await conn.execution_options(**{READ_ONLY: True})
        rows = [dict(r._mapping) for r in (await conn.execute(q)).all()]
    return [pending_from_row(r, m) for r in rows]


async def one(poller: SlfPoller, transaction_id: str, scope: Scope) -> Pending | None:
    """One transaction, if it exists and the user may see it (any status)."""
    row = await poller.row(transaction_id)
    if row is None:
        return None
    item = pending_from_row(row, poller.mapping)
    if not scope.covers([item.district], [item.building]):
        return None
    return item


@dataclass(frozen=True)
class Cell:
    value: str
    differs: bool


@dataclass(frozen=True)
class Candidate:
    state_id: str
    confidence: float | None
    cells: tuple[Cell, ...]


def _norm(v: str | None) -> str:
    return " ".join((v or "").casefold().split())


def compare(submitted: Mapping[str, str], building: str | None, candidates: Sequence[Mapping[str, Any]],
            mapping: SlfMapping, labels: Mapping[str, str]) -> tuple[list[tuple[str, str]], list[Candidate]]:
    """(rows: (label, submitted value), candidates with one cell per row, differences marked). Pure.

    Rows are the attributes SLF_POTENTIAL_MATCH carries for a candidate, then the building.
    """
    shown = [c for c in mapping.columns if c.column in MATCH_COLUMNS]
    rows = [(labels.get(c.attribute, c.attribute), submitted.get(c.attribute, "")) for c in shown]
    rows.append(("Building IRN", building or ""))
    out = []
    for cand in candidates:
        cells = []
        for c in shown:
            theirs = c.to_attribute(cand.get(c.column)) or ""
            mine = submitted.get(c.attribute, "")
            cells.append(Cell(theirs, bool(mine) and bool(theirs) and _norm(mine) != _norm(theirs)))
        home = str(cand.get("HOME_SCHOOL_CODE") or "")
        cells.append(Cell(home, bool(building) and bool(home) and home != building))
        conf = cand.get("CONFIDENCE")
        out.append(Candidate(str(cand["STATE_ID"]), None if conf is None else float(conf), tuple(cells)))
    return rows, out
