"""Batch-file, sweep and report fixtures: a migrated store with the example configuration.

The store is SQLite; for the modules in ``BOTH_BACKENDS`` it is also a throw-away PostgreSQL
database (tests/pg.py).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from ssid.config import Settings, load
from ssid.csvlayout import header
from ssid.store import SsidStore
from tests.pg import backend, backend_url, parametrize_backends  # noqa: F401 (backend: a fixture)

#: test modules whose store runs on both databases
BOTH_BACKENDS = ("test_batch",)
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "ssid.example.toml")

AMARA = {"LegalFirstName": "Amara", "LegalMiddleName": "Grace", "LegalLastName": "Okafor", "BirthDate": "2017-04-12",
         "Gender": "F", "BirthPlaceCity": "Columbus", "RaceEthnicity": "B", "NativeLanguage": "ENG",
         "AdmissionReason": "1"}
KOFI = {"LegalFirstName": "Kofi", "LegalMiddleName": "Yaw", "LegalLastName": "Mensah", "BirthDate": "2015-09-30",
        "Gender": "M", "BirthPlaceCity": "Dayton", "RaceEthnicity": "B", "NativeLanguage": "TWI",
        "AdmissionReason": "1"}
LENA = {"LegalFirstName": "Lena", "LegalMiddleName": "Marie", "LegalLastName": "Kowalczyk", "BirthDate": "2014-02-03",
        "Gender": "F", "BirthPlaceCity": "Toledo", "RaceEthnicity": "W", "NativeLanguage": "ENG",
        "AdmissionReason": "2"}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:  # 2027-01-15 08:00 UTC
        self.now = now

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.fixture
def settings() -> Settings:
    return load(EXAMPLE)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, BOTH_BACKENDS)


@pytest.fixture
async def store(tmp_path, settings, backend):
    async with backend_url(backend, tmp_path / "ssid.db", "ssid_batch_test") as url:
        s = SsidStore.from_url(url, settings, clock=Clock())
        await s.migrate()
        try:
            yield s
        finally:
            await s.close()


@pytest.fixture
async def users(store):
    out = {}
    async with store.write() as conn:
        out["ann"] = await store.add_user(conn, "ann", district_irn="043802", roles=["district_admin"])
        out["sam"] = await store.add_user(conn, "sam", roles=["state_approver", "state_admin"])
        out["min"] = await store.add_user(conn, "min", district_irn="043802", group="minimal",
                                          roles=["district_admin"])
    return out


async def create(store, values, user="ann", **kw):
    async with store.write() as conn:
        u = await store.require_user(conn, user)
        return await store.create_student(conn, values, u.actor(), **kw)


def row(store, values=None, **kw) -> dict[str, str]:
    r = {"UserID": "clerk1", "DateTimeCreated": "08/20/2026 09:15:00", "Building_IRN": "000101",
         "District_IRN": "043802", "StudentID": "", **(values or {}), "UserDefined": ""}
    r.update(kw)
    return r


def write_csv(path: Path, store, rows: list[dict[str, str]], *, bom=False, crlf=False, head=None) -> Path:
    cols = list(head or header(store.catalogue))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
