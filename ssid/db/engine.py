"""Engines for the SSID database, portable between SQLite and PostgreSQL.

Why not a plain ``create_async_engine`` (the same reasons as the SLF tables' engine, whose idea
this copies without importing it: ssid never imports sif_agent):

* SQLite gets WAL and ``synchronous=FULL`` (a committed ID survives a power cut; readers never
  block the writer), ``foreign_keys=ON`` and a ``busy_timeout`` so a second writer waits
  instead of failing with "database is locked".
* Write transactions open with ``BEGIN IMMEDIATE``: issuing an ID reads (is it used?) and then
  writes; taking the write lock up front means two processes never deadlock upgrading a read
  lock. Read-only work opens a plain deferred ``BEGIN`` (``read_only=True``), so lookups never
  queue behind the writer.
* JSON columns are written with orjson (compact, UTF-8 as it is), not the standard library's
  encoder: a batch file's writer encodes five JSON values per new student, and ``json.dumps``
  was 4-5% of its time at ten million students. Both read back as the same values.
* PostgreSQL needs nothing special here; rows are locked ``FOR UPDATE`` where it matters.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dburl import async_url

log = logging.getLogger(__name__)

#: milliseconds a SQLite writer waits for another one
BUSY_TIMEOUT_MS = 30_000
#: execution option that marks a connection as read-only (deferred BEGIN on SQLite)
READ_ONLY = "ssid_read_only"


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: the key indexes are large
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def json_text(value: Any) -> str:
    """A JSON column's value as stored (orjson: see the module docstring; keys need not be strings)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, **kw) -> AsyncEngine:
    """An async engine; SQLite gets the pragmas and BEGIN IMMEDIATE, its folder is created."""
    url = async_url(url)
    kw.setdefault("json_serializer", json_text)
    engine = create_async_engine(url, **kw)
    if engine.dialect.name == "sqlite":
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def insert_ignore(conn, table):
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return ins(table).on_conflict_do_nothing()


def placeholders(conn, n: int) -> list[str]:
    """``n`` bind markers in the paramstyle of ``conn``'s driver (statements sent as driver SQL)."""
    style = conn.dialect.paramstyle
    return [f"${i + 1}" if style == "numeric_dollar" else "%s" if style in ("format", "pyformat") else "?"
            for i in range(n)]


#: a SQLite write-ahead log longer than this is checkpointed and started again by ``bound_wal``
WAL_LIMIT_BYTES = 256 << 20


async def bound_wal(engine: AsyncEngine, limit: int = WAL_LIMIT_BYTES) -> bool:
    """Checkpoint a SQLite database's WAL into the database and start the log again from its
    beginning, once the log is longer than ``limit``.

    Why: SQLite rewinds its WAL only when no reader still uses it. A long batch has a planner
    reading at every moment, so the log never rewinds and grows by every page the writer
    changes: at ten million students about 50 KB a row, 17 GB a third of the way through a
    1-million-row file, until the disk is full. A RESTART checkpoint waits (``busy_timeout``)
    for the readers of the moment to finish and copies the log in; the next write then starts
    the log again at its beginning. The file keeps its size (about ``limit``) rather than being
    truncated: a truncated log grows again from nothing, and every page appended to a file costs
    the kernel a new block and a zeroed page-cache page, a fifth of the batch writer's time at ten
    million students (``perf``; ``benchmarks/RESULTS.md``). The log's length is read from SQLite
    (a PASSIVE checkpoint, which the writer's own commits run anyway), not from the file's size.
    Returns whether it ran and completed; a checkpoint that could not complete is logged and
    tried again next time. Does nothing on PostgreSQL or below the limit."""
    if engine.dialect.name != "sqlite":
        return False
    db = make_url(str(engine.url)).database
    if not db or db == ":memory:" or not Path(f"{db}-wal").exists():
        return False
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        # on the driver's own connection: through SQLAlchemy the pragma would run inside a transaction
        busy, frames, done = await _checkpoint(raw, "PASSIVE")  # frames: the log's length since it last rewound
        frame = await _pragma(raw, "PRAGMA page_size") + WAL_FRAME_HEADER
        if frames * frame <= limit:
            return False
        busy, frames, done = await _checkpoint(raw, "RESTART")
    if busy:
        log.warning("SQLite WAL of %d MB could not be checkpointed (readers busy; %d of %d pages copied); "
                    "trying again after the next write", frames * frame >> 20, done, frames)
        return False
    log.info("SQLite WAL of %d MB checkpointed into the database; it is written again from its start",
             frames * frame >> 20)
    return True


#: bytes before each page in a SQLite WAL frame
WAL_FRAME_HEADER = 24


async def _pragma(raw, sql: str):
    """The first row of a pragma on a driver connection (its only value, when it has one)."""
    cursor = await raw.execute(sql)
    row = await cursor.fetchone()
    await cursor.close()
    return row[0] if len(row) == 1 else tuple(row)


async def _checkpoint(raw, mode: str) -> tuple[int, int, int]:
    """(busy, frames in the log, frames checkpointed) after ``PRAGMA wal_checkpoint(mode)``."""
    return await _pragma(raw, f"PRAGMA wal_checkpoint({mode})")


def safe_url(url: str) -> str:
    """The URL without its password (for messages)."""
    return make_url(url).render_as_string(hide_password=True)
