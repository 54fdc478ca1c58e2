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
* PostgreSQL needs nothing special here; rows are locked ``FOR UPDATE`` where it matters.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def make_engine(url: str, **kw) -> AsyncEngine:
    """An async engine; SQLite gets the pragmas and BEGIN IMMEDIATE, its folder is created."""
    engine = create_async_engine(url, **kw)
    if engine.dialect.name == "sqlite":
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def safe_url(url: str) -> str:
    """The URL without its password (for messages)."""
    return make_url(url).render_as_string(hide_password=True)
