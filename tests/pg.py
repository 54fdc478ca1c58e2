"""Throw-away PostgreSQL databases for tests (one helper for every test folder).

PostgreSQL is the scale-out store (design "Storage"), so the stores, pollers and batch runs
are tested on it as well as on SQLite. Each test gets a fresh database, ``CREATE DATABASE
<prefix>_<random>``, on the server named by ``SLF_TEST_PG`` (an admin ``postgresql://`` URL),
by default 127.0.0.1:5432 with trust authentication as user postgres; it is dropped when the
test ends (``WITH (FORCE)``: a test that failed half-way may leave a pool connected). When no
server answers there, the PostgreSQL runs are skipped with the reason, never failed.

    async with database("ssid_test") as url: ...        # one database
    dbs = PgDatabases("zis_test"); url = await dbs.create(); ...; await dbs.drop_all()
    pg_databases                                         # fixture: a PgDatabases, dropped after the test
    backend_url(backend, sqlite_file)                    # "sqlite" | "postgresql" → an async context with a URL
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

PG_ADMIN = os.environ.get("SLF_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")

_UP: bool | None = None


def pg_available() -> bool:
    """Does a server accept connections at PG_ADMIN's address? (asked once per test process)"""
    global _UP
    if _UP is None:
        parts = urlsplit(PG_ADMIN)
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
                _UP = True
        except OSError:
            _UP = False
    return _UP


def skip_reason() -> str:
    return f"no PostgreSQL server answers at {urlsplit(PG_ADMIN).netloc} (set SLF_TEST_PG to an admin URL)"


def require_pg() -> None:
    """Skip the calling test when no PostgreSQL server answers."""
    if not pg_available():
        pytest.skip(skip_reason())


class PgDatabases:
    """Creates throw-away databases on the test server and drops them all at the end."""

    def __init__(self, prefix: str = "slf_test", admin_url: str = PG_ADMIN) -> None:
        self.prefix = prefix
        self.admin_url = admin_url
        self.names: list[str] = []

    async def _admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self) -> str:
        """A fresh, empty database; its SQLAlchemy (asyncpg) URL."""
        name = f"{self.prefix}_{secrets.token_hex(6)}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return f"postgresql+asyncpg://{urlsplit(self.admin_url).netloc}/{name}"

    async def drop_all(self) -> None:
        while self.names:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.names.pop()}" WITH (FORCE)')

    def drop_all_blocking(self) -> None:
        """``drop_all`` from synchronous code (a private event loop in another thread)."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self.drop_all())
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if errors:
            raise errors[0]


@contextlib.asynccontextmanager
async def database(prefix: str = "slf_test") -> AsyncIterator[str]:
    """One fresh database's URL, dropped afterwards; skips the test without a server."""
    require_pg()
    dbs = PgDatabases(prefix)
    try:
        yield await dbs.create()
    finally:
        await dbs.drop_all()


@contextlib.asynccontextmanager
async def backend_url(backend: str, sqlite_file: Path | str, prefix: str = "slf_test") -> AsyncIterator[str]:
    """A fresh, empty database URL on ``backend``: the SQLite file, or a throw-away PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    if backend != "postgresql":
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    async with database(prefix) as url:
        yield url


@pytest.fixture
async def pg_databases() -> AsyncIterator[PgDatabases]:
    """Fresh PostgreSQL databases on demand: ``url = await pg_databases.create()``."""
    require_pg()
    dbs = PgDatabases()
    try:
        yield dbs
    finally:
        await dbs.drop_all()


def parametrize_backends(metafunc: pytest.Metafunc, modules: tuple[str, ...]) -> None:
    """For ``pytest_generate_tests``: the tests of these modules (by name) that take ``backend``
    run once on SQLite and once on PostgreSQL; every other test gets "sqlite"."""
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in modules and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request) -> str:
    """"sqlite" (the default) or "postgresql" (where ``parametrize_backends`` asked for both)."""
    return getattr(request, "param", "sqlite")



async def analyzed_tables(url: str, tables: tuple[str, ...]) -> set[str]:
    """Which of ``tables`` were vacuumed and analyzed explicitly (PostgreSQL's ``last_vacuum``
    and ``last_analyze``: autovacuum sets the ``last_auto*`` columns instead, so it cannot pass
    for a load's own; SQLite: the tables named in ``sqlite_stat1``)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                rows = await conn.exec_driver_sql("SELECT relname FROM pg_stat_user_tables "
                                                  "WHERE last_analyze IS NOT NULL AND last_vacuum IS NOT NULL")
            else:
                stat = await conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
                if stat.first() is None:
                    return set()
                rows = await conn.exec_driver_sql("SELECT DISTINCT tbl FROM sqlite_stat1")
            return {name for (name,) in rows} & set(tables)
    finally:
        await engine.dispose()


__all__ = ["BACKENDS", "PG_ADMIN", "PgDatabases", "analyzed_tables", "backend", "backend_url", "database",
           "pg_available", "pg_databases", "parametrize_backends", "require_pg", "skip_reason"]
