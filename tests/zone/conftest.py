"""Zone test fixtures: run the in-process conversations on SQLite and on PostgreSQL.

PostgreSQL is the scale-out store (design "Storage"), so every conversation rule
must hold there too. The ``zone_backend`` fixture is parametrized over
``["sqlite", "postgresql"]`` for the modules in ``BOTH_BACKENDS``; on the
PostgreSQL run every ``Harness.start(tmp_path, ...)`` without an explicit URL
gets a fresh database (``CREATE DATABASE zis_test_<random>``), dropped when the
test ends. The server is the one on 127.0.0.1:5432 (trust auth, user postgres),
or ``ZIS_TEST_PG`` (a ``postgresql://`` admin URL). Only if no server answers
there is the PostgreSQL run skipped, with the reason.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from urllib.parse import urlsplit

import pytest

from tests.zone.harness import Harness

#: test modules whose conversations run on both databases
BOTH_BACKENDS = ("test_conversations", "test_push")

PG_ADMIN = os.environ.get("ZIS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _server_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
            return True
    except OSError:
        return False


_PG_UP: bool | None = None


def pg_available() -> bool:
    global _PG_UP
    if _PG_UP is None:
        _PG_UP = _server_answers(PG_ADMIN)
    return _PG_UP


def skip_reason() -> str:
    return f"no PostgreSQL server answers at {urlsplit(PG_ADMIN).netloc} (set ZIS_TEST_PG to point at one)"


class PgDatabases:
    """Creates throw-away databases on the test server and drops them all at the end."""

    def __init__(self, admin_url: str = PG_ADMIN) -> None:
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
        """A fresh, empty database; returns its SQLAlchemy (asyncpg) URL."""
        name = f"zis_test_{secrets.token_hex(6)}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        parts = urlsplit(self.admin_url)
        return f"postgresql+asyncpg://{parts.netloc}/{name}"

    async def drop_all(self) -> None:
        while self.names:
            name = self.names.pop()
            # WITH (FORCE): a test that failed half-way may leave a pool connected
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_BACKENDS and "zone_backend" in metafunc.fixturenames:
        metafunc.parametrize("zone_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
async def pg_databases():
    """Fresh PostgreSQL databases on demand: ``url = await pg_databases.create()``."""
    if not pg_available():
        pytest.skip(skip_reason())
    dbs = PgDatabases()
    try:
        yield dbs
    finally:
        await dbs.drop_all()


@pytest.fixture(autouse=True)
def zone_backend(request, monkeypatch):
    """The database behind ``Harness.start`` for this test: "sqlite" (default) or "postgresql".

    A plain (sync) fixture, so sync tests in this folder can have it too; the
    databases are made inside the test's loop and dropped from a helper thread.
    """
    backend = getattr(request, "param", "sqlite")
    if backend != "postgresql":
        yield backend
        return
    if not pg_available():
        pytest.skip(skip_reason())
    dbs = PgDatabases()
    original = Harness.start.__func__

    async def start(cls, tmp_path, database=None, **zone_kw):
        if database is None:
            database = await dbs.create()
        harness = await original(cls, tmp_path, database, **zone_kw)
        assert harness.store.engine.dialect.name == "postgresql"
        return harness

    monkeypatch.setattr(Harness, "start", classmethod(start))
    try:
        yield backend
    finally:
        # harnesses are closed by their tests; the drop forces out anything left connected
        _in_thread(dbs.drop_all)


def _in_thread(fn) -> None:
    """Run ``await fn()`` to completion on a private loop in another thread."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if errors:
        raise errors[0]
