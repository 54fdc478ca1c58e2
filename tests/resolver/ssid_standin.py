"""A scripted stand-in for the SSID vendor database, acting on the SLF tables as the seed says.

Seed (Supplement Four ch. 2, "Transaction Flow"): the database polls SLF_TRANSACTION_PARMS for
N_SLF_STATUS = 1 REQUEST rows of READY batches, immediately sets 2 REQUEST_IN_PROGRESS, then
decides: 3 SYSTEM_MATCH / 4 SYSTEM_NEW with STATE_ID, 7 UNRESOLVED with SLF_POTENTIAL_MATCH rows,
or 10 ERROR with an SLF_ERROR_LOG row; an administrator later resolves an ambiguous row
(8 → 5 USER_MATCH / 6 USER_NEW). Besides the seed it honours the resolver's two extensions:
a district resolution in RESOLVE_ACTION / RESOLVE_STATE_ID (applied as 5/6) and a cancellation
request (13 CANCELLED_IN_PROGRESS → 12 CANCELLED).

It writes with plain SQL on its own engine, as a vendor's program would; every change is a
conditional UPDATE (``WHERE N_SLF_STATUS = old``) checked against the transition table.
``force`` writes any status, to show that the resolver refuses illegal changes.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import and_, insert, select, update

from sif_agent.resolver.db import make_engine
from sif_agent.resolver.status import Actor, SlfStatus, transition
from sif_agent.resolver.tables import RESOLVE_MATCH, RESOLVE_NEW, schema

S = SlfStatus


@dataclass(frozen=True)
class Decision:
    """What the stand-in decides for a claimed row."""

    kind: str  # "match" | "new" | "ambiguous" | "error" | "hold"
    state_id: str | None = None
    candidates: tuple[dict[str, Any], ...] = ()
    text: str | None = None


def match(state_id: str = "AB1234567") -> Decision:
    return Decision("match", state_id)


def new(state_id: str | None = None) -> Decision:
    return Decision("new", state_id)


def ambiguous(*candidates: dict[str, Any]) -> Decision:
    return Decision("ambiguous", candidates=candidates)


def error(text: str) -> Decision:
    return Decision("error", text=text)


HOLD = Decision("hold")

CANDIDATES = (
    {"STATE_ID": "CD7654321", "CONFIDENCE": 0.88, "LEGAL_FIRST_NAME": "Amarah", "LEGAL_LAST_NAME": "Okafor",
     "GENDER_CODE": "F", "BIRTH_DATE": "20170412", "HOME_SCHOOL_CODE": "012345"},
    {"STATE_ID": "AB1234567", "CONFIDENCE": 0.92, "LEGAL_FIRST_NAME": "Amara", "LEGAL_LAST_NAME": "Okafor",
     "LEGAL_MIDDLE_NAME": "Grace", "GENDER_CODE": "F", "BIRTH_DATE": "20170412", "GRADE_LEVEL": "03"},
    {"STATE_ID": "EF1111111", "CONFIDENCE": None, "LEGAL_FIRST_NAME": "Amy", "LEGAL_LAST_NAME": "Okafor"},
)


def default_decide(row: dict[str, Any]) -> Decision:
    """By last name: insufficient data without a middle name, else a system match."""
    if not row.get("LEGAL_MIDDLE_NAME"):
        return error("Insufficient data: LEGAL_MIDDLE_NAME is required")
    return match()


@dataclass
class ScriptedSsid:
    url: str
    decide: Callable[[dict[str, Any]], Decision] = default_decide
    #: called after every change (e.g. the resolver store's notify_changed, when co-located)
    on_change: Callable[[], None] = lambda: None
    new_ids: Any = field(default_factory=lambda: (f"NW{n:07d}" for n in itertools.count(1)))
    decided: list[tuple[str, str]] = field(default_factory=list)  # (TransactionId, kind)
    #: the state's configured attribute columns (the database reads them too)
    extra: tuple = ()

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)
        self.t = schema(tuple(self.extra))

    async def close(self) -> None:
        await self.engine.dispose()

    # ------------------------------------------------------------------ primitives
    async def _move(self, conn, pid: int, old: SlfStatus, new: SlfStatus, **values) -> bool:
        transition(old, new, Actor.DATABASE, row=pid)  # a well-behaved database follows the table
        p = self.t.parms
        result = await conn.execute(update(p).where(and_(p.c.N_TRANSACTION_PARMS_ID == pid,
                                                         p.c.N_SLF_STATUS == int(old)))
                                    .values(N_SLF_STATUS=int(new), **values))
        return result.rowcount == 1

    async def status(self, pid: int) -> SlfStatus | None:
        async with self.engine.connect() as conn:
            v = (await conn.execute(select(self.t.parms.c.N_SLF_STATUS)
                                    .where(self.t.parms.c.N_TRANSACTION_PARMS_ID == pid))).scalar()
        return None if v is None else SlfStatus(v)

    async def rows(self, *statuses: SlfStatus) -> list[dict[str, Any]]:
        p, b = self.t.parms, self.t.batch
        q = select(p, b.c.READY).join(b, b.c.N_BATCH_ID == p.c.N_BATCH_ID).order_by(p.c.N_TRANSACTION_PARMS_ID)
        if statuses:
            q = q.where(p.c.N_SLF_STATUS.in_([int(s) for s in statuses]))
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def claim(self) -> list[dict[str, Any]]:
        """1 → 2 for every REQUEST row of a READY batch (the seed: only READY batches)."""
        p, b = self.t.parms, self.t.batch
        claimed = []
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(p).join(b, b.c.N_BATCH_ID == p.c.N_BATCH_ID).where(and_(
                p.c.N_SLF_STATUS == int(S.REQUEST), b.c.READY == 1)).order_by(p.c.N_TRANSACTION_PARMS_ID))).all()
            for r in rows:
                if await self._move(conn, r.N_TRANSACTION_PARMS_ID, S.REQUEST, S.REQUEST_IN_PROGRESS):
                    claimed.append(dict(r._mapping))
        return claimed

    async def apply(self, row: dict[str, Any], d: Decision, *, user: bool = False) -> None:
        """Apply a decision to a row at 2 (system) or 8 (``user``: the web UI's resolution)."""
        pid, batch = row["N_TRANSACTION_PARMS_ID"], row["N_BATCH_ID"]
        old = S.RESOLUTION_IN_PROGRESS if user else S.REQUEST_IN_PROGRESS
        async with self.engine.begin() as conn:
            if d.kind == "match":
                await self._move(conn, pid, old, S.USER_MATCH if user else S.SYSTEM_MATCH, STATE_ID=d.state_id)
            elif d.kind == "new":
                await self._move(conn, pid, old, S.USER_NEW if user else S.SYSTEM_NEW,
                                 STATE_ID=d.state_id or next(self.new_ids))
            elif d.kind == "ambiguous":
                for c in d.candidates:
                    await conn.execute(insert(self.t.match).values(N_TRANSACTION_PARMS_ID=pid, N_BATCH_ID=batch, **c))
                await self._move(conn, pid, old, S.UNRESOLVED)
            elif d.kind == "error":
                await conn.execute(insert(self.t.error_log).values(N_TRANSACTION_PARMS_ID=pid, N_BATCH_ID=batch,
                                                                   ERROR_DSCR=d.text))
                await self._move(conn, pid, old, S.ERROR)
            elif d.kind != "hold":
                raise ValueError(d.kind)
        if d.kind != "hold":
            self.decided.append((row["SLF_TRANSACTION_GUID"], d.kind))
        self.on_change()

    async def resolutions(self) -> int:
        """District resolutions recorded by the resolver (RESOLVE_ACTION on rows at 8) → 5 / 6."""
        p = self.t.parms
        async with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in (await conn.execute(select(p).where(and_(
                p.c.N_SLF_STATUS == int(S.RESOLUTION_IN_PROGRESS), p.c.RESOLVE_ACTION.is_not(None))))).all()]
        for r in rows:
            if r["RESOLVE_ACTION"] == RESOLVE_MATCH:
                await self.apply(r, match(r["RESOLVE_STATE_ID"]), user=True)
            elif r["RESOLVE_ACTION"] == RESOLVE_NEW:
                await self.apply(r, new(), user=True)
        return len(rows)

    async def cancellations(self) -> int:
        """13 CANCELLED_IN_PROGRESS (the resolver asks) → 12 CANCELLED (confirmed)."""
        n = 0
        for r in await self.rows(S.CANCELLED_IN_PROGRESS):
            async with self.engine.begin() as conn:
                n += await self._move(conn, r["N_TRANSACTION_PARMS_ID"], S.CANCELLED_IN_PROGRESS, S.CANCELLED)
        if n:
            self.on_change()
        return n

    async def resolve(self, transaction_id: str, d: Decision) -> None:
        """A state user resolves an ambiguous transaction in the web UI (8 → 5/6)."""
        [row] = [r for r in await self.rows(S.RESOLUTION_IN_PROGRESS) if r["SLF_TRANSACTION_GUID"] == transaction_id]
        await self.apply(row, d, user=True)

    async def force(self, pid: int, status: int, **values) -> None:
        """Write any status, legal or not (a misbehaving database)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(self.t.parms).where(self.t.parms.c.N_TRANSACTION_PARMS_ID == pid)
                               .values(N_SLF_STATUS=int(status), **values))
        self.on_change()

    # ------------------------------------------------------------------ a whole pass / a loop
    async def step(self) -> int:
        """Claim, decide, apply resolutions and cancellations; how many rows it touched."""
        n = 0
        for row in await self.claim():
            await self.apply(row, self.decide(row))
            n += 1
        return n + await self.resolutions() + await self.cancellations()

    async def run(self, wake: asyncio.Event | None = None, interval: float = 0.05) -> None:
        """Until cancelled: a pass, then wait for ``wake`` (the resolver's new_work) or ``interval``."""
        while True:
            if wake is not None:
                wake.clear()
            await self.step()
            if wake is None:
                await asyncio.sleep(interval)
            else:
                try:
                    await asyncio.wait_for(wake.wait(), interval)
                except asyncio.TimeoutError:
                    pass
