"""Issue 4 end to end over real HTTPS: simulated SIS → district zone → Student Locator → state
zone → scripted state → locator → district zone → the SIS holds the right StateProvinceId;
then the same with the state zone down for a while, a TLS failure, slow answers and the
locator SIGKILLed mid-transaction. Every student ends with exactly one answer, none twice."""

from __future__ import annotations

import asyncio
import json
import subprocess
from contextlib import AsyncExitStack

import pytest

from tests.zone.process import ZoneProcess

from .support import (
    DISTRICT_ZONE, SLF, STATE_ZONE, Auditor, LocatorProcess, state_id, ScriptedState, expected_ids, finished, locator_config, sis_results, start_sis,
    until,
)

N = 8


@pytest.fixture
def zones(tmp_path):
    district = ZoneProcess.create(tmp_path / "district").start()
    state = ZoneProcess.create(tmp_path / "state").start()
    yield district, state
    district.stop()
    state.stop()


@pytest.fixture
def locator_proc(tmp_path):
    started: list[LocatorProcess] = []

    def make(config) -> LocatorProcess:
        p = LocatorProcess(config, tmp_path / "locator.log").start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


def console_list(config) -> list[dict]:
    out = subprocess.run([SLF, "locator", "console", "--config", str(config), "list", "--json"],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def assert_exactly_one_right_answer(tmp_path, auditor: Auditor) -> None:
    expected, held = expected_ids(tmp_path), sis_results(tmp_path)
    assert len(expected) == N
    assert held == expected  # every student, the right ID
    assert len(auditor.changes) == N
    assert all(len(ids) == 1 for ids in auditor.changes.values()), auditor.changes  # none twice
    assert sorted(i for ids in auditor.changes.values() for i in ids) == sorted(expected.values())


async def test_students_get_the_right_state_id_end_to_end(zones, tmp_path, locator_proc):
    district, state = zones
    config = locator_config(tmp_path, district, state)
    scripted, auditor = ScriptedState.create(state, tmp_path), Auditor.create(district, tmp_path)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(scripted.agent.running())
        await stack.enter_async_context(auditor.agent.running())
        loc = locator_proc(config)
        await until(lambda: loc.registered(DISTRICT_ZONE, STATE_ZONE))
        sis = start_sis(district, tmp_path, N, wait=60)
        assert await finished(sis, 90) == 0, (tmp_path / "sis.log").read_text()[-3000:]
        await until(lambda: len(auditor.changes) == N)
        await asyncio.sleep(0.5)  # anything sent twice would arrive by now
    assert_exactly_one_right_answer(tmp_path, auditor)
    assert len(scripted.requests) == N and len({r[0] for r in scripted.requests}) == N
    rows = console_list(config)
    assert [r["state"] for r in rows] == ["written_back"] * N


async def test_state_zone_down_for_a_while(zones, tmp_path, locator_proc):
    """Requests wait in the locator's outbox while the state zone is down; none is lost."""
    district, state = zones
    config = locator_config(tmp_path, district, state)
    auditor = Auditor.create(district, tmp_path)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(auditor.agent.running())
        scripted = ScriptedState.create(state, tmp_path)
        async with scripted.agent.running():
            loc = locator_proc(config)
            await until(lambda: loc.registered(DISTRICT_ZONE, STATE_ZONE))
        state.stop()
        sis = start_sis(district, tmp_path, N, wait=90)
        await until(lambda: "cannot" in (tmp_path / "locator.log").read_text() or
                    "failed" in (tmp_path / "locator.log").read_text(), 30)
        await asyncio.sleep(2.0)  # down for a while, with the students' events arriving meanwhile
        assert auditor.changes == {}
        state.start()
        scripted = ScriptedState.create(state, tmp_path)
        await stack.enter_async_context(scripted.agent.running())
        assert await finished(sis, 120) == 0, (tmp_path / "sis.log").read_text()[-3000:]
        await until(lambda: len(auditor.changes) == N)
        await asyncio.sleep(0.5)
    assert_exactly_one_right_answer(tmp_path, auditor)


async def test_tls_failure_keeps_the_work_until_the_certificate_is_fixed(zones, tmp_path, locator_proc):
    """The locator does not trust the state zone's certificate: nothing goes out, the log says
    why, nothing is lost; after the fix every student gets exactly one answer."""
    district, state = zones
    wrong = locator_config(tmp_path, district, state, state_ca=district.pki.ca_cert)
    scripted, auditor = ScriptedState.create(state, tmp_path), Auditor.create(district, tmp_path)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(scripted.agent.running())
        await stack.enter_async_context(auditor.agent.running())
        first = locator_proc(wrong)
        await until(lambda: first.registered(DISTRICT_ZONE))
        sis = start_sis(district, tmp_path, N, wait=120)
        await until(lambda: "CERTIFICATE_VERIFY_FAILED" in first.text() or "certificate verify failed" in first.text())
        await asyncio.sleep(1.5)
        assert scripted.requests == [] and auditor.changes == {}
        first.stop()
        locator_proc(locator_config(tmp_path, district, state))  # the right CA, same database
        assert await finished(sis, 120) == 0, (tmp_path / "sis.log").read_text()[-3000:]
        await until(lambda: len(auditor.changes) == N)
        await asyncio.sleep(0.5)
    assert_exactly_one_right_answer(tmp_path, auditor)


async def test_slow_answers_and_a_sigkilled_locator(zones, tmp_path, locator_proc):
    """The state answers slowly; the locator is SIGKILLed with requests in flight and started
    again; answers that arrive while it is down are applied after the restart."""
    district, state = zones
    config = locator_config(tmp_path, district, state)
    scripted, auditor = ScriptedState.create(state, tmp_path, delay=1.5), Auditor.create(district, tmp_path)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(scripted.agent.running())
        await stack.enter_async_context(auditor.agent.running())
        first = locator_proc(config)
        await until(lambda: first.registered(DISTRICT_ZONE, STATE_ZONE))
        sis = start_sis(district, tmp_path, N, wait=120)
        await until(lambda: len(scripted.requests) >= N // 2)  # requests in flight, none answered yet
        first.kill()
        await asyncio.sleep(2.5)  # the answers wait in the state zone's queue
        locator_proc(config)
        assert await finished(sis, 120) == 0, (tmp_path / "sis.log").read_text()[-3000:]
        await until(lambda: len(auditor.changes) == N)
        await asyncio.sleep(1.0)
    assert_exactly_one_right_answer(tmp_path, auditor)


async def test_answers_slower_than_the_response_timeout(zones, tmp_path, locator_proc):
    """Each answer takes longer than the locator waits: the request becomes a fault and is sent
    again with the same TransactionId; whichever answer lands first completes the student, the
    others change nothing."""
    district, state = zones
    config = locator_config(tmp_path, district, state, response_timeout=1.0, fault=0.3)
    scripted, auditor = ScriptedState.create(state, tmp_path, delay=1.6), Auditor.create(district, tmp_path)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(scripted.agent.running())
        await stack.enter_async_context(auditor.agent.running())
        loc = locator_proc(config)
        await until(lambda: loc.registered(DISTRICT_ZONE, STATE_ZONE))
        sis = start_sis(district, tmp_path, N, wait=120)
        assert await finished(sis, 120) == 0, (tmp_path / "sis.log").read_text()[-3000:]
        await until(lambda: len(auditor.changes) == N)
        await asyncio.sleep(2.0)  # the late answers to the first requests arrive too
    assert_exactly_one_right_answer(tmp_path, auditor)
    per_txn = {}
    for txn, _status, _sid in scripted.requests:
        per_txn[txn] = per_txn.get(txn, 0) + 1
    assert len(per_txn) == N and max(per_txn.values()) >= 2  # re-sent under the same TransactionId
    assert "sent -> fault (failed_technically)" in loc.text()  # timed out, then retried


async def test_console_submit_starts_lookups_by_hand(zones, tmp_path, locator_proc):
    """Staff submit a CSV: complete rows become transactions the running locator sends; the
    state ID goes back to the SIS's RefId; an incomplete row is named and skipped."""
    district, state = zones
    config = locator_config(tmp_path, district, state)
    scripted, auditor = ScriptedState.create(state, tmp_path), Auditor.create(district, tmp_path)
    header = ("StudentRefId,LocalId,FirstName,MiddleName,LastName,BirthDate,Gender,Race,HispanicLatino,Language,"
              "BirthPlaceCity,Grade,SchoolIRN,SchoolName,EntryDate,AdmissionReason")
    rows = [
        "A1B2C3D4E5F60718293A4B5C6D7E8F90,900001,Amara,Grace,Okafor,2017-04-12,F,1002,No,eng,Columbus,03,012345,"
        "Maple Elementary,2026-08-19,1",
        "B1B2C3D4E5F60718293A4B5C6D7E8F90,900002,Luis,,Ortega,2016-01-30,M,1000,Yes,spa,,04,012345,"
        "Maple Elementary,2026-08-19,1",  # no middle name, no birthplace: Ohio requires both
    ]
    (tmp_path / "submit.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(scripted.agent.running())
        await stack.enter_async_context(auditor.agent.running())
        loc = locator_proc(config)
        await until(lambda: loc.registered(DISTRICT_ZONE, STATE_ZONE))
        done = subprocess.run([SLF, "locator", "console", "--config", str(config), "submit",
                               str(tmp_path / "submit.csv")], capture_output=True, text=True)
        assert done.returncode == 1, done.stderr  # one row skipped
        lines = done.stdout.splitlines()
        assert "900001" in lines[0] and "new in district-zone" in lines[0]
        assert "900002" in lines[1] and "skipped" in lines[1] and "MiddleName: missing" in lines[1]
        assert "PlaceOfBirth: missing" in lines[1]
        await until(lambda: len(auditor.changes) == 1)
    assert auditor.changes == {"A1B2C3D4E5F60718293A4B5C6D7E8F90": [state_id("Amara", "Okafor", "2017-04-12")]}
    [row] = console_list(config)
    assert row["state"] == "written_back" and row["local_id"] == "900001"
