"""Engines for the SLF tables, portable between SQLite and PostgreSQL.

Why not a plain ``create_async_engine``: the SLF tables are written by two parties at once
(the resolver and the SSID database, possibly in two processes). On SQLite that needs

* WAL and ``synchronous=FULL`` (durable commits; readers never block the writer),
* ``busy_timeout`` (a writer waits for the other instead of failing with "database is locked"),
* ``BEGIN IMMEDIATE`` for every transaction: a transaction that reads and then writes takes
  the write lock up front, so two processes never deadlock upgrading a read lock (SQLite
  answers that deadlock with an immediate SQLITE_BUSY that no timeout helps).

On PostgreSQL rows are claimed with ``SELECT ... FOR UPDATE [SKIP LOCKED]`` (``store.py``),
which lets several resolver workers share the tables.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dburl import async_url

#: milliseconds a SQLite writer waits for another one
BUSY_TIMEOUT_MS = 30_000


def url_of(value: str, base: Path | None = None) -> str:
    """The async SQLAlchemy URL of a URL or a SQLite file path (relative to ``base``; ``dburl``)."""
    return async_url(value, base)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # let BEGIN IMMEDIATE below open every transaction (pysqlite would otherwise BEGIN lazily)
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kw) -> AsyncEngine:
    """An async engine; SQLite gets the pragmas and BEGIN IMMEDIATE, its folder is created."""
    url = async_url(url)
    engine = create_async_engine(url, **kw)
    if engine.dialect.name == "sqlite":
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def asyncpg_dsn(engine: AsyncEngine) -> str | None:
    """The plain ``postgresql://`` DSN of a PostgreSQL engine (for LISTEN), else None."""
    if engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
