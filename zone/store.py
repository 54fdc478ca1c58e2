"""Durable zone state through SQLAlchemy (SQLite by default, PostgreSQL to scale out).

Everything a zone must not forget lives here: registered agents, providers,
subscriptions, per-agent queues, SIF_MsgIds already seen, pending requests and
the message log. A queued message is deleted only when its receiver acknowledges
it, inside the same transaction that records the acknowledgement.

The same code serves SQLite (one process; transactions serialised by an asyncio
lock) and PostgreSQL (several ZIS workers sharing one database):

* every message from an agent runs under a row lock on that agent
  (``agent(..., lock=True)`` is ``SELECT ... FOR UPDATE``), so one agent's
  GetMessage/ack/Sleep/... are serialised across workers: the head of its queue
  is delivered, and redelivered, one message at a time;
* writes that two workers may race on are idempotent upserts
  (``INSERT ... ON CONFLICT``): a duplicate SIF_MsgId is caught by the unique key
  of ``zis_seen`` (the loser waits for the winner's commit and then sees the
  conflict: status 7, and nothing of the message is queued twice), a second
  provider of an object loses on the key of ``zis_provides`` (6/4);
* pollers claim work with ``FOR UPDATE SKIP LOCKED``: timed-out requests, and the
  push agents a push worker delivers to (``claim_push``: a lease per agent, so two
  push workers never POST to the same agent at once, and a crashed worker's lease
  simply runs out);
* on PostgreSQL the common messages (events, requests, responses, GetMessage and
  plain acks) take a shorter road with the same locks and keys: one statement each,
  group-committed (``Store.fast``, zone/pgfast.py).

Identifier columns are unbounded strings: their wire limits (SIF_SourceId <= 64,
GUIDs = 32) are the schema's business, and a zone running with validation "off"
must behave the same on both databases.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

from sqlalchemy import (
    bindparam,
    BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text,
    UniqueConstraint, and_, case, delete, event, exists, func, insert, or_, select, text,
    update,
)
from sqlalchemy.dialects import postgresql as _pg
from sqlalchemy.dialects import sqlite as _sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dburl import async_url

from .pgfast import FUNCTION_SQL, PgFast

_logger = logging.getLogger(__name__)

metadata = MetaData()

#: 64-bit row ids on PostgreSQL (queues and logs outlive 2**31 rows); SQLite's rowid is already 64-bit
RowId = BigInteger().with_variant(Integer, "sqlite")

agents = Table(
    "zis_agents", metadata,
    Column("zone_id", String, primary_key=True),
    Column("source_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("versions", Text, nullable=False),  # JSON list as registered
    Column("version", String(16), nullable=False),  # negotiated
    Column("max_buffer_size", Integer, nullable=False),
    Column("push_url", Text),
    Column("sleeping", Boolean, nullable=False, default=False),
    Column("smb_msg_id", String),  # event held by Selective Message Blocking
    Column("rights", Text, nullable=False),  # JSON of zone.acl.Rights
    Column("registered_at", Float, nullable=False),
)

provides = Table(
    "zis_provides", metadata,
    Column("zone_id", String, primary_key=True),
    Column("object_name", String, primary_key=True),
    Column("context", String, primary_key=True),
    Column("source_id", String, nullable=False),
    Column("extended_query", Boolean, nullable=False, default=False),
)

subscriptions = Table(
    "zis_subscriptions", metadata,
    Column("zone_id", String, primary_key=True),
    Column("object_name", String, primary_key=True),
    Column("context", String, primary_key=True),
    Column("source_id", String, primary_key=True),
)

queue = Table(
    "zis_queue", metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("zone_id", String, nullable=False),
    Column("receiver", String, nullable=False),
    Column("msg_id", String, nullable=False),
    Column("sender", String, nullable=False),
    Column("kind", String(16), nullable=False),  # event | request | response
    Column("object_name", String, nullable=False, default=""),
    Column("body", LargeBinary, nullable=False),
    Column("deliveries", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    # SIF_MsgIds are unique per sender, so two senders may reuse one id for the same receiver
    UniqueConstraint("zone_id", "receiver", "sender", "msg_id", name="uq_queue_receiver_msg"),
    Index("ix_queue_head", "zone_id", "receiver", "id"),
    # the few delivered-but-unacknowledged messages, and the non-event ones, found without a scan
    Index("ix_queue_in_flight", "zone_id", "receiver", "deliveries", "id"),
    Index("ix_queue_kind", "zone_id", "receiver", "kind", "id"),
)

seen = Table(
    "zis_seen", metadata,
    Column("zone_id", String, primary_key=True),
    Column("source_id", String, primary_key=True),
    Column("msg_id", String, primary_key=True),
    Column("at", Float, nullable=False),
)

requests = Table(
    "zis_requests", metadata,
    Column("zone_id", String, primary_key=True),
    Column("msg_id", String, primary_key=True),
    Column("requester", String, nullable=False),
    Column("responder", String, nullable=False),
    Column("object_name", String, nullable=False),
    Column("versions", Text, nullable=False),
    Column("max_buffer_size", Integer, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("next_packet", Integer, nullable=False, default=1),
    Column("state", String(16), nullable=False, default="pending"),  # pending|done|cancelled|expired
    Index("ix_requests_deadline", "state", "deadline"),
)

push_state = Table(
    # One row per push-mode agent: who is delivering to it now (a lease) and its backoff.
    "zis_push", metadata,
    Column("zone_id", String, primary_key=True),
    Column("source_id", String, primary_key=True),
    Column("owner", String),  # push worker holding the lease, if any
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("failures", Integer, nullable=False, default=0),  # consecutive failed deliveries
    Column("not_before", Float, nullable=False, default=0.0),  # backoff: no attempt before this time
    Column("last_error", Text),
)

log = Table(
    "zis_log", metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("zone_id", String, nullable=False),
    Column("at", Float, nullable=False),
    Column("sender", String, nullable=False, default=""),
    Column("receiver", String, nullable=False, default=""),
    Column("kind", String, nullable=False, default=""),
    Column("object_name", String, nullable=False, default=""),
    Column("msg_id", String, nullable=False, default=""),
    Column("ack", String, nullable=False, default=""),
    Column("findings", Text, nullable=False, default="[]"),
    Column("size", Integer, nullable=False, default=0),
    Index("ix_log_zone", "zone_id", "id"),
)


# ---------------------------------------------------------------------------
# Statements on the hot path, built once: constructing a SQLAlchemy statement and
# its cache key on every call cost more than running it on SQLite.
_b = bindparam
_AGENT = select(agents).where(agents.c.zone_id == _b("b_zone"), agents.c.source_id == _b("b_source"))
_AGENT_LOCKED = _AGENT.with_for_update()
_QUEUE_OF = and_(queue.c.zone_id == _b("b_zone"), queue.c.receiver == _b("b_receiver"))
# Each is one index range: no query over a queue reads more than the rows it returns.
_IN_FLIGHT = select(queue).where(_QUEUE_OF, queue.c.deliveries > 0).order_by(queue.c.id).limit(1)
_IN_FLIGHT_NO_EVENTS = (select(queue).where(_QUEUE_OF, queue.c.deliveries > 0, queue.c.kind.in_(("request", "response")))
                        .order_by(queue.c.id).limit(1))
_OLDEST = select(queue).where(_QUEUE_OF).order_by(queue.c.id).limit(1)
_OLDEST_NO_EVENTS = (select(queue).where(_QUEUE_OF, queue.c.kind.in_(("request", "response")))
                     .order_by(queue.c.id).limit(1))
_QUEUED = select(queue).where(_QUEUE_OF, queue.c.msg_id == _b("b_msg")).order_by(queue.c.id).limit(1)
_QUEUED_FROM = (select(queue).where(_QUEUE_OF, queue.c.msg_id == _b("b_msg"), queue.c.sender == _b("b_sender"))
                .order_by(queue.c.id).limit(1))
def _take(in_flight, oldest):
    """PostgreSQL, one round trip: mark the head (in flight first, else oldest) delivered, return it."""
    head = func.coalesce(in_flight.with_only_columns(queue.c.id).scalar_subquery(),
                         oldest.with_only_columns(queue.c.id).scalar_subquery())
    return (update(queue).where(queue.c.id == head).values(deliveries=queue.c.deliveries + 1)
            .returning(*queue.c))


_TAKE = _take(_IN_FLIGHT, _OLDEST)
_TAKE_NO_EVENTS = _take(_IN_FLIGHT_NO_EVENTS, _OLDEST_NO_EVENTS)
_MARK_DELIVERED = update(queue).where(queue.c.id == _b("b_id")).values(deliveries=queue.c.deliveries + 1)
_DEQUEUE = delete(queue).where(queue.c.id == _b("b_id"))
_ENQUEUE = insert(queue)
_REQUEST = select(requests).where(requests.c.zone_id == _b("b_zone"), requests.c.msg_id == _b("b_msg"))
_REQUEST_LOCKED = _REQUEST.with_for_update()
_ADD_REQUEST = insert(requests)
_PROVIDER = select(provides).where(provides.c.zone_id == _b("b_zone"), provides.c.object_name == _b("b_object"),
                                   provides.c.context == _b("b_context"))
_SUBSCRIBERS = (select(subscriptions.c.source_id)
                .where(subscriptions.c.zone_id == _b("b_zone"), subscriptions.c.object_name == _b("b_object"),
                       subscriptions.c.context == _b("b_context"))
                .order_by(subscriptions.c.source_id))
_LOG = insert(log)
_FIRST_SIGHT: dict[str, object] = {}  # per dialect: INSERT … ON CONFLICT DO NOTHING
_FIRST_SIGHT["sqlite"] = _sqlite.insert(seen).on_conflict_do_nothing()
#: Statements run straight on the driver (sqlite3 cursor, asyncpg prepared statement): ids of the
#: objects above.
# (not the IN (...) variants used during SMB: their expanding parameters need SQLAlchemy)
_FIRST_SIGHT["postgresql"] = _pg.insert(seen).on_conflict_do_nothing()
_HOT = {id(s) for s in (_AGENT, _AGENT_LOCKED, _IN_FLIGHT, _OLDEST, _TAKE, _QUEUED,
                        _QUEUED_FROM, _MARK_DELIVERED, _DEQUEUE, _ENQUEUE, _REQUEST, _REQUEST_LOCKED, _ADD_REQUEST,
                        _PROVIDER, _SUBSCRIBERS, _LOG, _FIRST_SIGHT["sqlite"], _FIRST_SIGHT["postgresql"])}


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
        return cls.from_mapping(row._mapping)

    @classmethod
    def from_mapping(cls, m) -> "AgentRow":
        return cls(
            zone_id=m["zone_id"], source_id=m["source_id"], name=m["name"], mode=m["mode"],
            versions=tuple(json.loads(m["versions"])), version=m["version"],
            max_buffer_size=m["max_buffer_size"], push_url=m["push_url"], sleeping=bool(m["sleeping"]),
            smb_msg_id=m["smb_msg_id"], rights=json.loads(m["rights"]), registered_at=m["registered_at"],
        )


@dataclass(frozen=True)
class PushClaim:
    """A push agent a push worker holds the lease on."""

    zone_id: str
    source_id: str
    failures: int  # consecutive failed deliveries before this claim


_CREATE_LOCK_KEY = 0x5A15_C0DE  # pg advisory lock taken while creating tables


def _insert(conn: AsyncConnection, table: Table):
    """INSERT with ``on_conflict_do_nothing/do_update`` for the connection's dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        return _pg.insert(table)
    if name == "sqlite":
        return _sqlite.insert(table)
    raise NotImplementedError(f"the zone store supports SQLite and PostgreSQL, not {name}")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class _Row(tuple):
    """A result row from the raw path: index access and ``_mapping``, like SQLAlchemy's."""

    __slots__ = ()
    _keys: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict:
        return dict(zip(self._keys, self))


