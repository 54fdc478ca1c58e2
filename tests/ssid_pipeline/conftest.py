"""Fixtures: an SLF database made by the resolver's own migrations, an SSID store, a poller.

The SLF tables are created by ``sif_agent.resolver.migrations`` (the tests may import the
resolver; ``ssid`` may not), so the poller is tested against the real shared schema. The
modules in ``BOTH_BACKENDS`` run on SQLite (two files) and on PostgreSQL (one throw-away
database holding both the SLF tables and the SSID tables, tests/pg.py).
"""

from __future__ import annotations

import itertools
import os
import time

import pytest
from sqlalchemy import insert, select

from sif_agent.resolver.db import make_engine
from sif_agent.resolver.migrations import migrate as slf_migrate
from sif_agent.resolver.tables import AttributeColumn, schema
from ssid.config import load
from ssid.poller import SlfPoller
from ssid.store import SsidStore
from tests.pg import backend, database, parametrize_backends  # noqa: F401 (backend: a fixture)

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "ssid.example.toml")
#: Ohio's configured columns (conf/resolver.example.toml)
EXTRA = (
    AttributeColumn("ADMISSION_REASON", "x", 4), AttributeColumn("NATIVE_LANGUAGE", "x", 3),
    AttributeColumn("BIRTHPLACE_CITY", "x", 60), AttributeColumn("IRN_CURRENT_DISTRICT", "x", 6),
)
T = schema(EXTRA)
#: test modules whose SLF tables and SSID store run on both databases
BOTH_BACKENDS = ("test_poller",)

AMARA = {"LegalFirstName": "Amara", "LegalMiddleName": "Grace", "LegalLastName": "Okafor", "BirthDate": "2017-04-12",
         "Gender": "F", "BirthPlaceCity": "Columbus", "RaceEthnicity": "B", "NativeLanguage": "ENG",
         "AdmissionReason": "1"}
#: the same student as SLF columns
AMARA_ROW = {"LEGAL_FIRST_NAME": "Amara", "LEGAL_MIDDLE_NAME": "Grace", "LEGAL_LAST_NAME": "Okafor",
             "BIRTH_DATE": "20170412", "GENDER_CODE": "F", "BIRTHPLACE_CITY": "Columbus", "ETHNICITY_CODE": "B",
             "NATIVE_LANGUAGE": "ENG", "ADMISSION_REASON": "1", "IRN_CURRENT_DISTRICT": "043802",
             "HOME_SCHOOL_CODE": "012345"}


class Slf:
    """The SLF tables as the resolver writes them: batches and request rows."""

    def __init__(self, url: str, extra: tuple = EXTRA) -> None:
        self.url = url
        self.t = schema(extra)
        self.engine = make_engine(url)
        self.n = itertools.count(1)

    async def batch(self, ready: int = 1) -> int:
        async with self.engine.begin() as conn:
            r = await conn.execute(insert(self.t.batch).values(SIF_ZONE_ID="state", SIF_SOURCE_ID="ITC01-StudentLocator",
                                                          READY=ready, DISTRICT_CODE="043802", SCHOOL_CODE="012345",
                                                          CREATED_AT=time.time()))
            return r.inserted_primary_key[0]

    async def request(self, values: dict, *, batch: int | None = None, txn: str | None = None) -> str:
        batch = batch or await self.batch()
        txn = txn or f"{next(self.n):032X}"
        now = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(insert(self.t.parms).values(N_BATCH_ID=batch, SLF_TRANSACTION_GUID=txn, N_SLF_STATUS=1,
                                                      CREATED_AT=now, UPDATED_AT=now, **values))
        return txn

    async def row(self, txn: str) -> dict:
        async with self.engine.connect() as conn:
            return dict((await conn.execute(select(self.t.parms).where(self.t.parms.c.SLF_TRANSACTION_GUID == txn))).one()
                        ._mapping)

    async def set(self, txn: str, **values) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self.t.parms.update().where(self.t.parms.c.SLF_TRANSACTION_GUID == txn).values(**values))

    async def matches(self, txn: str) -> list[dict]:
        pid = (await self.row(txn))["N_TRANSACTION_PARMS_ID"]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(self.t.match).where(self.t.match.c.N_TRANSACTION_PARMS_ID == pid)
                                       .order_by(self.t.match.c.N_POTENTIAL_MATCH_ID))).all()
        return [dict(r._mapping) for r in rows]

    async def errors(self, txn: str) -> list[str]:
        pid = (await self.row(txn))["N_TRANSACTION_PARMS_ID"]
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(self.t.error_log.c.ERROR_DSCR)
                                            .where(self.t.error_log.c.N_TRANSACTION_PARMS_ID == pid))).scalars())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, BOTH_BACKENDS)


@pytest.fixture
async def pg_url(backend):
    """The PostgreSQL database of this test (None on SQLite)."""
    if backend != "postgresql":
        yield None
        return
    async with database("ssid_pipeline_test") as url:
        yield url


@pytest.fixture
async def slf(tmp_path, pg_url):
    s = Slf(pg_url or f"sqlite+aiosqlite:///{tmp_path}/slf.db")
    await slf_migrate(s.engine, EXTRA)
    yield s
    await s.engine.dispose()


@pytest.fixture
async def store(tmp_path, pg_url):
    st = SsidStore.from_url(pg_url or f"sqlite+aiosqlite:///{tmp_path}/ssid.db", load(EXAMPLE))
    await st.migrate()
    yield st
    await st.close()


@pytest.fixture
async def make_poller(slf, store):
    made = []

    def make(**kw) -> SlfPoller:
        p = SlfPoller(store, slf.url, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        await p.close()


@pytest.fixture
def poller(make_poller) -> SlfPoller:
    return make_poller()
