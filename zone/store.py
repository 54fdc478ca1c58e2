"""Durable zone state through SQLAlchemy (SQLite by default, PostgreSQL to scale out).

Everything a zone must not forget lives here: registered agents, providers,
subscriptions, per-agent queues, SIF_MsgIds already seen, pending requests and
the message log. A queued message is deleted only when its receiver acknowledges
it, inside the same transaction that records the acknowledgement.
"""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

from sqlalchemy import (
    Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text,
    UniqueConstraint, and_, delete, event, func, insert, select, update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

metadata = MetaData()

agents = Table(
    "zis_agents", metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("source_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("versions", Text, nullable=False),  # JSON list as registered
    Column("version", String(16), nullable=False),  # negotiated
    Column("max_buffer_size", Integer, nullable=False),
    Column("push_url", Text),
    Column("sleeping", Boolean, nullable=False, default=False),
    Column("smb_msg_id", String(32)),  # event held by Selective Message Blocking
    Column("rights", Text, nullable=False),  # JSON of zone.acl.Rights
    Column("registered_at", Float, nullable=False),
)

provides = Table(
    "zis_provides", metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("object_name", String(64), primary_key=True),
    Column("context", String(64), primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("extended_query", Boolean, nullable=False, default=False),
)

subscriptions = Table(
    "zis_subscriptions", metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("object_name", String(64), primary_key=True),
    Column("context", String(64), primary_key=True),
    Column("source_id", String(64), primary_key=True),
)

queue = Table(
    "zis_queue", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zone_id", String(64), nullable=False),
    Column("receiver", String(64), nullable=False),
    Column("msg_id", String(32), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # event | request | response
    Column("object_name", String(64), nullable=False, default=""),
    Column("body", LargeBinary, nullable=False),
    Column("deliveries", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("zone_id", "receiver", "msg_id", name="uq_queue_receiver_msg"),
    Index("ix_queue_head", "zone_id", "receiver", "id"),
)

seen = Table(
    "zis_seen", metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("source_id", String(64), primary_key=True),
    Column("msg_id", String(32), primary_key=True),
    Column("at", Float, nullable=False),
)

requests = Table(
    "zis_requests", metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("msg_id", String(32), primary_key=True),
    Column("requester", String(64), nullable=False),
    Column("responder", String(64), nullable=False),
    Column("object_name", String(64), nullable=False),
    Column("versions", Text, nullable=False),
    Column("max_buffer_size", Integer, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("next_packet", Integer, nullable=False, default=1),
    Column("state", String(16), nullable=False, default="pending"),  # pending|done|cancelled|expired
    Index("ix_requests_deadline", "state", "deadline"),
)

log = Table(
    "zis_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zone_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("sender", String(64), nullable=False, default=""),
    Column("receiver", String(64), nullable=False, default=""),
    Column("kind", String(64), nullable=False, default=""),
    Column("object_name", String(64), nullable=False, default=""),
    Column("msg_id", String(40), nullable=False, default=""),
    Column("ack", String(64), nullable=False, default=""),
    Column("findings", Text, nullable=False, default="[]"),
    Column("size", Integer, nullable=False, default=0),
    Index("ix_log_zone", "zone_id", "id"),
)


@dataclass(frozen=True)
class AgentRow:
    zone_id: str
    source_id: str
    name: str
    mode: str
    versions: tuple[str, ...]
    version: str
    max_buffer_size: int
    push_url: str | None
    sleeping: bool
    smb_msg_id: str | None
    rights: dict
    registered_at: float

    @classmethod
    def of(cls, row) -> "AgentRow":
        m = row._mapping
        return cls(
            zone_id=m["zone_id"], source_id=m["source_id"], name=m["name"], mode=m["mode"],
            versions=tuple(json.loads(m["versions"])), version=m["version"],
            max_buffer_size=m["max_buffer_size"], push_url=m["push_url"], sleeping=bool(m["sleeping"]),
            smb_msg_id=m["smb_msg_id"], rights=json.loads(m["rights"]), registered_at=m["registered_at"],
        )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Store:
    """The zone database. One transaction per handled message (``async with store.tx()``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        if self.is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            # SQLite has one writer: serialise our own transactions instead of hitting SQLITE_BUSY.
            import asyncio

            self._write_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self._write_lock = None

    @classmethod
    def from_url(cls, url: str, **kw) -> "Store":
        if url.startswith("sqlite"):
            from pathlib import Path

            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kw)
        return cls(engine)

    async def create(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is not None:
            async with self._write_lock:
                async with self.engine.begin() as conn:
                    yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    # ------------------------------------------------------------------ agents
    @staticmethod
    async def agent(conn: AsyncConnection, zone_id: str, source_id: str, *, lock: bool = False) -> AgentRow | None:
        stmt = select(agents).where(and_(agents.c.zone_id == zone_id, agents.c.source_id == source_id))
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        return AgentRow.of(row) if row else None

    @staticmethod
    async def agents_in(conn: AsyncConnection, zone_id: str) -> list[AgentRow]:
        rows = await conn.execute(select(agents).where(agents.c.zone_id == zone_id).order_by(agents.c.source_id))
        return [AgentRow.of(r) for r in rows]

    @staticmethod
    async def upsert_agent(conn: AsyncConnection, row: dict) -> None:
        key = and_(agents.c.zone_id == row["zone_id"], agents.c.source_id == row["source_id"])
        existing = (await conn.execute(select(agents.c.source_id).where(key))).first()
        if existing:
            await conn.execute(update(agents).where(key).values(**row))
        else:
            await conn.execute(insert(agents).values(**row))

    @staticmethod
    async def set_agent(conn: AsyncConnection, zone_id: str, source_id: str, **values) -> None:
        await conn.execute(update(agents).where(and_(agents.c.zone_id == zone_id, agents.c.source_id == source_id))
                           .values(**values))

    @staticmethod
    async def remove_agent(conn: AsyncConnection, zone_id: str, source_id: str) -> None:
        for table, col in ((agents, agents.c.source_id), (provides, provides.c.source_id),
                           (subscriptions, subscriptions.c.source_id), (queue, queue.c.receiver)):
            await conn.execute(delete(table).where(and_(table.c.zone_id == zone_id, col == source_id)))

    # ---------------------------------------------------------- provide/subscribe
    @staticmethod
    async def provider(conn, zone_id: str, object_name: str, context: str):
        row = (await conn.execute(select(provides).where(and_(
            provides.c.zone_id == zone_id, provides.c.object_name == object_name,
            provides.c.context == context)))).first()
        return row._mapping if row else None

    @staticmethod
    async def provided_by(conn, zone_id: str, source_id: str) -> list:
        rows = await conn.execute(select(provides).where(and_(
            provides.c.zone_id == zone_id, provides.c.source_id == source_id)))
        return [r._mapping for r in rows]

    @staticmethod
    async def add_provide(conn, zone_id, object_name, context, source_id, extended_query=False) -> None:
        await conn.execute(insert(provides).values(zone_id=zone_id, object_name=object_name, context=context,
                                                   source_id=source_id, extended_query=extended_query))

    @staticmethod
    async def remove_provide(conn, zone_id, object_name, context, source_id) -> int:
        result = await conn.execute(delete(provides).where(and_(
            provides.c.zone_id == zone_id, provides.c.object_name == object_name,
            provides.c.context == context, provides.c.source_id == source_id)))
        return result.rowcount

    @staticmethod
    async def subscribers(conn, zone_id: str, object_name: str, context: str) -> list[str]:
        rows = await conn.execute(select(subscriptions.c.source_id).where(and_(
            subscriptions.c.zone_id == zone_id, subscriptions.c.object_name == object_name,
            subscriptions.c.context == context)).order_by(subscriptions.c.source_id))
        return [r[0] for r in rows]

    @staticmethod
    async def subscriptions_of(conn, zone_id: str, source_id: str) -> list:
        rows = await conn.execute(select(subscriptions).where(and_(
            subscriptions.c.zone_id == zone_id, subscriptions.c.source_id == source_id)))
        return [r._mapping for r in rows]

    @staticmethod
    async def subscribe(conn, zone_id, object_name, context, source_id) -> None:
        exists = (await conn.execute(select(subscriptions.c.source_id).where(and_(
            subscriptions.c.zone_id == zone_id, subscriptions.c.object_name == object_name,
            subscriptions.c.context == context, subscriptions.c.source_id == source_id)))).first()
        if not exists:
            await conn.execute(insert(subscriptions).values(zone_id=zone_id, object_name=object_name,
                                                            context=context, source_id=source_id))

    @staticmethod
    async def unsubscribe(conn, zone_id, object_name, context, source_id) -> int:
        result = await conn.execute(delete(subscriptions).where(and_(
            subscriptions.c.zone_id == zone_id, subscriptions.c.object_name == object_name,
            subscriptions.c.context == context, subscriptions.c.source_id == source_id)))
        return result.rowcount

    @staticmethod
    async def clear_provision(conn, zone_id, source_id) -> None:
        await conn.execute(delete(provides).where(and_(provides.c.zone_id == zone_id, provides.c.source_id == source_id)))
        await conn.execute(delete(subscriptions).where(and_(
            subscriptions.c.zone_id == zone_id, subscriptions.c.source_id == source_id)))

    # ------------------------------------------------------------------ seen ids
    @staticmethod
    async def first_sight(conn, zone_id: str, source_id: str, msg_id: str, now: float) -> bool:
        """Record a SIF_MsgId from a sender; False if it was seen before (status 7)."""
        key = and_(seen.c.zone_id == zone_id, seen.c.source_id == source_id, seen.c.msg_id == msg_id)
        if (await conn.execute(select(seen.c.at).where(key))).first():
            return False
        await conn.execute(insert(seen).values(zone_id=zone_id, source_id=source_id, msg_id=msg_id, at=now))
        return True

    # ------------------------------------------------------------------ queues
    @staticmethod
    async def enqueue(conn, *, zone_id, receiver, msg_id, sender, kind, object_name, body: bytes, now: float) -> None:
        await conn.execute(insert(queue).values(zone_id=zone_id, receiver=receiver, msg_id=msg_id, sender=sender,
                                                kind=kind, object_name=object_name, body=body, deliveries=0,
                                                created_at=now))

    @staticmethod
    async def head(conn, zone_id: str, receiver: str, *, skip_events: bool):
        """Oldest message for the receiver; events are skipped while SMB holds one."""
        cond = and_(queue.c.zone_id == zone_id, queue.c.receiver == receiver)
        if skip_events:
            cond = and_(cond, queue.c.kind != "event")
        row = (await conn.execute(select(queue).where(cond).order_by(queue.c.id).limit(1))).first()
        return row._mapping if row else None

    @staticmethod
    async def queued(conn, zone_id: str, receiver: str, msg_id: str):
        row = (await conn.execute(select(queue).where(and_(
            queue.c.zone_id == zone_id, queue.c.receiver == receiver, queue.c.msg_id == msg_id)))).first()
        return row._mapping if row else None

    @staticmethod
    async def mark_delivered(conn, queue_id: int) -> None:
        await conn.execute(update(queue).where(queue.c.id == queue_id).values(deliveries=queue.c.deliveries + 1))

    @staticmethod
    async def dequeue(conn, queue_id: int) -> None:
        await conn.execute(delete(queue).where(queue.c.id == queue_id))

    @staticmethod
    async def queue_depth(conn, zone_id: str, receiver: str) -> int:
        return (await conn.execute(select(func.count()).select_from(queue).where(and_(
            queue.c.zone_id == zone_id, queue.c.receiver == receiver)))).scalar_one()

    @staticmethod
    async def drop_queued_request(conn, zone_id: str, msg_id: str, receiver: str) -> int:
        result = await conn.execute(delete(queue).where(and_(
            queue.c.zone_id == zone_id, queue.c.receiver == receiver, queue.c.msg_id == msg_id,
            queue.c.deliveries == 0)))
        return result.rowcount

    # ---------------------------------------------------------------- requests
    @staticmethod
    async def add_request(conn, **row) -> None:
        await conn.execute(insert(requests).values(**row))

    @staticmethod
    async def request(conn, zone_id: str, msg_id: str):
        row = (await conn.execute(select(requests).where(and_(
            requests.c.zone_id == zone_id, requests.c.msg_id == msg_id)))).first()
        return row._mapping if row else None

    @staticmethod
    async def set_request(conn, zone_id: str, msg_id: str, **values) -> None:
        await conn.execute(update(requests).where(and_(requests.c.zone_id == zone_id, requests.c.msg_id == msg_id))
                           .values(**values))

    @staticmethod
    async def expired_requests(conn, now: float, limit: int = 100) -> list:
        rows = await conn.execute(select(requests).where(and_(requests.c.state == "pending", requests.c.deadline < now))
                                  .order_by(requests.c.deadline).limit(limit))
        return [r._mapping for r in rows]

    # --------------------------------------------------------------------- log
    @staticmethod
    async def log(conn, **row) -> None:
        row.setdefault("findings", "[]")
        await conn.execute(insert(log).values(**row))

    async def log_entries(self, zone_id: str, limit: int = 200, after_id: int = 0) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(log).where(and_(log.c.zone_id == zone_id, log.c.id > after_id))
                                      .order_by(log.c.id.desc()).limit(limit))
            out = []
            for r in rows:
                m = dict(r._mapping)
                m["findings"] = json.loads(m["findings"])
                out.append(m)
            return out

    async def trim_log(self, zone_id: str, keep: int) -> None:
        async with self.tx() as conn:
            cutoff = (await conn.execute(select(log.c.id).where(log.c.zone_id == zone_id)
                                         .order_by(log.c.id.desc()).offset(keep).limit(1))).scalar()
            if cutoff is not None:
                await conn.execute(delete(log).where(and_(log.c.zone_id == zone_id, log.c.id <= cutoff)))
