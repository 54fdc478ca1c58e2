"""The whole pipeline over real HTTPS, with every real part and the real SSID database:

simulated SIS → district zone → Student Locator → state zone → `slf resolver run` (its own
process) → SLF tables (a SQLite file) → ``ssid.poller.SlfPoller`` over an SSID database seeded
with students → resolver → locator → the SIS receives the StateProvinceId.

Four kinds of student: returning (the existing ID), new (a new ID), a near twin (potential
matches; a state user then picks one with ``SlfPoller.resolve`` and the locator's follow-up
hears it), and insufficient data (the locator's transaction ends in ERROR naming the field).
What a user checks: each student's SIS record is written back exactly once, with the right ID.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import replace

import pytest

from messages.objects import Name
from sif_agent.locator.transactions import TxnState
from sif_agent.resolver.store import ResolverStore
from sif_agent.resolver.tables import AttributeColumn
from ssid.audit import Actor
from ssid.config import load
from ssid.poller import SlfPoller
from ssid.store import SsidStore
from tests.locator_mapping.conftest import enrollment, personal, school
from tests.resolver.https import DISTRICT_ZONE, ResolverProcess, resolver_toml
from tests.resolver.test_https import start_locator_and_sis
from tests.resolver.world import until
from tests.zone.process import ZoneProcess

from .conftest import AMARA, EXAMPLE

EXTRA = (AttributeColumn("BIRTHPLACE_CITY", "Demographics/PlaceOfBirth", 60),
         AttributeColumn("NATIVE_LANGUAGE", "Demographics/LanguageList/Language/Code", 3),
         AttributeColumn("ADMISSION_REASON", 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]', 4))
#: Ohio's two more columns (conf/resolver.example.toml), added to the resolver test configuration
MORE_COLUMNS = '''
[[resolver.columns]]
name = "NATIVE_LANGUAGE"
path = "Demographics/LanguageList/Language/Code"
length = 3

[[resolver.columns]]
name = "ADMISSION_REASON"
path = 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]'
length = 4
'''

MATTHEW = {**AMARA, "LegalFirstName": "Matthew", "LegalMiddleName": "James", "LegalLastName": "Brennan",
           "BirthDate": "2016-03-02", "Gender": "M"}
AMIRA = {**AMARA, "LegalFirstName": "Amira", "LegalMiddleName": "Joy"}  # Amara's twin
#: first name → (last, middle, birth date, gender, what should happen)
STUDENTS = {
    "Matthew": ("Brennan", "James", "2016-03-02", "M", "match"),
    "Nadia": ("Haddad", "Rose", "2015-11-20", "F", "new"),
    "Amera": ("Okafor", None, "2017-04-12", "F", "twin"),
    "Erin": ("Walsh", None, "2014-06-30", "F", "insufficient"),
}


def student(n: int, first: str):
    last, middle, birth, gender, _ = STUDENTS[first]
    ref = f"{n + 1:032X}"
    sp = personal(name=Name(type="04", last_name=last, first_name=first, middle_name=middle))
    sp = replace(sp, ref_id=ref, local_id=f"20{n:04d}",
                 demographics=replace(sp.demographics, birth_date=birth, gender=gender))
    sse = replace(enrollment(), ref_id=f"E{n + 1:031X}", student_personal_ref_id=ref)
    return sp, sse


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    z = ZoneProcess.create(tmp_path_factory.mktemp("zone")).start()
    yield z
    z.stop()


async def test_the_whole_pipeline_over_https(zone, tmp_path):
    slf = f"sqlite+aiosqlite:///{tmp_path}/slf.db"
    config = resolver_toml(tmp_path, zone, slf, worker_id="ssid-e2e")
    config.write_text(config.read_text() + MORE_COLUMNS)
    resolver = ResolverProcess(config, tmp_path / "resolver.log")
    resolver.start()
    try:
        await asyncio.to_thread(resolver.wait_registered)
        async with AsyncExitStack() as stack:
            # the SSID database, seeded with a returning student and a pair of twins
            store = SsidStore.from_url(f"sqlite+aiosqlite:///{tmp_path}/ssid.db", load(EXAMPLE))
            stack.push_async_callback(store.close)
            await store.migrate()
            async with store.write() as conn:
                seeded = {v["LegalFirstName"]: (await store.create_student(conn, v, Actor("seed"))).student_id
                          for v in (MATTHEW, AMARA, AMIRA)}
            poller = SlfPoller(store, slf)
            stack.push_async_callback(poller.close)

            loc, sis, changes, clock = await start_locator_and_sis(stack, tmp_path, zone, "example")
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop, interval=0.05))

            async def stop_poller():
                stop.set()
                await asyncio.wait_for(task, 10)
            stack.push_async_callback(stop_poller)

            await sis.publish(DISTRICT_ZONE, "SchoolInfo", "Add", [school()])
            refs = {}
            for n, first in enumerate(STUDENTS):
                sp, sse = student(n, first)
                await sis.publish(DISTRICT_ZONE, "StudentPersonal", "Add", [sp])
                await sis.publish(DISTRICT_ZONE, "StudentSchoolEnrollment", "Add", [sse])
                refs[first] = sp.ref_id

            async def reached(first: str, state: TxnState, timeout: float = 40.0):
                async def check():
                    t = await loc.store.latest_for_student(DISTRICT_ZONE, refs[first])
                    return t if t is not None and t.state is state else None
                return await until(check, f"{first}: {state.value}", timeout)

            match = await reached("Matthew", TxnState.WRITTEN_BACK)
            new = await reached("Nadia", TxnState.WRITTEN_BACK)
            error = await reached("Erin", TxnState.ERROR)
            twin = await reached("Amera", TxnState.AMBIGUOUS)
            assert match.state_id == seeded["Matthew"]
            assert new.state_id not in seeded.values() and len(new.state_id) == 9
            assert (await store.student(new.state_id)).values["LegalLastName"] == "Haddad"
            assert "LEGAL_MIDDLE_NAME" in error.error_text, error.error_text
            assert {c.state_id for c in twin.candidates} == {seeded["Amara"], seeded["Amira"]}

            # a state user picks Amira once the resolver has answered Ambiguous (7 → 8)
            slf_store = ResolverStore.from_url(slf, extra_columns=EXTRA)
            stack.push_async_callback(slf_store.close)

            async def at_8():
                row = await slf_store.row(twin.transaction_id)
                return row is not None and row["N_SLF_STATUS"] == 8
            await until(at_8, "Amera at 8")
            await poller.resolve(twin.transaction_id, pick=seeded["Amira"], user="state-clerk")
            clock.now += 301  # the locator's follow-up of the ambiguous transaction is due
            await loc.run_due()
            resolved = await reached("Amera", TxnState.WRITTEN_BACK)
            assert resolved.state_id == seeded["Amira"]

            # what the SIS sees: one write-back per identified student, each with the right ID
            await until(lambda: len(changes) >= 3, "three write-backs")
            await asyncio.sleep(0.5)  # nothing else arrives
            got = {c.ref_id: c.state_province_id for c in changes}
            assert Counter(c.ref_id for c in changes) == Counter([refs["Matthew"], refs["Nadia"], refs["Amera"]])
            assert got == {refs["Matthew"]: seeded["Matthew"], refs["Nadia"]: new.state_id,
                           refs["Amera"]: seeded["Amira"]}
            # the SSID database: one new student, an alias for the twin's new spelling, nothing for Erin
            assert (await store.counts())["active"] == 4
            assert any(a.source == "slf" for a in await store.aliases(seeded["Amira"]))

            async def empty():
                return not await slf_store.rows() and not await slf_store.requests(pending=True)
            await until(empty, "nothing left in the SLF tables")
        assert resolver.terminate() == 0
    finally:
        resolver.kill()
    text = resolver.text()
    assert "Traceback" not in text and " ERROR " not in text, text[-3000:]
