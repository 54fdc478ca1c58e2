"""Fixtures for the SSID server, decisions and reports: a migrated store and SLF tables, on
SQLite and on a throw-away PostgreSQL database (tests/pg.py), with an injectable clock."""

from __future__ import annotations

import pytest

from sif_agent.resolver.migrations import migrate as slf_migrate
from ssid.config import load
from ssid.store import SsidStore
from tests.pg import BACKENDS, backend_url
from tests.ssid_pipeline.conftest import EXAMPLE, EXTRA, Slf


class Clock:
    """Settable time: ``clock.now = ...``; every call returns it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:  # 2027-01-15 08:00 UTC
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=BACKENDS)
async def db_url(request, tmp_path):
    async with backend_url(request.param, tmp_path / "ssid.db", "ssid_serve_test") as url:
        yield url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(db_url, clock):
    s = SsidStore.from_url(db_url, load(EXAMPLE), clock=clock)
    await s.migrate()
    yield s
    await s.close()


@pytest.fixture
async def slf(db_url, tmp_path):
    """The SLF tables, made by the resolver's migrations (in the same PostgreSQL database, or a second SQLite file)."""
    s = Slf(db_url if db_url.startswith("postgresql") else f"sqlite+aiosqlite:///{tmp_path}/slf.db")
    await slf_migrate(s.engine, EXTRA)
    yield s
    await s.engine.dispose()
