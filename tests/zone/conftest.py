"""Zone test fixtures: run the in-process conversations on SQLite and on PostgreSQL.

PostgreSQL is the scale-out store (design "Storage"), so every conversation rule
must hold there too. The ``zone_backend`` fixture is parametrized over
``["sqlite", "postgresql"]`` for the modules in ``BOTH_BACKENDS``; on the
PostgreSQL run every ``Harness.start(tmp_path, ...)`` without an explicit URL
gets a fresh database (``zis_test_<random>``, tests/pg.py), dropped when the
test ends. Without a server the PostgreSQL run is skipped, with the reason.
"""

from __future__ import annotations

import pytest

from tests.pg import PG_ADMIN, PgDatabases, pg_available, skip_reason  # noqa: F401 - also used by other folders
from tests.pg import pg_databases  # noqa: F401 - a fixture
from tests.zone.harness import Harness

#: test modules whose conversations run on both databases
BOTH_BACKENDS = ("test_conversations", "test_push")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_BACKENDS and "zone_backend" in metafunc.fixturenames:
        metafunc.parametrize("zone_backend", ["sqlite", "postgresql"], indirect=True)


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
    dbs = PgDatabases("zis_test")
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
        dbs.drop_all_blocking()

