"""The Student Locator's own SLF database: transactions, receipts and the e-mail log.

Three tables (SQLAlchemy Core, portable between SQLite and PostgreSQL):

* ``locator_transactions``: one row per TransactionId: who (zone, district/school IRN,
  StudentPersonal RefId, LocalId), the collected StudentLocator inputs (JSON), the state of
  ``transactions.TxnState``, the current request (its IdStatus and SIF_MsgId), the attempt
  counter and when it is next due, the outcome (state ID, candidates, error text).
* ``locator_receipts``: every step applied to a transaction (requests, responses, write-backs,
  faults, console actions) with the trigger, states before/after, the message id and a summary.
* ``locator_emails``: every e-mail sent (or attempted) about a transaction.

``apply_trigger`` is the only writer of ``state``: it enforces ``transactions.TRANSITIONS``
inside one database transaction (the row is locked ``FOR UPDATE`` on PostgreSQL; on SQLite one
process serialises through a lock) and records a receipt in the same commit.

Idempotency: a trigger given with a ``msg_id`` is applied once per (transaction, receipt kind,
msg_id) (a unique constraint backs the check, so a concurrent redelivery on PostgreSQL is also
caught); the second application returns ``Applied(applied=False)`` and changes nothing. A
response whose ``in_reply_to`` is an earlier request of another IdStatus than the current
one is stale, and an answer the transaction can no longer take (final, matched) is late: both
recorded, not applied (see ``transactions.py``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
    and_, event, insert, select, update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dburl import async_url
from messages import Error, SIFError
from messages.objects import StudentLocator, is_transaction_id, new_transaction_id

from .transactions import (
    AWAITING, DEFAULT_POLICY, REQUEST_KIND, RESPONSES, SENDS, TRANSITIONS, Candidate, IllegalTransition, Policy, Trigger,
    TxnState, classify, plan,
)

log = logging.getLogger(__name__)

metadata = MetaData()

transactions_t = Table(
    "locator_transactions", metadata,
    Column("transaction_id", String(32), primary_key=True),
    Column("zone_id", String(64), nullable=False),
    Column("district_irn", String(32), nullable=True),
    Column("school_irn", String(32), nullable=True),
    Column("student_ref", String(64), nullable=False),
    Column("local_id", String(64), nullable=True),
    Column("state", String(16), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("request_kind", String(16), nullable=True),  # IdStatus of the current request
    Column("request_msg_id", String(64), nullable=True),
    Column("picked_state_id", String(64), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=True),
    Column("state_id", String(64), nullable=True),
    Column("candidates", JSON, nullable=True),
    Column("error_text", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_locator_txn_student", "zone_id", "student_ref", "created_at"),
    Index("ix_locator_txn_due", "next_attempt_at"),
    Index("ix_locator_txn_request", "request_msg_id"),
    Index("ix_locator_txn_state", "state"),
    Index("ix_locator_txn_district", "district_irn"),
)

receipts_t = Table(
    "locator_receipts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", String(32), ForeignKey("locator_transactions.transaction_id"), nullable=False,
           index=True),
    Column("at", Float, nullable=False),
    Column("kind", String(16), nullable=False),  # created | request | response | writeback | fault | cancel
    Column("trigger", String(24), nullable=True),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=True),
    Column("msg_id", String(64), nullable=True),
    Column("request_kind", String(16), nullable=True),  # a request's IdStatus
    Column("summary", Text, nullable=True),
    UniqueConstraint("transaction_id", "kind", "msg_id", name="uq_locator_receipt_msg"),
    Index("ix_locator_receipt_msg", "msg_id"),
)

emails_t = Table(
    "locator_emails", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", String(32), ForeignKey("locator_transactions.transaction_id"), nullable=False,
           index=True),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),  # e.g. ambiguous | error | fault
    Column("recipients", JSON, nullable=False),
    Column("message_id", String(255), nullable=True),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=True),
)


class UnknownTransaction(KeyError):
    def __str__(self) -> str:
        return f"no transaction {self.args[0]!r}"


def receipt_kind(trigger: Trigger) -> str:
    if trigger in SENDS:
        return "request"
    if trigger in RESPONSES:
        return "response"
    return {Trigger.WROTE_BACK: "writeback", Trigger.FAILED_TECHNICALLY: "fault",
            Trigger.CANCEL: "cancel"}[trigger]


#: what ``due`` asks the caller to do, by state
DUE_ACTIONS: Mapping[TxnState, str] = {
    TxnState.NEW: "send",  # send the Request (then SEND)
    TxnState.FAULT: "retry",  # re-send request_kind (then RETRY)
    TxnState.AMBIGUOUS: "follow_up",  # Request with the same TransactionId (then FOLLOW_UP)
    TxnState.MATCHED: "write_back",  # StudentPersonal Change (then WROTE_BACK)
    TxnState.SENT: "timed_out",  # no answer in time (then FAILED_TECHNICALLY)
    TxnState.RESOLVE_SENT: "timed_out",
    TxnState.NEW_SENT: "timed_out",
}


@dataclass(frozen=True)
class Txn:
    transaction_id: str
    zone_id: str
    district_irn: str | None
    school_irn: str | None
    student_ref: str
    local_id: str | None
    state: TxnState
    inputs: dict[str, Any]
    request_kind: str | None
    request_msg_id: str | None
    picked_state_id: str | None
    attempts: int
    next_attempt_at: float | None
    state_id: str | None
    candidates: tuple[Candidate, ...]
    error_text: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, r) -> "Txn":
        m = r._mapping
        return cls(**{**{k: m[k] for k in cls.__dataclass_fields__},
                      "state": TxnState(m["state"]), "inputs": dict(m["inputs"] or {}),
                      "candidates": tuple(Candidate.from_json(c) for c in (m["candidates"] or ()))})


@dataclass(frozen=True)
class Receipt:
    id: int
    transaction_id: str
    at: float
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    msg_id: str | None
    request_kind: str | None
    summary: str | None


@dataclass(frozen=True)
class Email:
    id: int
    transaction_id: str
    at: float
    kind: str
    recipients: tuple[str, ...]
    message_id: str | None
    ok: bool
    error: str | None


@dataclass(frozen=True)
class Applied:
    txn: Txn
    applied: bool  # False: duplicate (already applied) or stale (answers an older request)
    reason: str = ""


@dataclass(frozen=True)
class Due:
    action: str  # see DUE_ACTIONS
    txn: Txn


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _json_candidates(candidates: Iterable[Candidate | Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in candidates:
        c = c if isinstance(c, Candidate) else Candidate.from_json(c)
        out.append(c.to_json())
    return out


class LocatorStore:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time,
                 id_factory: Callable[[], str] = new_transaction_id, policy: Policy = DEFAULT_POLICY,
                 rand: Callable[[], float] = random.random) -> None:
        self.engine = engine
        self.clock = clock
        self.id_factory = id_factory
        self.policy = policy
        self.rand = rand
        # SQLite has no row locks: one writer at a time in this process
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str, **kw) -> "LocatorStore":
        engine = create_async_engine(async_url(url))
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine, **kw)

    async def create_schema(self) -> None:
        """Create the tables on first start (the file too, for SQLite)."""
        if self.engine.dialect.name == "sqlite":
            db = self.engine.url.database
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    # ------------------------------------------------------------------ writing
    async def create(self, zone_id: str, student_ref: str, inputs: Mapping[str, Any], *,
                     district_irn: str | None = None, school_irn: str | None = None,
                     local_id: str | None = None, summary: str | None = None) -> Txn:
        """A NEW transaction with a fresh TransactionId, due now (to be sent)."""
        txn_id = self.id_factory()
        if not is_transaction_id(txn_id):
            raise ValueError(f"id factory gave {txn_id!r}, not 32 uppercase hex digits")
        now = self.clock()
        async with self.engine.begin() as conn:
            await conn.execute(insert(transactions_t).values(
                transaction_id=txn_id, zone_id=zone_id, district_irn=district_irn, school_irn=school_irn,
                student_ref=student_ref, local_id=local_id, state=TxnState.NEW.value, inputs=dict(inputs),
                attempts=0, next_attempt_at=now, candidates=[], created_at=now, updated_at=now))
            await conn.execute(insert(receipts_t).values(
                transaction_id=txn_id, at=now, kind="created", to_state=TxnState.NEW.value,
                summary=summary or "transaction created"))
            return await self._get(conn, txn_id)

    async def apply_trigger(self, txn_id: str, trigger: Trigger, *, msg_id: str | None = None,
                            in_reply_to: str | None = None, state_id: str | None = None,
                            candidates: Sequence[Candidate | Mapping[str, Any]] | None = None,
                            error_text: str | None = None, pick: str | None = None,
                            summary: str | None = None) -> Applied:
        """Apply ``trigger`` to the transaction (atomic, with a receipt); see the module doc.

        Payload by trigger: GOT_VALID ``state_id``; GOT_AMBIGUOUS ``candidates``; GOT_ERROR and
        FAILED_TECHNICALLY ``error_text``; RESOLVE ``pick`` (one of the stored candidates'
        state IDs); sends ``msg_id`` (the request's SIF_MsgId); responses ``msg_id`` (the
        response's SIF_MsgId) and ``in_reply_to`` (its SIF_RequestMsgId).
        Raises ``UnknownTransaction``, ``IllegalTransition`` or ``ValueError`` (bad payload);
        nothing is written then.
        """
        if self._lock is None:
            return await self._apply_guarded(txn_id, trigger, msg_id, in_reply_to, state_id, candidates,
                                             error_text, pick, summary)
        async with self._lock:
            return await self._apply_guarded(txn_id, trigger, msg_id, in_reply_to, state_id, candidates,
                                             error_text, pick, summary)

    async def _apply_guarded(self, txn_id, trigger, *args) -> Applied:
        try:
            async with self.engine.begin() as conn:
                return await self._apply(conn, txn_id, trigger, *args)
        except IntegrityError:
            # a concurrent worker recorded the same msg_id first: that is a duplicate
            txn = await self.get(txn_id)
            if txn is None or args[0] is None:
                raise
            return Applied(txn, False, "duplicate (applied concurrently)")

    async def _apply(self, conn: AsyncConnection, txn_id: str, trigger: Trigger, msg_id, in_reply_to, state_id,
                     candidates, error_text, pick, summary) -> Applied:
        row = (await conn.execute(select(transactions_t).where(transactions_t.c.transaction_id == txn_id)
                                  .with_for_update())).first()
        if row is None:
            raise UnknownTransaction(txn_id)
        txn = Txn.from_row(row)
        kind = receipt_kind(trigger)
        now = self.clock()
        if msg_id is not None:
            seen = (await conn.execute(select(receipts_t.c.id).where(and_(
                receipts_t.c.transaction_id == txn_id, receipts_t.c.kind == kind,
                receipts_t.c.msg_id == msg_id)))).first()
            if seen is not None:
                return Applied(txn, False, f"duplicate: {kind} {msg_id} already applied")
        is_answer = trigger in RESPONSES or trigger is Trigger.FAILED_TECHNICALLY
        reason = None
        if is_answer and in_reply_to is not None and in_reply_to != txn.request_msg_id:
            asked = (await conn.execute(select(receipts_t.c.request_kind).where(and_(
                receipts_t.c.transaction_id == txn_id, receipts_t.c.kind == "request",
                receipts_t.c.msg_id == in_reply_to)))).scalar()
            if trigger is Trigger.FAILED_TECHNICALLY or asked is None or asked != txn.request_kind:
                reason = (f"stale: answers request {in_reply_to}, the current request is "
                          f"{txn.request_msg_id or 'none'}")
        if reason is None and trigger in RESPONSES and (txn.state, trigger) not in TRANSITIONS:
            reason = f"late: the transaction is {txn.state.value} and takes no {trigger.value} any more"
        if reason is not None:
            await conn.execute(insert(receipts_t).values(
                transaction_id=txn_id, at=now, kind=kind, trigger=trigger.value, from_state=txn.state.value,
                to_state=txn.state.value, msg_id=msg_id, summary=f"{reason} ({summary or trigger.value})"))
            log.info("transaction %s: %s %s", txn_id, trigger.value, reason)
            return Applied(txn, False, reason)
        try:
            step = plan(txn.state, trigger, txn.attempts, now, txn.next_attempt_at, self.policy, self.rand)
        except IllegalTransition as exc:
            raise IllegalTransition(exc.state, exc.trigger, txn_id) from None
        values: dict[str, Any] = dict(state=step.state.value, attempts=step.attempts,
                                      next_attempt_at=step.next_attempt_at, updated_at=now)
        if trigger in SENDS or (trigger is Trigger.CANCEL and msg_id is not None):
            # a console CANCEL with a msg_id means an IdStatus Cancel went to the state
            if msg_id is not None:
                values["request_msg_id"] = msg_id
            if trigger in REQUEST_KIND:  # RETRY keeps the kind that failed
                values["request_kind"] = REQUEST_KIND[trigger].value
        if trigger is Trigger.GOT_VALID:
            if not state_id:
                raise ValueError("GOT_VALID needs the state_id")
            values.update(state_id=state_id, error_text=None)
        elif trigger is Trigger.GOT_AMBIGUOUS:
            values.update(candidates=_json_candidates(candidates or ()), error_text=None)
        elif trigger in (Trigger.GOT_ERROR, Trigger.FAILED_TECHNICALLY):
            values["error_text"] = error_text or trigger.value
        elif trigger is Trigger.RESOLVE:
            known = [c.state_id for c in txn.candidates]
            if pick not in known:
                raise ValueError(f"cannot resolve {txn_id} to {pick!r}: not one of its candidates "
                                 f"({', '.join(known) or 'none'})")
            values["picked_state_id"] = pick
        elif trigger is Trigger.ASK_NEW:
            values["picked_state_id"] = None
        await conn.execute(update(transactions_t).where(transactions_t.c.transaction_id == txn_id).values(**values))
        await conn.execute(insert(receipts_t).values(
            transaction_id=txn_id, at=now, kind=kind, trigger=trigger.value, from_state=txn.state.value,
            to_state=step.state.value, msg_id=msg_id, summary=summary or _summary(trigger, values),
            request_kind=values.get("request_kind", txn.request_kind) if kind == "request" else None))
        log.info("transaction %s: %s -> %s (%s)", txn_id, txn.state.value, step.state.value, trigger.value)
        return Applied(await self._get(conn, txn_id), True)

    async def apply_response(self, txn_id: str, response: Sequence[StudentLocator] | Error | SIFError, *,
                             msg_id: str | None, in_reply_to: str | None = None) -> Applied:
        """Classify a StudentLocator SIF_Response (objects or SIF_Error) and apply it."""
        outcome = classify(response, txn_id)
        return await self.apply_trigger(txn_id, outcome.trigger, msg_id=msg_id, in_reply_to=in_reply_to,
                                        summary=outcome.summary, **outcome.payload())

    async def note_request(self, txn_id: str, id_status: str, msg_id: str) -> Txn:
        """Record a request that changes no state (IdStatus Cancel after a console cancel), so that
        its answer is the transaction's current one."""
        now = self.clock()
        async with self.engine.begin() as conn:
            txn = await self._get(conn, txn_id)
            await conn.execute(update(transactions_t).where(transactions_t.c.transaction_id == txn_id)
                               .values(request_kind=id_status, request_msg_id=msg_id, updated_at=now))
            await conn.execute(insert(receipts_t).values(
                transaction_id=txn_id, at=now, kind="request", from_state=txn.state.value, to_state=txn.state.value,
                msg_id=msg_id, request_kind=id_status, summary=f"{id_status} sent ({msg_id})"))
            return await self._get(conn, txn_id)

    async def reschedule(self, txn_id: str, at: float | None = None) -> Txn:
        """Make a non-final transaction due at ``at`` (default: now), e.g. console ``retry``."""
        at = self.clock() if at is None else at
        async with self.engine.begin() as conn:
            txn = await self._get(conn, txn_id)
            if txn.state not in DUE_ACTIONS:
                raise IllegalTransition(txn.state, Trigger.RETRY, txn_id)
            await conn.execute(update(transactions_t).where(transactions_t.c.transaction_id == txn_id)
                               .values(next_attempt_at=at, updated_at=self.clock()))
            return await self._get(conn, txn_id)

    async def record_email(self, txn_id: str, kind: str, recipients: Sequence[str], *,
                           message_id: str | None = None, ok: bool = True, error: str | None = None) -> Email:
        async with self.engine.begin() as conn:
            await self._get(conn, txn_id)
            result = await conn.execute(insert(emails_t).values(
                transaction_id=txn_id, at=self.clock(), kind=kind, recipients=list(recipients),
                message_id=message_id, ok=ok, error=error).returning(emails_t))
            return _email(result.one())

    # ------------------------------------------------------------------ reading
    async def _get(self, conn: AsyncConnection, txn_id: str) -> Txn:
        row = (await conn.execute(select(transactions_t).where(transactions_t.c.transaction_id == txn_id))).first()
        if row is None:
            raise UnknownTransaction(txn_id)
        return Txn.from_row(row)

    async def get(self, txn_id: str) -> Txn | None:
        async with self.engine.connect() as conn:
            try:
                return await self._get(conn, txn_id)
            except UnknownTransaction:
                return None

    async def list(self, status: TxnState | str | None = None, district: str | None = None,
                   zone: str | None = None) -> list[Txn]:
        """Transactions, oldest first, optionally by state, district IRN and zone."""
        q = select(transactions_t).order_by(transactions_t.c.created_at, transactions_t.c.transaction_id)
        if status is not None:
            q = q.where(transactions_t.c.state == TxnState(status).value)
        if district is not None:
            q = q.where(transactions_t.c.district_irn == district)
        if zone is not None:
            q = q.where(transactions_t.c.zone_id == zone)
        async with self.engine.connect() as conn:
            return [Txn.from_row(r) for r in (await conn.execute(q)).all()]

    async def due(self, now: float | None = None, limit: int | None = None) -> list[Due]:
        """Transactions whose next step is due by ``now``, soonest first, with what to do."""
        now = self.clock() if now is None else now
        q = (select(transactions_t)
             .where(and_(transactions_t.c.next_attempt_at.is_not(None), transactions_t.c.next_attempt_at <= now,
                         transactions_t.c.state.in_([s.value for s in DUE_ACTIONS])))
             .order_by(transactions_t.c.next_attempt_at, transactions_t.c.transaction_id))
        if limit is not None:
            q = q.limit(limit)
        async with self.engine.connect() as conn:
            txns = [Txn.from_row(r) for r in (await conn.execute(q)).all()]
        return [Due(DUE_ACTIONS[t.state], t) for t in txns]

    async def for_request(self, msg_id: str) -> Txn | None:
        """The transaction that sent the SIF_Request ``msg_id`` (its current or an earlier one)."""
        async with self.engine.connect() as conn:
            txn_id = (await conn.execute(select(transactions_t.c.transaction_id)
                                         .where(transactions_t.c.request_msg_id == msg_id))).scalar()
            if txn_id is None:
                txn_id = (await conn.execute(select(receipts_t.c.transaction_id).where(and_(
                    receipts_t.c.msg_id == msg_id, receipts_t.c.kind == "request")).limit(1))).scalar()
            return None if txn_id is None else await self._get(conn, txn_id)

    async def latest_for_student(self, zone_id: str, student_ref: str) -> Txn | None:
        q = (select(transactions_t)
             .where(and_(transactions_t.c.zone_id == zone_id, transactions_t.c.student_ref == student_ref))
             .order_by(transactions_t.c.created_at.desc(), transactions_t.c.updated_at.desc()).limit(1))
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        return None if row is None else Txn.from_row(row)

    async def receipts(self, txn_id: str) -> list[Receipt]:
        q = select(receipts_t).where(receipts_t.c.transaction_id == txn_id).order_by(receipts_t.c.id)
        async with self.engine.connect() as conn:
            return [Receipt(**r._mapping) for r in (await conn.execute(q)).all()]

    async def emails(self, txn_id: str) -> list[Email]:
        q = select(emails_t).where(emails_t.c.transaction_id == txn_id).order_by(emails_t.c.id)
        async with self.engine.connect() as conn:
            return [_email(r) for r in (await conn.execute(q)).all()]


def _email(r) -> Email:
    m = dict(r._mapping)
    m["recipients"] = tuple(m["recipients"] or ())
    m["ok"] = bool(m["ok"])
    return Email(**m)


def _summary(trigger: Trigger, values: Mapping[str, Any]) -> str:
    if trigger is Trigger.GOT_VALID:
        return f"valid: {values['state_id']}"
    if trigger is Trigger.GOT_AMBIGUOUS:
        return f"ambiguous: {len(values['candidates'])} candidate(s)"
    if trigger is Trigger.RESOLVE:
        return f"resolve sent: {values['picked_state_id']}"
    if "error_text" in values and values["error_text"]:
        return f"{trigger.value}: {values['error_text']}"
    return trigger.value


__all__ = ["AWAITING", "Applied", "DUE_ACTIONS", "Due", "Email", "LocatorStore", "Receipt", "Txn",
           "UnknownTransaction", "emails_t", "metadata", "receipts_t", "transactions_t"]
