"""Store fixtures: every store test runs on SQLite (tmp_path) and on PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (trust auth, user postgres) or ``LOCATOR_TEST_PG``
(a ``postgresql://`` admin URL); each test gets a fresh database, dropped afterwards. If no
server answers, the PostgreSQL run is skipped with the reason.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
from urllib.parse import urlsplit

import pytest

from sif_agent.locator.store import LocatorStore
from sif_agent.locator.transactions import Backoff, Policy

PG_ADMIN = os.environ.get("LOCATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

#: deterministic scheduling: no jitter, short round numbers
POLICY = Policy(follow_up=Backoff((300.0, 900.0, 3600.0), 86400.0, jitter=0.0),
                fault=Backoff((60.0, 300.0), 3600.0, jitter=0.0), response_timeout=1800.0)


def _pg_up() -> bool:
    parts = urlsplit(PG_ADMIN)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ids():
    counter = itertools.count(1)
    return lambda: f"{next(counter):032X}"


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path, clock, ids):
    dbname = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'slf' / 'locator.db'}"
    else:
        if not _pg_up():
            pytest.skip(f"no PostgreSQL server answers at {urlsplit(PG_ADMIN).netloc} "
                        "(set LOCATOR_TEST_PG to point at one)")
        dbname = f"locator_test_{secrets.token_hex(6)}"
        await _admin(f'CREATE DATABASE "{dbname}"')
        url = f"postgresql+asyncpg://{urlsplit(PG_ADMIN).netloc}/{dbname}"
    s = LocatorStore.from_url(url, clock=clock, id_factory=ids, policy=POLICY, rand=lambda: 0.5)
    try:
        await s.create_schema()
        yield s
    finally:
        await s.close()
        if dbname:
            await _admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