_ROW_TYPES: dict[tuple[str, ...], type] = {}


def _row_type(keys: tuple[str, ...]) -> type:
    row_type = _ROW_TYPES.get(keys)
    if row_type is None:
        row_type = _ROW_TYPES[keys] = type("Row", (_Row,), {"__slots__": (), "_keys": keys})
    return row_type


class _RawResult:
    """The part of SQLAlchemy's Result API the store uses, over driver rows."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    @classmethod
    def of_cursor(cls, cursor) -> "_RawResult":
        """From a sqlite3 cursor."""
        if cursor.description is None:
            return cls([], cursor.rowcount)
        row_type = _row_type(tuple(d[0] for d in cursor.description))
        return cls([row_type(r) for r in cursor.fetchall()], cursor.rowcount)

    @classmethod
    def of_records(cls, records: list) -> "_RawResult":
        """From asyncpg records (a SELECT, or a statement with RETURNING)."""
        if not records:
            return cls([], 0)
        row_type = _row_type(tuple(records[0].keys()))
        return cls([row_type(r) for r in records], len(records))

    def first(self):
        return self._rows[0] if self._rows else None

    def __iter__(self):
        return iter(self._rows)

    def scalar(self):
        return self._rows[0][0] if self._rows else None


class _LoopConnection:
    """An AsyncConnection look-alike over a synchronous SQLite connection.

    On a local SQLite file a statement takes microseconds; handing each one to a
    worker thread (aiosqlite) costs more than running it. Statements therefore run
    on the event loop; only the COMMIT, which waits for fsync, goes to a thread.
    The hot-path statements (built once, see ``_HOT``) go further: compiled once to
    SQL and run on the sqlite3 cursor directly, skipping SQLAlchemy's per-call
    execution machinery, which cost several times the statement itself.
    """

    _compiled: dict = {}

    def __init__(self, conn) -> None:
        self._conn = conn
        self.dialect = conn.dialect
        self._raw = conn.connection.dbapi_connection

    async def execute(self, statement, parameters=None):
        if parameters is not None and id(statement) in _HOT:
            key = (id(statement), tuple(parameters))
            compiled = self._compiled.get(key)
            if compiled is None:
                c = statement.compile(dialect=self.dialect, column_keys=list(parameters))
                compiled = self._compiled[key] = (str(c), c.positiontup, c)
            sql, order, c = compiled
            values = c.construct_params(parameters)
            return _RawResult.of_cursor(self._raw.execute(sql, [values[k] for k in order]))
        return self._conn.execute(statement, parameters) if parameters is not None else self._conn.execute(statement)

    async def run_sync(self, fn, *args, **kw):
        return fn(self._conn, *args, **kw)


class _PgConnection:
    """An AsyncConnection look-alike for one PostgreSQL transaction on one asyncpg connection.

    The transaction is asyncpg's own (SQLAlchemy's connection is in autocommit mode and sends
    its statements over the same connection, inside it). The hot-path statements (``_HOT``)
    run as asyncpg prepared statements directly: SQLAlchemy's per-call machinery and its
    greenlet hops cost more CPU than the round trip; everything else goes through SQLAlchemy.
    """

    _compiled: dict = {}

    def __init__(self, conn: AsyncConnection, raw) -> None:
        self._conn = conn
        self.dialect = conn.dialect
        self._raw = raw

    async def execute(self, statement, parameters=None):
        if parameters is not None and id(statement) in _HOT:
            key = (id(statement), tuple(parameters))
            compiled = self._compiled.get(key)
            if compiled is None:
                c = statement.compile(dialect=self.dialect, column_keys=list(parameters))
                sql = str(c)
                rows = sql.lstrip().upper().startswith("SELECT") or " RETURNING " in sql.upper()
                compiled = self._compiled[key] = (sql, c.positiontup, c, rows)
            sql, order, c, rows = compiled
            values = c.construct_params(parameters)
            args = [values[k] for k in order]
            if rows:
                return _RawResult.of_records(await self._raw.fetch(sql, *args))
            status = await self._raw.execute(sql, *args)  # e.g. "UPDATE 1", "INSERT 0 1"
            count = status.rsplit(" ", 1)[-1]
            return _RawResult([], int(count) if count.isdigit() else -1)
        if parameters is None:
            return await self._conn.execute(statement)
        return await self._conn.execute(statement, parameters)

    async def run_sync(self, fn, *args, **kw):
        return await self._conn.run_sync(fn, *args, **kw)


#: PostgreSQL connections each server process keeps (and as many more while a burst lasts)
PG_POOL_SIZE = 10

#: COMMITs faster than this on average run on the event loop; slower ones in a thread, so that
#: requests keep being read and parsed while the disk syncs
INLINE_COMMIT = 0.001


class _GroupCommit:
    """SQLite writes with group commit: many handled messages, one fsync.

    Each ``tx()`` runs under one lock inside a SAVEPOINT of a shared transaction and
    is rolled back alone if it fails. The shared transaction is committed (durably:
    synchronous=FULL) as soon as the handlers that were ready have run; every ``tx()``
    returns only after the COMMIT that made its changes durable, so no SIF_Ack ever
    promises what a crash could lose.
    """

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url.replace("+aiosqlite", "+pysqlite", 1),
                                    connect_args={"check_same_thread": False})

        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_connection, record) -> None:
            _sqlite_pragmas(dbapi_connection, record)
            dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN/SAVEPOINT through as written

        @event.listens_for(self.engine, "begin")
        def _begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        self.conn = None
        self.outer = None
        self.lock = asyncio.Lock()
        self.pending: asyncio.Future | None = None
        #: moving average of COMMIT (fsync) time; decides inline vs. thread (INLINE_COMMIT)
        self.commit_seconds = 0.0

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[_LoopConnection]:
        async with self.lock:
            if self.conn is None:
                self.conn = self.engine.connect()
            if self.outer is None:
                self.outer = self.conn.begin()
            savepoint = self.conn.begin_nested()
            try:
                yield _LoopConnection(self.conn)
            except BaseException:
                savepoint.rollback()
                raise
            savepoint.commit()
            if self.pending is None:
                self.pending = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().create_task(self._commit())
            done = self.pending
        await done

    async def _commit(self) -> None:
        await asyncio.sleep(0)  # handlers already waiting for the lock join this commit
        async with self.lock:
            done, self.pending = self.pending, None
            outer, self.outer = self.outer, None
            try:
                if self.commit_seconds < INLINE_COMMIT:
                    # a fast disk: handing the COMMIT to a thread costs more (GIL hand-offs) than the
                    # fsync it hides, and no other write could run meanwhile anyway (lock held)
                    started = time.perf_counter()
                    outer.commit()
                else:
                    started = time.perf_counter()
                    await asyncio.to_thread(outer.commit)
                self.commit_seconds = 0.8 * self.commit_seconds + 0.2 * (time.perf_counter() - started)
            except BaseException as exc:  # disk full, I/O error: nobody in this batch is acknowledged
                try:
                    outer.rollback()
                except Exception:  # noqa: BLE001 - the connection may be unusable; start afresh
                    self.conn.invalidate()
                    self.conn = None
                done.set_exception(exc)
            else:
                done.set_result(None)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.engine.dispose()


class Store:
    """The zone database. One transaction per handled message (``async with store.tx()``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._writer: _GroupCommit | None = None
        self._log_rows: list[dict] = []  # PostgreSQL: inspector lines not yet written (see log)
        #: PostgreSQL: the common messages in one group-committed statement each (zone.pgfast)
        self.fast = PgFast(engine.connect, AgentRow.from_mapping) if engine.dialect.name == "postgresql" else None
        if self.is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            url = engine.url.render_as_string(hide_password=False)
            if ":memory:" not in url and engine.url.database:
                self._writer = _GroupCommit(url)

    @classmethod
    def from_url(cls, url: str, **kw) -> "Store":
        if url.startswith("sqlite"):
            from pathlib import Path

            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        elif url.startswith("postgresql"):
            # Connections kept open for every request the server handles at once: past pool_size a
            # returned connection is closed and the next burst opens it again (a backend process
            # started, authenticated and type-introspected each time). Most messages hold one only
            # for a read or a share of a group commit (zone.pgfast), so ten cover a busy worker.
            kw.setdefault("pool_size", PG_POOL_SIZE)
            kw.setdefault("max_overflow", PG_POOL_SIZE)
        engine = create_async_engine(async_url(url), **kw)
        return cls(engine)

    async def create(self) -> None:
        """Create missing tables. Safe when several workers start at once on one PostgreSQL database."""
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # CREATE TABLE IF NOT EXISTS still races in the catalogue: one creator at a time
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CREATE_LOCK_KEY})
            await conn.run_sync(metadata.create_all)
            if conn.dialect.name == "postgresql":
                await conn.exec_driver_sql(FUNCTION_SQL)
            # push agents registered before zis_push existed get their row
            await conn.execute(_insert(conn, push_state).from_select(
                ["zone_id", "source_id"],
                select(agents.c.zone_id, agents.c.source_id).where(agents.c.mode == "Push"),
            ).on_conflict_do_nothing())

    async def close(self) -> None:
        try:
            await self.flush_log()
        except Exception:  # noqa: BLE001 - closing must not fail on the inspector's lines
            _logger.exception("could not write the last inspector lines")
        if self.fast is not None and self.fast.batches:
            _logger.info("fast path: %d messages in %d group commits", self.fast.applied, self.fast.batches)
        if self._writer is not None:
            async with self._writer.lock:
                self._writer.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work. SQLite: serialised, group-committed; PostgreSQL: a transaction."""
        if self._writer is not None:
            async with self._writer.tx() as conn:
                yield conn
        elif self.engine.dialect.name == "postgresql":
            async with self.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                raw = (await conn.get_raw_connection()).driver_connection
                async with raw.transaction():
                    yield _PgConnection(conn, raw)
        else:
            async with self.engine.begin() as conn:
                yield conn

    # ------------------------------------------------------------------ agents
    @staticmethod
    async def agent(conn: AsyncConnection, zone_id: str, source_id: str, *, lock: bool = False) -> AgentRow | None:
        stmt = _AGENT_LOCKED if lock and conn.dialect.name == "postgresql" else _AGENT
        row = (await conn.execute(stmt, {"b_zone": zone_id, "b_source": source_id})).first()
        return AgentRow.of(row) if row else None

    @staticmethod
    async def agents_in(conn: AsyncConnection, zone_id: str) -> list[AgentRow]:
        rows = await conn.execute(select(agents).where(agents.c.zone_id == zone_id).order_by(agents.c.source_id))
        return [AgentRow.of(r) for r in rows]

    @staticmethod
    async def upsert_agent(conn: AsyncConnection, row: dict) -> None:
        """Insert or update a registration (one statement: two workers may register the same agent)."""
        stmt = _insert(conn, agents).values(**row)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=[agents.c.zone_id, agents.c.source_id],
            set_={k: getattr(stmt.excluded, k) for k in row if k not in ("zone_id", "source_id")}))
        if row.get("mode") == "Push":
            # (re-)registering, perhaps with a mended SIF_URL: deliver now, whatever the old backoff said
            await conn.execute(_insert(conn, push_state).values(
                zone_id=row["zone_id"], source_id=row["source_id"]).on_conflict_do_update(
                index_elements=[push_state.c.zone_id, push_state.c.source_id],
                set_={"failures": 0, "not_before": 0.0}))

    @staticmethod
    async def set_agent(conn: AsyncConnection, zone_id: str, source_id: str, **values) -> None:
        await conn.execute(update(agents).where(and_(agents.c.zone_id == zone_id, agents.c.source_id == source_id))
                           .values(**values))

    @staticmethod
    async def remove_agent(conn: AsyncConnection, zone_id: str, source_id: str) -> None:
        for table, col in ((agents, agents.c.source_id), (provides, provides.c.source_id),
                           (subscriptions, subscriptions.c.source_id), (queue, queue.c.receiver),
                           (push_state, push_state.c.source_id)):
            await conn.execute(delete(table).where(and_(table.c.zone_id == zone_id, col == source_id)))

    # ---------------------------------------------------------- provide/subscribe
    @staticmethod
    async def provider(conn, zone_id: str, object_name: str, context: str):
        row = (await conn.execute(_PROVIDER, {"b_zone": zone_id, "b_object": object_name,
                                              "b_context": context})).first()
        return row._mapping if row else None

    @staticmethod
    async def provided_by(conn, zone_id: str, source_id: str) -> list:
        rows = await conn.execute(select(provides).where(and_(
            provides.c.zone_id == zone_id, provides.c.source_id == source_id)))
        return [r._mapping for r in rows]

    @staticmethod
    async def add_provide(conn, zone_id, object_name, context, source_id, extended_query=False) -> bool:
        """Make ``source_id`` the provider (nothing to do if it already is); False if another agent is
        (perhaps one whose concurrent SIF_Provide committed a moment ago)."""
        result = await conn.execute(_insert(conn, provides).values(
            zone_id=zone_id, object_name=object_name, context=context, source_id=source_id,
            extended_query=extended_query).on_conflict_do_nothing())
        if result.rowcount == 1:
            return True
        holder = (await conn.execute(select(provides.c.source_id).where(and_(
            provides.c.zone_id == zone_id, provides.c.object_name == object_name,
            provides.c.context == context)))).scalar()
        return holder == source_id

    @staticmethod
    async def remove_provide(conn, zone_id, object_name, context, source_id) -> int:
        result = await conn.execute(delete(provides).where(and_(
            provides.c.zone_id == zone_id, provides.c.object_name == object_name,
            provides.c.context == context, provides.c.source_id == source_id)))
        return result.rowcount

    @staticmethod
    async def subscribers(conn, zone_id: str, object_name: str, context: str) -> list[str]:
        rows = await conn.execute(_SUBSCRIBERS, {"b_zone": zone_id, "b_object": object_name, "b_context": context})
        return [r[0] for r in rows]

    @staticmethod
    async def subscriptions_of(conn, zone_id: str, source_id: str) -> list:
        rows = await conn.execute(select(subscriptions).where(and_(
            subscriptions.c.zone_id == zone_id, subscriptions.c.source_id == source_id)))
        return [r._mapping for r in rows]

    @staticmethod
    async def subscribe(conn, zone_id, object_name, context, source_id) -> None:
        await conn.execute(_insert(conn, subscriptions).values(
            zone_id=zone_id, object_name=object_name, context=context, source_id=source_id).on_conflict_do_nothing())

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
        """Record a SIF_MsgId from a sender; False if it was seen before (status 7).

        The primary key decides, not a read: when two workers handle the same message at
        once, PostgreSQL makes the second INSERT wait for the first transaction and then
        skip the row, so exactly one of them goes on to queue the message.
        """
        stmt = _FIRST_SIGHT.get(conn.dialect.name)
        if stmt is None:
            stmt = _FIRST_SIGHT[conn.dialect.name] = _insert(conn, seen).on_conflict_do_nothing()
        result = await conn.execute(stmt, {"zone_id": zone_id, "source_id": source_id, "msg_id": msg_id, "at": now})
        return result.rowcount == 1

    # ------------------------------------------------------------------ queues
    @staticmethod
    async def enqueue(conn, *, zone_id, receiver, msg_id, sender, kind, object_name, body: bytes, now: float) -> None:
        await conn.execute(_ENQUEUE, {"zone_id": zone_id, "receiver": receiver, "msg_id": msg_id, "sender": sender,
                                      "kind": kind, "object_name": object_name, "body": body, "deliveries": 0,
                                      "created_at": now})

    @staticmethod
    async def head(conn, zone_id: str, receiver: str, *, skip_events: bool):
        """The message to deliver next: the one already delivered and not yet acknowledged,
        else the oldest. Events are skipped while SMB holds one.

        "Delivered first" keeps one message in flight even when an older one becomes
        visible late (a concurrent worker's transaction committing after the head was
        handed out): the agent gets the same message again until it acknowledges it.
        """
        params = {"b_zone": zone_id, "b_receiver": receiver}
        for stmt in ((_IN_FLIGHT_NO_EVENTS, _OLDEST_NO_EVENTS) if skip_events else (_IN_FLIGHT, _OLDEST)):
            row = (await conn.execute(stmt, params)).first()
            if row is not None:
                return row._mapping
        return None

    @staticmethod
    async def take(conn, zone_id: str, receiver: str, *, skip_events: bool):
        """:meth:`head`, marked delivered (one more delivery); None when nothing waits."""
        if conn.dialect.name == "postgresql":
            stmt = _TAKE_NO_EVENTS if skip_events else _TAKE
            row = (await conn.execute(stmt, {"b_zone": zone_id, "b_receiver": receiver})).first()
            return row._mapping if row else None
        row = await Store.head(conn, zone_id, receiver, skip_events=skip_events)
        if row is not None:
            await Store.mark_delivered(conn, row["id"])
        return row

    @staticmethod
    async def queued(conn, zone_id: str, receiver: str, msg_id: str, sender: str | None = None):
        """The receiver's queued message with this SIF_MsgId (from ``sender`` when known)."""
        params = {"b_zone": zone_id, "b_receiver": receiver, "b_msg": msg_id}
        if sender is not None:
            params["b_sender"] = sender
        row = (await conn.execute(_QUEUED_FROM if sender is not None else _QUEUED, params)).first()
        return row._mapping if row else None

    @staticmethod
    async def mark_delivered(conn, queue_id: int) -> None:
        await conn.execute(_MARK_DELIVERED, {"b_id": queue_id})

    @staticmethod
    async def dequeue(conn, queue_id: int) -> None:
        await conn.execute(_DEQUEUE, {"b_id": queue_id})

    @staticmethod
    async def queue_depth(conn, zone_id: str, receiver: str) -> int:
        return (await conn.execute(select(func.count()).select_from(queue).where(and_(
            queue.c.zone_id == zone_id, queue.c.receiver == receiver)))).scalar_one()

    @staticmethod
    async def drop_queued_request(conn, zone_id: str, msg_id: str, receiver: str, sender: str) -> int:
        result = await conn.execute(delete(queue).where(and_(
            queue.c.zone_id == zone_id, queue.c.receiver == receiver, queue.c.msg_id == msg_id,
            queue.c.sender == sender, queue.c.deliveries == 0)))
        return result.rowcount

    # ---------------------------------------------------------------- requests
    @staticmethod
    async def add_request(conn, **row) -> None:
        await conn.execute(_ADD_REQUEST, row)

    @staticmethod
    async def request(conn, zone_id: str, msg_id: str):
        """A request, row-locked on PostgreSQL: a response, a cancel and the timeout
        sweep of another worker cannot both act on it."""
        stmt = _REQUEST_LOCKED if conn.dialect.name == "postgresql" else _REQUEST
        row = (await conn.execute(stmt, {"b_zone": zone_id, "b_msg": msg_id})).first()
        return row._mapping if row else None

    @staticmethod
    async def set_request(conn, zone_id: str, msg_id: str, **values) -> None:
        await conn.execute(update(requests).where(and_(requests.c.zone_id == zone_id, requests.c.msg_id == msg_id))
                           .values(**values))

    @staticmethod
    async def expired_requests(conn, now: float, limit: int = 100) -> list:
        """Pending requests past their deadline, claimed for this transaction (SKIP LOCKED on
        PostgreSQL: two workers' timeout sweeps never answer the same request twice)."""
        stmt = (select(requests).where(and_(requests.c.state == "pending", requests.c.deadline < now))
                .order_by(requests.c.deadline).limit(limit))
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = await conn.execute(stmt)
        return [r._mapping for r in rows]

    # --------------------------------------------------------------------- push
    @staticmethod
    def _pushable(zone_ids):
        """Push agents (joined with their zis_push row) that are awake and have a deliverable message."""
        deliverable = exists().where(and_(
            queue.c.zone_id == agents.c.zone_id, queue.c.receiver == agents.c.source_id,
            or_(agents.c.smb_msg_id.is_(None), queue.c.kind != "event")))
        return and_(push_state.c.zone_id.in_(list(zone_ids)),
                    agents.c.zone_id == push_state.c.zone_id, agents.c.source_id == push_state.c.source_id,
                    agents.c.mode == "Push", agents.c.push_url.is_not(None), agents.c.sleeping.is_not(True),
                    deliverable)

    @staticmethod
    async def claim_push(conn, zone_ids, owner: str, now: float, lease: float, limit: int) -> list[PushClaim]:
        """Lease up to ``limit`` push agents that are due (no lease held, backoff over) and have
        something to deliver. On PostgreSQL the candidates are locked ``FOR UPDATE SKIP LOCKED``,
        so concurrent push workers claim disjoint agents without waiting for each other."""
        stmt = (select(push_state.c.zone_id, push_state.c.source_id, push_state.c.failures)
                .select_from(push_state.join(agents, and_(agents.c.zone_id == push_state.c.zone_id,
                                                          agents.c.source_id == push_state.c.source_id)))
                .where(and_(Store._pushable(zone_ids), push_state.c.lease_until <= now,
                            push_state.c.not_before <= now))
                .order_by(push_state.c.not_before, push_state.c.zone_id, push_state.c.source_id)
                .limit(limit))
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=push_state, skip_locked=True)
        claims = []
        for zone_id, source_id, failures in (await conn.execute(stmt)).all():
            won = await conn.execute(update(push_state).where(and_(
                push_state.c.zone_id == zone_id, push_state.c.source_id == source_id,
                push_state.c.lease_until <= now)).values(owner=owner, lease_until=now + lease))
            if won.rowcount == 1:  # always on PostgreSQL (row locked); guards SQLite files shared by processes
                claims.append(PushClaim(zone_id, source_id, failures))
        return claims

    @staticmethod
    async def release_push(conn, claim: PushClaim, owner: str, *, failures: int, not_before: float,
                           error: str | None = None) -> None:
        """Give the lease back, recording the outcome (failures=0 after a success) and the backoff."""
        await conn.execute(update(push_state).where(and_(
            push_state.c.zone_id == claim.zone_id, push_state.c.source_id == claim.source_id,
            push_state.c.owner == owner)).values(owner=None, lease_until=0.0, failures=failures,
                                                 not_before=not_before, last_error=error))

    @staticmethod
    async def next_push_due(conn, zone_ids) -> float | None:
        """Earliest time a push agent with a deliverable message may be tried again (None: nothing waits)."""
        due = case((push_state.c.not_before > push_state.c.lease_until, push_state.c.not_before),
                   else_=push_state.c.lease_until)
        return (await conn.execute(select(func.min(due)).select_from(push_state.join(agents, and_(
            agents.c.zone_id == push_state.c.zone_id, agents.c.source_id == push_state.c.source_id)))
            .where(Store._pushable(zone_ids)))).scalar()

    @staticmethod
    async def pull_agents(conn, zone_ids) -> set[tuple[str, str]]:
        """(zone, source) of every agent registered in pull mode: nothing to push to them."""
        rows = await conn.execute(select(agents.c.zone_id, agents.c.source_id).where(and_(
            agents.c.zone_id.in_(list(zone_ids)), agents.c.mode != "Push")))
        return {(r.zone_id, r.source_id) for r in rows}

    @staticmethod
    async def push_state_of(conn, zone_id: str, source_id: str):
        row = (await conn.execute(select(push_state).where(and_(
            push_state.c.zone_id == zone_id, push_state.c.source_id == source_id)))).first()
        return row._mapping if row else None

    # --------------------------------------------------------------------- log
    async def log(self, conn, **row) -> None:
        """One inspector line for a handled message. SQLite: in the message's own transaction
        (a few microseconds). PostgreSQL: kept in memory and written in batches by
        :meth:`flush_log` (a round trip per message is a sixth of the message's cost); a crash
        loses at most the lines of the last flush interval, never a message."""
        row.setdefault("findings", "[]")
        if self.is_sqlite:
            await conn.execute(_LOG, row)
        else:
            self._log_rows.append(row)

    async def log_alone(self, **row) -> None:
        """An inspector line outside any message transaction (a refused message)."""
        if self.is_sqlite:
            async with self.tx() as conn:
                await self.log(conn, **row)
        else:
            await self.log(None, **row)

    async def flush_log(self) -> int:
        """Write the buffered inspector lines (PostgreSQL); returns how many."""
        rows, self._log_rows = self._log_rows, []
        if rows:
            try:
                await self.fast.write_log(rows)
            except BaseException:
                self._log_rows[:0] = rows  # kept for the next flush
                raise
        return len(rows)

    async def log_entries(self, zone_id: str, limit: int = 200, after_id: int = 0) -> list[dict]:
        await self.flush_log()
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
