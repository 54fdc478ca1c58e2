"""SSID test fixtures: a migrated store on SQLite and PostgreSQL, users, a clock, values.

A PostgreSQL test gets a fresh database (``ssid_test_<random>``) from tests/pg.py, dropped
when it ends; without a server those runs are skipped with the reason.
"""

from __future__ import annotations

import os

import pytest

from ssid.config import Settings, load
from ssid.store import SsidStore
from tests.pg import BACKENDS, backend_url, database

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "ssid.example.toml")

#: a complete Ohio record (every "generate" attribute)
AMARA = {"LegalFirstName": "Amara", "LegalMiddleName": "Grace", "LegalLastName": "Okafor", "BirthDate": "2017-04-12",
         "Gender": "F", "BirthPlaceCity": "Columbus", "RaceEthnicity": "B", "NativeLanguage": "ENG",
         "AdmissionReason": "1"}


@pytest.fixture
async def pg_url():
    async with database("ssid_test") as url:
        yield url


@pytest.fixture(params=BACKENDS)
async def db_url(request, tmp_path):
    """A fresh, empty database URL on each backend."""
    async with backend_url(request.param, tmp_path / "ssid.db", "ssid_test") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/ssid.db"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:  # 2027-01-15
        self.now = now

    def __call__(self) -> float:
        self.now += 0.001  # strictly increasing, like real time
        return self.now


@pytest.fixture
def settings() -> Settings:
    return load(EXAMPLE)


@pytest.fixture
async def make_store(db_url, settings):
    made: list[SsidStore] = []

    async def make(**kw) -> SsidStore:
        kw.setdefault("clock", Clock())
        store = SsidStore.from_url(db_url, kw.pop("settings", settings), **kw)
        await store.migrate()
        made.append(store)
        return store

    yield make
    for s in made:
        await s.close()


@pytest.fixture
async def store(make_store) -> SsidStore:
    return await make_store()


@pytest.fixture
async def users(store):
    """district clerk ``ann`` (district admin), ``dan`` (another district), state approvers ``sam`` and ``sue``,
    ``viv`` (auditor only)."""
    out = {}
    async with store.write() as conn:
        out["ann"] = await store.add_user(conn, "ann", district_irn="043802", roles=["district_admin"])
        out["dan"] = await store.add_user(conn, "dan", district_irn="044000", roles=["district_admin"])
        out["sam"] = await store.add_user(conn, "sam", roles=["state_approver", "state_admin"])
        out["sue"] = await store.add_user(conn, "sue", roles=["state_approver"])
        out["viv"] = await store.add_user(conn, "viv", district_irn="043802", roles=["auditor"])
        out["min"] = await store.add_user(conn, "min", district_irn="043802", group="minimal",
                                          roles=["district_admin"])
    return out


async def create(store, values=None, user="ann", **kw):
    """Issue a new ID for ``values`` (AMARA by default) as ``user``; the Student."""
    async with store.write() as conn:
        u = await store.require_user(conn, user)
        return await store.create_student(conn, values or AMARA, u.actor(), **kw)
