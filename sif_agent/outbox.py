"""A durable outbox: outgoing messages with their SIF_MsgId fixed before the first send.

Every event, request and response is written here (bytes and SIF_MsgId) before it
goes to the zone, and marked delivered when the zone acknowledges it. After a crash
or a transport failure the same bytes are sent again; a zone that already has the
message answers status 7, which counts as delivered, so a retry is harmless.

A ``key`` groups messages produced for one purpose (e.g. all SIF_Response packets for
one request): ``put`` with a key that is already there stores nothing new, so
re-running a handler after a crash never yields a second set of packets.

The same database holds the packets of multi-packet SIF_Responses that nobody in this
process waits for (e.g. answers that arrive after a restart): each packet is stored
before it is acknowledged, and the answer is handed on once every packet is in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from sqlalchemy import (
    Boolean, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, and_, delete, event, insert,
    select, update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dburl import async_url
from messages import Message, Response, SIFError, build, parse
from messages.codes import AccessCode, ErrorCategory

from .requests import complete
from .session import ZoneSession

log = logging.getLogger(__name__)

PENDING, DELIVERED, REFUSED = "pending", "delivered", "refused"

metadata = MetaData()
outbox = Table(
    "agent_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zone_id", String(64), nullable=False, index=True),
    Column("msg_id", String(32), nullable=False, unique=True),
    Column("kind", String(64), nullable=False),
    Column("key", String(200), nullable=True, index=True),
    Column("body", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False, default=PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("error", Text, nullable=True),
)

packets = Table(
    "agent_response_packets", metadata,
    Column("request_msg_id", String(32), primary_key=True),
    Column("packet_number", Integer, primary_key=True, autoincrement=False),
    Column("zone_id", String(64), nullable=False),
    Column("more", Boolean, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)


def is_not_registered(exc: SIFError) -> bool:
    """4/9: the zone does not know our SIF_SourceId (never registered, or removed)."""
    return (exc.category, exc.code) == (ErrorCategory.ACCESS, AccessCode.SOURCE_NOT_REGISTERED)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


@dataclass(frozen=True)
class Entry:
    id: int
    zone_id: str
    msg_id: str
    kind: str
    key: str | None
    body: bytes
    state: str
    attempts: int
    error: str | None


class Outbox:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}  # one sender per zone: order is kept
        self.refusals: dict[str, SIFError] = {}  # msg_id → the zone's error, for this process's callers

    @classmethod
    def from_url(cls, url: str, **kw) -> "Outbox":
        engine = create_async_engine(async_url(url))
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine, **kw)

    async def create(self) -> None:
        """Create the table on first start (the file too, for SQLite)."""
        if self.engine.dialect.name == "sqlite":
            db = self.engine.url.database
            if db and db != ":memory:":
                from pathlib import Path

                Path(db).parent.mkdir(parents=True, exist_ok=True)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    # ------------------------------------------------------------------ writing
    async def put(self, zone_id: str, messages: Iterable[Message], key: str | None = None) -> list[str]:
        """Store messages (one transaction) and return their SIF_MsgIds, in order.

        With a key that is already stored, nothing is added and the stored ids are returned.
        """
        async with self.engine.begin() as conn:
            if key is not None:
                rows = (await conn.execute(select(outbox.c.msg_id).where(outbox.c.key == key)
                                           .order_by(outbox.c.id))).all()
                if rows:
                    return [r.msg_id for r in rows]
            ids = []
            for m in messages:
                await conn.execute(insert(outbox).values(
                    zone_id=zone_id, msg_id=m.msg_id, kind=m.kind[:64], key=key, body=build(m),
                    state=PENDING, attempts=0, created_at=self.clock()))
                ids.append(m.msg_id)
            return ids

    async def has_key(self, key: str) -> bool:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(outbox.c.id).where(outbox.c.key == key).limit(1))).first() is not None

    # ------------------------------------------------------------------ reading
    async def entries(self, zone_id: str | None = None, state: str | None = None) -> list[Entry]:
        q = select(outbox).order_by(outbox.c.id)
        if zone_id is not None:
            q = q.where(outbox.c.zone_id == zone_id)
        if state is not None:
            q = q.where(outbox.c.state == state)
        async with self.engine.connect() as conn:
            return [Entry(id=r.id, zone_id=r.zone_id, msg_id=r.msg_id, kind=r.kind, key=r.key, body=r.body,
                          state=r.state, attempts=r.attempts, error=r.error)
                    for r in (await conn.execute(q)).all()]

    async def get(self, msg_id: str) -> Entry | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(outbox).where(outbox.c.msg_id == msg_id))).first()
        return None if r is None else Entry(id=r.id, zone_id=r.zone_id, msg_id=r.msg_id, kind=r.kind, key=r.key,
                                            body=r.body, state=r.state, attempts=r.attempts, error=r.error)

    async def request_object(self, msg_id: str) -> str | None:
        """The object name of a SIF_Request we sent (from its stored kind), if it is still stored."""
        async with self.engine.connect() as conn:
            kind = (await conn.execute(select(outbox.c.kind).where(outbox.c.msg_id == msg_id))).scalar()
        parts = (kind or "").split()
        return parts[1] if len(parts) == 2 and parts[0] == "SIF_Request" else None

    # ------------------------------------------------------------------ response packets
    async def hold_packet(self, zone_id: str, packet: Response) -> tuple[Response, ...] | None:
        """Store one SIF_Response packet (a redelivered one is not stored twice); return every
        packet of that response, in order, once all are in, else None."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(packets).values(
                    request_msg_id=packet.request_msg_id, packet_number=packet.packet_number, zone_id=zone_id,
                    more=packet.more_packets, body=build(packet), created_at=self.clock()))
        except IntegrityError:
            pass  # redelivered: already held
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(packets.c.packet_number, packets.c.body)
                                       .where(packets.c.request_msg_id == packet.request_msg_id))).all()
        return complete({r.packet_number: parse(r.body) for r in rows})

    async def release_packets(self, request_msg_id: str) -> None:
        """Forget a response's held packets once its handler has finished with them."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(packets).where(packets.c.request_msg_id == request_msg_id))

    async def purge(self, before: float) -> int:
        """Delete delivered messages stored before ``before`` (epoch seconds); refused ones stay."""
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(outbox).where(and_(outbox.c.state == DELIVERED,
                                                                  outbox.c.created_at < before)))
            return result.rowcount

    async def _mark(self, entry_id: int, **values) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.id == entry_id).values(**values))

    # ------------------------------------------------------------------ delivery
    async def deliver(self, session: ZoneSession) -> int:
        """Send every pending message of the session's zone, oldest first; return how many went.

        Status 0 or 7 → delivered. An error ack → refused (kept with its error, never re-sent:
        the same bytes would be refused again), except 4/9 "not registered", which propagates
        like a TransportError and leaves the message pending for the next call.
        """
        async with self._locks.setdefault(session.zone.id, asyncio.Lock()):
            return await self._deliver(session)

    async def _deliver(self, session: ZoneSession) -> int:
        sent = 0
        for e in await self.entries(session.zone.id, PENDING):
            await self._mark(e.id, attempts=e.attempts + 1)
            try:
                ack = await session.exchange(e.body, e.msg_id)
            except SIFError as exc:
                if is_not_registered(exc):
                    raise  # the zone forgot us, not the message's fault: keep it for after registering
                log.warning("zone %s refused %s %s: %s", e.zone_id, e.kind, e.msg_id, exc)
                self.refusals[e.msg_id] = exc
                await self._mark(e.id, state=REFUSED, error=str(exc)[:2000])
                continue
            log.info("zone %s: %s %s delivered (status %s)", e.zone_id, e.kind, e.msg_id, ack.status.code)
            await self._mark(e.id, state=DELIVERED)
            sent += 1
        return sent
