"""`ssid.extracts`: active, deactivated and delta files, named uniquely, with a manifest whose
count and SHA-256 match the file; deltas pick up exactly what changed since the last one."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import pytest

from ssid.config import load
from ssid.extracts import STATE_FILE, ExtractError, write_extract
from ssid.maintenance import deactivate
from ssid.store import SsidStore
from tests.ssid.conftest import AMARA, EXAMPLE, Clock

KWAME = {**AMARA, "LegalFirstName": "Kwame", "LegalMiddleName": "Kofi", "LegalLastName": "Mensah",
         "BirthDate": "2016-02-03", "Gender": "M"}
LUIS = {**AMARA, "LegalFirstName": "Luis", "LegalMiddleName": "Angel", "LegalLastName": "Ortega",
        "BirthDate": "2015-11-30", "Gender": "M"}


@pytest.fixture
async def store(tmp_path):
    s = SsidStore.from_url(f"sqlite+aiosqlite:///{tmp_path}/ssid.db", load(EXAMPLE), clock=Clock())
    await s.migrate()
    async with s.write() as conn:
        await s.add_user(conn, "ann", district_irn="043802", roles=["district_admin"])
    yield s
    await s.close()


async def issue(store, values):
    async with store.write() as conn:
        user = await store.require_user(conn, "ann")
        return await store.create_student(conn, values, user.actor())


def read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def manifest_of(path):
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())


async def test_active_and_deactivated_files_with_their_manifests(store, tmp_path):
    a, k, l = await issue(store, AMARA), await issue(store, KWAME), await issue(store, LUIS)
    async with store.write() as conn:
        user = await store.require_user(conn, "ann")
        await deactivate(store, conn, l.student_id, k.student_id,
                         "same student as the surviving ID: same name, birth date and birth city", user)
    out = tmp_path / "out"
    active, m = await write_extract(store.engine, "active", out)
    assert re.fullmatch(r"ssid-active-\d{8}T\d{6}Z-[0-9a-f]{12}\.csv", active.name)
    rows = read(active)
    assert sorted(r["StudentID"] for r in rows) == sorted([a.student_id, k.student_id])
    assert {r["LegalLastName"] for r in rows} == {"Okafor", "Mensah"}
    assert m.kind == "active" and m.records == 2 and m == type(m)(**manifest_of(active))
    assert m.sha256 == hashlib.sha256(active.read_bytes()).hexdigest() and m.size == active.stat().st_size
    assert active.read_bytes().startswith(b"StudentID,") and b"\r\n" in active.read_bytes()

    gone, m = await write_extract(store.engine, "deactivated", out)
    [row] = read(gone)
    assert (row["StudentID"], row["SurvivingID"], row["UserID"], row["User_District_IRN"]) == (
        l.student_id, k.student_id, "ann", "043802")
    assert "same name" in row["Reason"] and m.records == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != STATE_FILE]  # no partial files


async def test_delta_reports_what_changed_since_the_last_delta(store, tmp_path):
    out = tmp_path / "out"
    a, k = await issue(store, AMARA), await issue(store, KWAME)
    first, m1 = await write_extract(store.engine, "delta", out)
    assert [(r["Change"], r["StudentID"]) for r in read(first)] == [("ADD", a.student_id), ("ADD", k.student_id)]
    empty, m2 = await write_extract(store.engine, "delta", out)
    assert read(empty) == [] and m2.records == 0 and m2.from_sequence == m1.to_sequence
    async with store.write() as conn:
        user = await store.require_user(conn, "ann")
        await deactivate(store, conn, k.student_id, a.student_id,
                         "same student as the surviving ID: same name, birth date and birth city", user)
    l = await issue(store, LUIS)
    third, _ = await write_extract(store.engine, "delta", out)
    assert [(r["Change"], r["StudentID"], r["SurvivingID"]) for r in read(third)] == [
        ("DEACTIVATE", k.student_id, a.student_id), ("ADD", l.student_id, "")]
    assert len({first.name, empty.name, third.name}) == 3  # unique names, even within one second


async def test_unknown_kind_and_damaged_state_say_what_to_do(store, tmp_path):
    with pytest.raises(ExtractError, match="active, delta, deactivated"):
        await write_extract(store.engine, "everything", tmp_path)
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(ExtractError, match="remove it"):
        await write_extract(store.engine, "delta", tmp_path)
