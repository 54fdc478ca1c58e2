"""The resolver's side of the SLF tables: record requests, claim what to answer, complete.

Why one module owns every write the resolver makes: each status change must go through
the seed's transition table (``status.transition``; an illegal one is refused, logged and
never applied), in the same database transaction as the row it concerns, and must be safe
with several resolver workers and the SSID database writing the same tables.

The three steps of a StudentLocator transaction here:

1. :meth:`ResolverStore.record` (request handler, before the SIF_Request is acknowledged):
   the request goes into SLF_RESOLVER_REQUEST (unique per zone, source and SIF_MsgId: a
   redelivered request changes nothing); a new TransactionId gets its SLF_BATCH (per the
   batching policy; READY per config) and SLF_TRANSACTION_PARMS row at 1 REQUEST; a known
   TransactionId gets no second row (unique SLF_TRANSACTION_GUID): a follow-up Request waits
   for the current outcome, Resolve/New record the district's resolution for the database
   (RESOLVE_ACTION), Cancel cancels (1→12) or asks the database to (2/7/8→13).
2. :meth:`claim` (poller): rows with a waiting request that can be answered now, locked with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and leased (CLAIM_TOKEN, CLAIM_UNTIL) so that no
   other worker answers them meanwhile; a status the database set that the table cannot reach
   from the last one the resolver saw is refused (logged once, N_REFUSED_STATUS) and not acted on.
3. :meth:`finish` (after ``Agent.respond`` stored the answers durably): the requests are marked
   answered (the log remembers final outcomes); 7→8 after Ambiguous; a decided row is completed
   (deleted with its candidates, errors and, if it was the last, its batch; or 9 COMPLETE).

A crash anywhere leaves either the previous state (the step is redone: ``respond`` is
idempotent per request) or the next one. Wake-ups: :attr:`changed` (set by the request
handler, a co-located database, or PostgreSQL NOTIFY) wakes the poller; :attr:`new_work`
tells a co-located database that rows or resolutions are waiting for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from messages.objects import IdStatus

from ..requests import RequestRef
from . import outbound
from .config import StorePolicy
from .db import make_engine
from .inbound import Incoming
from .migrations import migrate
from .outbound import Answer
from .status import AMBIGUOUS, DECIDED, Actor, IllegalTransition, SlfStatus, reachable, transition
from .tables import (
    AWAIT_CANCEL, AWAIT_DECISION, AWAIT_OUTCOME, RESOLVE_MATCH, RESOLVE_NEW, AttributeColumn, Schema, schema,
)

log = logging.getLogger(__name__)
S = SlfStatus

#: statuses at which a request waiting for an outcome / a decision (or cancel) can be answered
ANSWERABLE = {
    AWAIT_OUTCOME: tuple(int(s) for s in (*DECIDED, *AMBIGUOUS, S.COMPLETE)),
    AWAIT_DECISION: tuple(int(s) for s in (*DECIDED, S.COMPLETE)),
    AWAIT_CANCEL: tuple(int(s) for s in (*DECIDED, S.COMPLETE)),
}


@dataclass(frozen=True)
class Recorded:
    """What :meth:`ResolverStore.record` did with a request."""

    request_id: int | None = None
    transaction_row: int | None = None
    duplicate: bool = False  # the same SIF_MsgId was recorded before: nothing changed
    created: bool = False  # a new SLF_TRANSACTION_PARMS row at 1 REQUEST
    #: an answer to send now, instead of waiting for the database (unusable values, unknown id)
    immediate: Answer | None = None
    note: str = ""


@dataclass(frozen=True)
class Pending:
    """A request waiting for an answer."""

    id: int
    ref: RequestRef
    id_status: str
    awaits: str
    transaction_id: str
    request_type: str


@dataclass
class Work:
    """A claimed row (or a claimed request whose row is gone) and what answering it needs."""

    token: str
    requests: list[Pending]
    row: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: the remembered outcome (request log) of a transaction whose row is gone, by request id
    memory: dict[int, dict[str, Any] | None] = field(default_factory=dict)

    @property
    def status(self) -> SlfStatus | None:
        return None if self.row is None else SlfStatus(self.row["N_SLF_STATUS"])

    def answer(self, req: Pending) -> Answer | None:
        """The answer ``req`` gets now (None: it keeps waiting)."""
        what = {AWAIT_CANCEL: "cancel", AWAIT_DECISION: "resolve"}.get(req.awaits, "answer")
        if self.row is None:
            return outbound.replay(req.transaction_id, req.awaits, self.memory.get(req.id), what)
        return outbound.for_row(req.transaction_id, req.awaits, self.row, self.candidates, self.errors)


class ResolverStore:
    def __init__(self, engine: AsyncEngine, *, policy: StorePolicy = StorePolicy(),
                 extra_columns: Sequence[AttributeColumn] = (), clock: Callable[[], float] = time.time,
                 worker_id: str = "resolver") -> None:
        self.engine = engine
        self.policy = policy
        self.extra_columns = tuple(extra_columns)
        self.t: Schema = schema(self.extra_columns)
        self.clock = clock
        self.worker_id = worker_id
        self.pg = engine.dialect.name == "postgresql"
        #: set when there may be something to answer (new request, database change, NOTIFY)
        self.changed = asyncio.Event()
        #: set when there is work for the database (new rows, resolutions, cancellations, READY)
        self.new_work = asyncio.Event()

    @classmethod
    def from_url(cls, url: str, **kw) -> "ResolverStore":
        return cls(make_engine(url), **kw)

    async def migrate(self) -> list[str]:
        return await migrate(self.engine, self.extra_columns, clock=self.clock)

    async def close(self) -> None:
        await self.engine.dispose()

    def notify_changed(self) -> None:
        """For a co-located database: "I changed N_SLF_STATUS", wakes the poller at once."""
        self.changed.set()

    def _lock(self, q, *of):
        """``FOR UPDATE`` on PostgreSQL (SQLite: the transaction already holds the write lock)."""
        return q.with_for_update(of=list(of) or None) if self.pg else q

    def _claim_lock(self, q, *of):
        return q.with_for_update(skip_locked=True, of=list(of) or None) if self.pg else q

    # ================================================================== recording requests
    async def record(self, zone_id: str, source_id: str, msg_id: str, incoming: Incoming,
                     ref: RequestRef) -> Recorded:
        """Record one SIF_Request (see the module docstring); idempotent per SIF_MsgId and per
        TransactionId. A concurrent worker recording the same request or transaction first
        makes this retry, and then find its row."""
        for attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    rec = await self._record(conn, zone_id, source_id, msg_id, incoming, ref)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("request %s: recorded concurrently by another worker; looking again", msg_id)
        if not rec.duplicate and rec.immediate is None:
            self.changed.set()
            if rec.created or incoming.id_status in (IdStatus.RESOLVE, IdStatus.NEW, IdStatus.CANCEL):
                self.new_work.set()
        return rec

    async def _record(self, conn: AsyncConnection, zone_id: str, source_id: str, msg_id: str, inc: Incoming,
                      ref: RequestRef) -> Recorded:
        t = self.t
        seen = (await conn.execute(select(t.request.c.N_REQUEST_ID).where(and_(
            t.request.c.SIF_ZONE_ID == zone_id, t.request.c.SIF_SOURCE_ID == source_id,
            t.request.c.SIF_MSG_ID == msg_id)))).scalar()
        if seen is not None:
            return Recorded(request_id=seen, duplicate=True, note="redelivered: already recorded")
        now = self.clock()
        txn = inc.transaction_id
        row = await self._live_row(conn, txn, inc.request_type, lock=True)
        if row is not None and (row["SIF_ZONE_ID"], row["SIF_SOURCE_ID"]) != (zone_id, source_id):
            log.warning("request %s: TransactionId %s belongs to %s in zone %s, not %s", msg_id, txn,
                        row["SIF_SOURCE_ID"], row["SIF_ZONE_ID"], source_id)
            return Recorded(immediate=outbound.error(
                txn, f"TransactionId {txn} belongs to another requester; start a new transaction", final=False))
        status = inc.id_status
        awaits, parms_id, created, note = AWAIT_OUTCOME, None, False, ""
        if status in (IdStatus.REQUEST, IdStatus.RELEASE):
            if row is not None:
                parms_id, note = row["N_TRANSACTION_PARMS_ID"], f"follow-up: the current outcome of {txn}"
            elif await self._memory(conn, zone_id, source_id, txn, inc.request_type) is not None:
                note = f"repeat of completed {txn}: its outcome again"
            elif inc.problems:
                return Recorded(immediate=outbound.error(
                    txn, "The state cannot store this request: " + "; ".join(inc.problems)),
                    note="unusable values")
            else:
                parms_id = await self._create(conn, zone_id, source_id, msg_id, inc, now)
                created, note = True, f"new transaction {txn} (row {parms_id}) at {S.REQUEST}"
        elif status in (IdStatus.RESOLVE, IdStatus.NEW):
            if row is None:
                if await self._memory(conn, zone_id, source_id, txn, inc.request_type) is None:
                    return Recorded(immediate=outbound.unknown(txn, "resolve"), note="unknown transaction")
                note = f"{status.value} of completed {txn}: its outcome again"
            else:
                parms_id = row["N_TRANSACTION_PARMS_ID"]
                awaits, note = await self._resolution(conn, row, inc, now)
        else:  # Cancel
            awaits = AWAIT_CANCEL
            if row is None:
                if await self._memory(conn, zone_id, source_id, txn, inc.request_type) is None:
                    return Recorded(immediate=outbound.unknown(txn, "cancel"), note="unknown transaction")
                note = f"cancel of completed {txn}"
            else:
                parms_id = row["N_TRANSACTION_PARMS_ID"]
                note = await self._cancel(conn, row, now)
        result = await conn.execute(insert(t.request).values(
            SIF_ZONE_ID=zone_id, SIF_SOURCE_ID=source_id, SIF_MSG_ID=msg_id, SLF_TRANSACTION_GUID=txn,
            SLF_REQUEST_TYPE=inc.request_type, ID_STATUS=status.value, AWAITS=awaits,
            N_TRANSACTION_PARMS_ID=parms_id, REQUEST_REF=json.dumps(ref.to_json()), RECEIVED_AT=now,
            ANSWER_FINAL=0))
        req_id = result.inserted_primary_key[0]
        log.info("zone %s: %s %s from %s recorded (request %s): %s", zone_id, status.value, txn, source_id,
                 msg_id, note)
        return Recorded(request_id=req_id, transaction_row=parms_id, created=created, note=note)

    async def _live_row(self, conn: AsyncConnection, txn: str, request_type: str, *, lock: bool = False
                        ) -> dict[str, Any] | None:
        t = self.t
        q = (select(t.parms, t.batch.c.SIF_ZONE_ID, t.batch.c.SIF_SOURCE_ID)
             .join(t.batch, t.batch.c.N_BATCH_ID == t.parms.c.N_BATCH_ID)
             .where(and_(t.parms.c.SLF_TRANSACTION_GUID == txn, t.parms.c.SLF_REQUEST_TYPE == request_type)))
        if lock:
            q = self._lock(q, t.parms)
        r = (await conn.execute(q)).first()
        return None if r is None else dict(r._mapping)

    async def _memory(self, conn: AsyncConnection, zone_id: str, source_id: str, txn: str,
                      request_type: str) -> dict[str, Any] | None:
        """The last final answer given for this transaction (its row may be gone)."""
        t = self.t.request
        r = (await conn.execute(select(t.c.ANSWER, t.c.ANSWER_STATE_ID, t.c.ANSWER_TEXT).where(and_(
            t.c.SIF_ZONE_ID == zone_id, t.c.SIF_SOURCE_ID == source_id, t.c.SLF_TRANSACTION_GUID == txn,
            t.c.SLF_REQUEST_TYPE == request_type, t.c.ANSWER_FINAL == 1))
            .order_by(t.c.ANSWERED_AT.desc(), t.c.N_REQUEST_ID.desc()).limit(1))).first()
        return None if r is None else dict(r._mapping)

    def _batch_num(self, inc: Incoming, now: float) -> str | None:
        b = self.policy.batching
        if b.policy == "batch_num":
            return inc.batch_num
        if b.policy == "day":
            return dt.datetime.fromtimestamp(now, ZoneInfo(b.timezone)).strftime("%Y%m%d")
        return None

    async def _batch(self, conn: AsyncConnection, zone_id: str, source_id: str, inc: Incoming, now: float) -> int:
        """An SLF_BATCH row for the transaction: an existing one with the same key, or a new one.

        The key is (zone, source, BATCH_NUM, SCHOOL_YR, DISTRICT_CODE, SCHOOL_CODE): the batch's
        own values then apply to every transaction in it, as the seed says they do.
        """
        t = self.t.batch
        num = self._batch_num(inc, now)
        values = {k: inc.batch.get(k) for k in ("SCHOOL_YR", "DISTRICT_CODE", "SCHOOL_CODE")}
        if num is not None:
            q = select(t.c.N_BATCH_ID).where(and_(
                t.c.SIF_ZONE_ID == zone_id, t.c.SIF_SOURCE_ID == source_id, t.c.BATCH_NUM == num,
                *[t.c[k].is_not_distinct_from(v) for k, v in values.items()])).order_by(t.c.N_BATCH_ID).limit(1)
            found = (await conn.execute(self._lock(q, t))).scalar()
            if found is not None:
                return found
        ready = self.policy.batching.ready == "immediate"
        result = await conn.execute(insert(t).values(
            SIF_ZONE_ID=zone_id, SIF_SOURCE_ID=source_id, READY=1 if ready else 0, BATCH_NUM=num, CREATED_AT=now,
            READY_AT=now if ready else None, **values))
        return result.inserted_primary_key[0]

    async def _create(self, conn: AsyncConnection, zone_id: str, source_id: str, msg_id: str, inc: Incoming,
                      now: float) -> int:
        first = transition(None, S.REQUEST, Actor.RESOLVER)
        batch_id = await self._batch(conn, zone_id, source_id, inc, now)
        result = await conn.execute(insert(self.t.parms).values(
            N_BATCH_ID=batch_id, SLF_TRANSACTION_GUID=inc.transaction_id, SIF_REFIDTYPE=1,
            **{k: v for k, v in inc.parms.items() if k in self.t.parms.c},
            N_SLF_STATUS=int(first), N_SEEN_STATUS=int(first), SLF_REQUEST_TYPE=inc.request_type, SIF_MSG_ID=msg_id,
            CREATED_AT=now, UPDATED_AT=now))
        return result.inserted_primary_key[0]

    async def _resolution(self, conn: AsyncConnection, row: dict[str, Any], inc: Incoming, now: float
                          ) -> tuple[str, str]:
        """Resolve/New on an existing row: record the district's resolution for the database."""
        st = SlfStatus(row["N_SLF_STATUS"])
        txn, pid = inc.transaction_id, row["N_TRANSACTION_PARMS_ID"]
        if st not in AMBIGUOUS:
            return AWAIT_OUTCOME, f"{inc.id_status.value} while {st}: the current outcome"
        if inc.id_status is IdStatus.RESOLVE:
            pick = (inc.state_province_id or "").strip()
            known = {c for c in (await conn.execute(select(self.t.match.c.STATE_ID).where(
                self.t.match.c.N_TRANSACTION_PARMS_ID == pid))).scalars() if c}
            if pick not in known:
                return AWAIT_OUTCOME, f"Resolve to {pick!r}, not a candidate of {txn}: the candidates again"
            values = {"RESOLVE_ACTION": RESOLVE_MATCH, "RESOLVE_STATE_ID": pick}
        else:
            values = {"RESOLVE_ACTION": RESOLVE_NEW, "RESOLVE_STATE_ID": None}
        await conn.execute(update(self.t.parms).where(self.t.parms.c.N_TRANSACTION_PARMS_ID == pid)
                           .values(UPDATED_AT=now, **values))
        return AWAIT_DECISION, f"district resolution {values['RESOLVE_ACTION']} recorded for the database"

    async def _cancel(self, conn: AsyncConnection, row: dict[str, Any], now: float) -> str:
        """Cancel: 1→12 (not claimed by the database yet), 2/7/8→13 (ask the database)."""
        st = SlfStatus(row["N_SLF_STATUS"])
        if st is S.REQUEST:
            target = S.CANCELLED
        elif st in (S.REQUEST_IN_PROGRESS, S.UNRESOLVED, S.RESOLUTION_IN_PROGRESS):
            target = S.CANCELLED_IN_PROGRESS
        else:
            return f"cancel while {st}: answered when the outcome is known"
        if await self._set_status(conn, row, target, now):
            return f"{st} -> {target}"
        return f"cancel refused at {st}"

    async def _set_status(self, conn: AsyncConnection, row: dict[str, Any], new: SlfStatus, now: float,
                          **values) -> bool:
        """Change N_SLF_STATUS through the table; an illegal change is logged and not applied."""
        pid, old = row["N_TRANSACTION_PARMS_ID"], SlfStatus(row["N_SLF_STATUS"])
        try:
            transition(old, new, Actor.RESOLVER, row=pid)
        except IllegalTransition as exc:
            log.error("%s: refused, not applied", exc)
            return False
        result = await conn.execute(update(self.t.parms).where(and_(
            self.t.parms.c.N_TRANSACTION_PARMS_ID == pid, self.t.parms.c.N_SLF_STATUS == int(old)))
            .values(N_SLF_STATUS=int(new), N_SEEN_STATUS=int(new), UPDATED_AT=now, **values))
        if result.rowcount != 1:  # pragma: no cover - the row is locked (PostgreSQL) or the db is (SQLite)
            log.warning("SLF_TRANSACTION_PARMS %s changed under us; %s -> %s not applied", pid, old, new)
            return False
        log.info("SLF_TRANSACTION_PARMS %s (%s): %s -> %s", pid, row["SLF_TRANSACTION_GUID"], old, new)
        return True

    # ================================================================== answering
    async def claim(self, zones: Iterable[str], limit: int | None = None) -> list[Work]:
        """Claim rows (and orphaned requests) that can be answered now, for this worker's zones."""
        zones = tuple(zones)
        limit = limit or self.policy.batch_size
        now = self.clock()
        token = f"{self.worker_id}:{uuid.uuid4().hex[:12]}"
        until = now + self.policy.claim_lease
        t = self.t
        r, p = t.request, t.parms
        answerable = or_(*[and_(r.c.AWAITS == k, p.c.N_SLF_STATUS.in_(v)) for k, v in ANSWERABLE.items()])
        waiting = exists().where(and_(r.c.N_TRANSACTION_PARMS_ID == p.c.N_TRANSACTION_PARMS_ID,
                                      r.c.ANSWERED_AT.is_(None), answerable))
        free = or_(p.c.CLAIM_UNTIL.is_(None), p.c.CLAIM_UNTIL < now)
        not_refused = or_(p.c.N_REFUSED_STATUS.is_(None), p.c.N_REFUSED_STATUS != p.c.N_SLF_STATUS)
        works: list[Work] = []
        async with self.engine.begin() as conn:
            q = (select(p, t.batch.c.SIF_ZONE_ID, t.batch.c.SIF_SOURCE_ID)
                 .join(t.batch, t.batch.c.N_BATCH_ID == p.c.N_BATCH_ID)
                 .where(and_(t.batch.c.SIF_ZONE_ID.in_(zones), free, not_refused,
                             or_(waiting, p.c.N_SLF_STATUS.not_in([int(s) for s in SlfStatus]))))
                 .order_by(p.c.N_TRANSACTION_PARMS_ID).limit(limit))
            rows = [dict(x._mapping) for x in (await conn.execute(self._claim_lock(q, p))).all()]
            for row in rows:
                if not await self._accept(conn, row, now):
                    continue
                pid = row["N_TRANSACTION_PARMS_ID"]
                await conn.execute(update(p).where(p.c.N_TRANSACTION_PARMS_ID == pid)
                                   .values(CLAIM_TOKEN=token, CLAIM_UNTIL=until))
                work = Work(token, await self._pending(conn, r.c.N_TRANSACTION_PARMS_ID == pid), row=row)
                st = SlfStatus(row["N_SLF_STATUS"])
                final = row.get("N_FINAL_STATUS")
                if st in AMBIGUOUS:
                    work.candidates = [dict(m._mapping) for m in (await conn.execute(
                        select(t.match).where(t.match.c.N_TRANSACTION_PARMS_ID == pid))).all()]
                if st is S.ERROR or final == S.ERROR:
                    work.errors = list((await conn.execute(
                        select(t.error_log.c.ERROR_DSCR).where(t.error_log.c.N_TRANSACTION_PARMS_ID == pid)
                        .order_by(t.error_log.c.N_ERROR_LOG_ID))).scalars())
                works.append(work)
            # requests whose row is gone (completed and deleted, or never existed)
            orphan = and_(r.c.ANSWERED_AT.is_(None), r.c.SIF_ZONE_ID.in_(zones),
                          or_(r.c.CLAIM_UNTIL.is_(None), r.c.CLAIM_UNTIL < now),
                          or_(r.c.N_TRANSACTION_PARMS_ID.is_(None),
                              ~exists().where(p.c.N_TRANSACTION_PARMS_ID == r.c.N_TRANSACTION_PARMS_ID)))
            q = select(r).where(orphan).order_by(r.c.N_REQUEST_ID).limit(limit)
            orphans = [dict(x._mapping) for x in (await conn.execute(self._claim_lock(q, r))).all()]
            if orphans:
                ids = [o["N_REQUEST_ID"] for o in orphans]
                await conn.execute(update(r).where(r.c.N_REQUEST_ID.in_(ids)).values(CLAIM_TOKEN=token,
                                                                                      CLAIM_UNTIL=until))
                work = Work(token, [_pending(o) for o in orphans])
                for o in orphans:
                    work.memory[o["N_REQUEST_ID"]] = await self._memory(
                        conn, o["SIF_ZONE_ID"], o["SIF_SOURCE_ID"], o["SLF_TRANSACTION_GUID"], o["SLF_REQUEST_TYPE"])
                works.append(work)
        return works

    async def _pending(self, conn: AsyncConnection, where) -> list[Pending]:
        r = self.t.request
        rows = (await conn.execute(select(r).where(and_(where, r.c.ANSWERED_AT.is_(None)))
                                   .order_by(r.c.N_REQUEST_ID))).all()
        return [_pending(dict(x._mapping)) for x in rows]

    async def _accept(self, conn: AsyncConnection, row: dict[str, Any], now: float) -> bool:
        """Did the database reach this status legally from the last one the resolver saw?"""
        seen = row.get("N_SEEN_STATUS") or int(S.REQUEST)
        cur = row["N_SLF_STATUS"]
        try:
            ok = seen == cur or reachable(seen, cur, Actor.DATABASE)
        except ValueError:  # a number the seed does not define
            ok = False
        if ok:
            return True
        log.error("SLF_TRANSACTION_PARMS %s (%s): illegal N_SLF_STATUS change %s -> %s by the database; refused "
                  "(not answered) until the database sets a legal status", row["N_TRANSACTION_PARMS_ID"],
                  row["SLF_TRANSACTION_GUID"], _name(seen), _name(cur))
        await conn.execute(update(self.t.parms).where(self.t.parms.c.N_TRANSACTION_PARMS_ID ==
                                                      row["N_TRANSACTION_PARMS_ID"]).values(N_REFUSED_STATUS=cur))
        return False

    async def finish(self, work: Work, answered: Sequence[tuple[int, Answer]]) -> None:
        """Record the answers sent and take the row's next step (7→8, completion), releasing the claim."""
        t = self.t
        now = self.clock()
        async with self.engine.begin() as conn:
            for req_id, ans in answered:
                await conn.execute(update(t.request).where(and_(t.request.c.N_REQUEST_ID == req_id,
                                                                t.request.c.ANSWERED_AT.is_(None)))
                                   .values(ANSWERED_AT=now, ANSWER=ans.id_status, ANSWER_STATE_ID=ans.state_id,
                                           ANSWER_TEXT=(ans.text or None) and ans.text[:255],
                                           ANSWER_FINAL=int(ans.final), CLAIM_TOKEN=None, CLAIM_UNTIL=None))
            if work.row is None:
                await conn.execute(update(t.request).where(t.request.c.CLAIM_TOKEN == work.token)
                                   .values(CLAIM_TOKEN=None, CLAIM_UNTIL=None))
                return
            pid = work.row["N_TRANSACTION_PARMS_ID"]
            row = await self._locked_row(conn, pid)
            if row is None or row["CLAIM_TOKEN"] != work.token:
                log.warning("SLF_TRANSACTION_PARMS %s: claim lost while answering (lease expired?); "
                            "another pass completes it", pid)
                return
            cur = SlfStatus(row["N_SLF_STATUS"])
            release = {"CLAIM_TOKEN": None, "CLAIM_UNTIL": None}
            if cur is not work.status:  # the database moved on while we answered: look again
                await conn.execute(update(t.parms).where(t.parms.c.N_TRANSACTION_PARMS_ID == pid).values(**release))
                self.changed.set()
                return
            if cur is S.UNRESOLVED and any(a.id_status == IdStatus.AMBIGUOUS.value for _, a in answered):
                if await self._set_status(conn, row, S.RESOLUTION_IN_PROGRESS, now, **release):
                    self.new_work.set()  # the database may now apply a district resolution
                    return
            elif cur in DECIDED and any(a.final for _, a in answered):
                if await self._complete(conn, row, cur, now):
                    return
            await conn.execute(update(t.parms).where(t.parms.c.N_TRANSACTION_PARMS_ID == pid)
                               .values(N_SEEN_STATUS=int(cur), **release))

    async def _locked_row(self, conn: AsyncConnection, pid: int) -> dict[str, Any] | None:
        q = self._lock(select(self.t.parms).where(self.t.parms.c.N_TRANSACTION_PARMS_ID == pid), self.t.parms)
        r = (await conn.execute(q)).first()
        return None if r is None else dict(r._mapping)

    async def _complete(self, conn: AsyncConnection, row: dict[str, Any], cur: SlfStatus, now: float) -> bool:
        """The outcome went out: 9 COMPLETE (kept) or deleted with its children and empty batch."""
        t = self.t
        pid, batch_id = row["N_TRANSACTION_PARMS_ID"], row["N_BATCH_ID"]
        if self.policy.on_complete == "keep":
            return await self._set_status(conn, row, S.COMPLETE, now, N_FINAL_STATUS=int(cur), CLAIM_TOKEN=None,
                                          CLAIM_UNTIL=None)
        try:
            transition(cur, S.COMPLETE, Actor.RESOLVER, row=pid)  # deletion stands for 9 COMPLETE
        except IllegalTransition as exc:
            log.error("%s: refused, not applied", exc)
            return False
        await conn.execute(self._lock(select(t.batch.c.N_BATCH_ID).where(t.batch.c.N_BATCH_ID == batch_id), t.batch))
        await conn.execute(delete(t.match).where(t.match.c.N_TRANSACTION_PARMS_ID == pid))
        await conn.execute(delete(t.error_log).where(t.error_log.c.N_TRANSACTION_PARMS_ID == pid))
        await conn.execute(delete(t.parms).where(t.parms.c.N_TRANSACTION_PARMS_ID == pid))
        left = (await conn.execute(select(func.count()).select_from(t.parms)
                                   .where(t.parms.c.N_BATCH_ID == batch_id))).scalar()
        if not left:
            await conn.execute(delete(t.match).where(t.match.c.N_BATCH_ID == batch_id))
            await conn.execute(delete(t.error_log).where(t.error_log.c.N_BATCH_ID == batch_id))
            await conn.execute(delete(t.batch).where(t.batch.c.N_BATCH_ID == batch_id))
        log.info("SLF_TRANSACTION_PARMS %s (%s): %s answered; row deleted%s", pid, row["SLF_TRANSACTION_GUID"], cur,
                 " with its batch" if not left else "")
        return True

    # ================================================================== batches, housekeeping
    async def mark_ready(self, now: float | None = None) -> list[int]:
        """Set READY=1 on deferred batches whose count, age or time of day has come."""
        b = self.policy.batching
        if b.ready != "deferred" or not (b.ready_count or b.ready_after or b.ready_at):
            return []
        now = self.clock() if now is None else now
        t = self.t
        ready: list[int] = []
        async with self.engine.begin() as conn:
            counts = select(t.parms.c.N_BATCH_ID, func.count().label("n")).group_by(t.parms.c.N_BATCH_ID).subquery()
            q = (select(t.batch.c.N_BATCH_ID, t.batch.c.CREATED_AT, func.coalesce(counts.c.n, 0))
                 .outerjoin(counts, counts.c.N_BATCH_ID == t.batch.c.N_BATCH_ID).where(t.batch.c.READY == 0))
            for batch_id, created, n in (await conn.execute(self._lock(q, t.batch))).all():
                if (b.ready_count and n >= b.ready_count) or (b.ready_after and now - created >= b.ready_after) \
                        or (b.ready_at and now >= _next_at(created, b.ready_at, b.timezone)):
                    ready.append(batch_id)
            if ready:
                await conn.execute(update(t.batch).where(t.batch.c.N_BATCH_ID.in_(ready)).values(READY=1, READY_AT=now))
                log.info("SLF_BATCH %s: READY", ", ".join(map(str, ready)))
                self.new_work.set()
        return ready

    async def set_ready(self, batch_ids: Iterable[int]) -> int:
        """READY=1 by hand (an operator, or a database that decides itself)."""
        ids = list(batch_ids)
        async with self.engine.begin() as conn:
            result = await conn.execute(update(self.t.batch).where(and_(
                self.t.batch.c.N_BATCH_ID.in_(ids), self.t.batch.c.READY == 0)).values(READY=1, READY_AT=self.clock()))
        if result.rowcount:
            self.new_work.set()
        return result.rowcount

    async def purge(self, now: float | None = None) -> int:
        """Forget answered requests older than the retention (their outcomes are no longer replayed)."""
        now = self.clock() if now is None else now
        r = self.t.request
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(r).where(and_(r.c.ANSWERED_AT.is_not(None),
                                                             r.c.ANSWERED_AT < now - self.policy.retention)))
        return result.rowcount

    async def release_claims(self) -> int:
        """Free this worker's claims (at start: a crashed run of the same worker held them)."""
        like = f"{self.worker_id}:%"
        async with self.engine.begin() as conn:
            a = await conn.execute(update(self.t.parms).where(self.t.parms.c.CLAIM_TOKEN.like(like))
                                   .values(CLAIM_TOKEN=None, CLAIM_UNTIL=None))
            b = await conn.execute(update(self.t.request).where(self.t.request.c.CLAIM_TOKEN.like(like))
                                   .values(CLAIM_TOKEN=None, CLAIM_UNTIL=None))
        return a.rowcount + b.rowcount

    # ================================================================== reading
    async def rows(self, status: int | None = None) -> list[dict[str, Any]]:
        """SLF_TRANSACTION_PARMS rows with their batch's zone, source and READY, oldest first."""
        t = self.t
        q = (select(t.parms, t.batch.c.SIF_ZONE_ID, t.batch.c.SIF_SOURCE_ID, t.batch.c.READY, t.batch.c.BATCH_NUM)
             .join(t.batch, t.batch.c.N_BATCH_ID == t.parms.c.N_BATCH_ID).order_by(t.parms.c.N_TRANSACTION_PARMS_ID))
        if status is not None:
            q = q.where(t.parms.c.N_SLF_STATUS == int(status))
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def row(self, transaction_id: str, request_type: str = "Request") -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            return await self._live_row(conn, transaction_id, request_type)

    async def batches(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(
                select(self.t.batch).order_by(self.t.batch.c.N_BATCH_ID))).all()]

    async def requests(self, transaction_id: str | None = None, *, pending: bool | None = None
                       ) -> list[dict[str, Any]]:
        r = self.t.request
        q = select(r).order_by(r.c.N_REQUEST_ID)
        if transaction_id is not None:
            q = q.where(r.c.SLF_TRANSACTION_GUID == transaction_id)
        if pending is not None:
            q = q.where(r.c.ANSWERED_AT.is_(None) if pending else r.c.ANSWERED_AT.is_not(None))
        async with self.engine.connect() as conn:
            return [dict(x._mapping) for x in (await conn.execute(q)).all()]


def _pending(row: dict[str, Any]) -> Pending:
    return Pending(id=row["N_REQUEST_ID"], ref=RequestRef.from_json(json.loads(row["REQUEST_REF"])),
                   id_status=row["ID_STATUS"], awaits=row["AWAITS"], transaction_id=row["SLF_TRANSACTION_GUID"],
                   request_type=row["SLF_REQUEST_TYPE"])


def _name(value: int) -> str:
    try:
        return str(SlfStatus(value))
    except ValueError:
        return str(value)


def _next_at(created: float, at: dt.time, tz: str) -> float:
    """The first ``at`` (time of day in ``tz``) after ``created``, in epoch seconds."""
    zone = ZoneInfo(tz)
    c = dt.datetime.fromtimestamp(created, zone)
    target = c.replace(hour=at.hour, minute=at.minute, second=at.second, microsecond=0)
    if target <= c:
        target += dt.timedelta(days=1)
    return target.timestamp()
