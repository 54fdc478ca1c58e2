"""End to end over real HTTPS: SIS → district zone → locator → state zone → `slf resolver run`
(a separate process) → SLF tables → scripted SSID database → resolver → locator → SIS.

One zone process (state and district zones, strict validation on the state zone, client
certificates), the resolver as its own process on a SQLite SLF database that the scripted
database (in this process) shares; the locator and the SIS run in this process so the test
can drive the locator's console actions and clock. Six students, one per outcome: match,
new, ambiguous resolved at the state, ambiguous resolved at the district, insufficient
data, cancel. At the end the resolver stops on SIGTERM, the SLF tables hold nothing, and
the resolver's log has no error.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import replace

import pytest

from messages.objects import Name
from sif_agent.config import AgentSettings, ObjectLists, RetrySettings, TlsSettings, ZoneSettings
from sif_agent.locator import mapping
from sif_agent.locator.agent import LocatorAgent
from sif_agent.locator.config import DistrictSettings, LocatorSettings
from sif_agent.locator.determination import Mode
from sif_agent.locator.store import LocatorStore
from sif_agent.locator.transactions import Trigger, TxnState
from sif_agent.resolver.store import ResolverStore
from sif_agent.resolver.tables import AttributeColumn
from sif_agent.runtime import Agent
from tests.locator_agent.conftest import Clock
from tests.locator_mapping.conftest import enrollment, personal, school
from tests.zone.process import ZoneProcess

from . import ssid_standin as db
from .https import DISTRICT_ZONE, STATE_ZONE, ResolverProcess, resolver_toml
from .world import until

LOCATOR, SIS = "ITC01-StudentLocator", "District043802-SIS"
EXTRA = (AttributeColumn("BIRTHPLACE_CITY", "Demographics/PlaceOfBirth", 60),)
RETRY = RetrySettings(attempts=3, initial=0.02, maximum=0.2)


def tls(zone: ZoneProcess, who: str) -> TlsSettings:
    files = zone.pki.client(who)
    return TlsSettings(ca=zone.pki.ca_cert, cert=files.cert, key=files.key)


def locator_settings(tmp, zone: ZoneProcess, form: str) -> LocatorSettings:
    zones = (
        ZoneSettings(id=DISTRICT_ZONE, url=zone.url(DISTRICT_ZONE), source_id=LOCATOR, versions=("2.0r1",),
                     pull_interval=0.05, retry=RETRY, tls=tls(zone, LOCATOR),
                     objects=ObjectLists(subscribe=("StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo"),
                                         publish_change=("StudentPersonal",))),
        ZoneSettings(id=STATE_ZONE, url=zone.url(STATE_ZONE), source_id=LOCATOR, versions=("2.1",),
                     pull_interval=0.05, retry=RETRY, tls=tls(zone, LOCATOR),
                     objects=ObjectLists(request=("StudentLocator",))),
    )
    agent = AgentSettings(source_id=LOCATOR, name="locator", zones=zones,
                          outbox=f"sqlite+aiosqlite:///{tmp}/locator-outbox.db")
    district = DistrictSettings(zone=DISTRICT_ZONE, mode=Mode.ON_ADDS, school_year="2027", district_irn="043802",
                                mapping=mapping.load_named("ohio"))
    return LocatorSettings(agent=agent, database=f"sqlite+aiosqlite:///{tmp}/locator.db", state_zone=STATE_ZONE,
                           districts=(district,), query_form=form)


def sis_agent(tmp, zone: ZoneProcess) -> Agent:
    z = ZoneSettings(id=DISTRICT_ZONE, url=zone.url(DISTRICT_ZONE), source_id=SIS, versions=("2.0r1",),
                     pull_interval=0.05, retry=RETRY, tls=tls(zone, SIS),
                     objects=ObjectLists(provide=("SchoolInfo", "StudentPersonal", "StudentSchoolEnrollment"),
                                         publish_add=("SchoolInfo", "StudentPersonal", "StudentSchoolEnrollment"),
                                         publish_change=("StudentPersonal",), subscribe=("StudentPersonal",)))
    return Agent(AgentSettings(source_id=SIS, name="SIS", zones=(z,),
                               outbox=f"sqlite+aiosqlite:///{tmp}/sis-outbox.db"))


async def start_locator_and_sis(stack: AsyncExitStack, tmp, zone: ZoneProcess, form: str):
    """The Student Locator and a district SIS that records every StudentPersonal Change it gets
    (the write-backs), both running until ``stack`` closes: (locator, sis, changes, clock)."""
    settings = locator_settings(tmp, zone, form)
    clock = Clock()
    loc = LocatorAgent(settings, store=LocatorStore.from_url(settings.database, clock=clock, rand=lambda: 0.5))
    stack.push_async_callback(loc.close)
    sis = sis_agent(tmp, zone)
    changes: list = []

    @sis.on_event("StudentPersonal", "Change")
    async def changed(event, ctx):
        changes.extend(o.typed() for o in event.objects)

    await stack.enter_async_context(loc.running())
    await stack.enter_async_context(sis.running())
    return loc, sis, changes, clock


#: first name → (what the scripted database decides, the outcome at the locator)
STUDENTS = {
    "Matthew": "match", "Nadia": "new", "Ambra": "state-resolves", "Ambrose": "district-resolves",
    "Erin": "insufficient", "Cecile": "cancel",
}


def decide(row) -> db.Decision:
    kind = STUDENTS[row["LEGAL_FIRST_NAME"]]
    if kind == "match":
        return db.match("OH0000001")
    if kind == "new":
        return db.new("OH0000002")
    if kind in ("state-resolves", "district-resolves"):
        return db.ambiguous(*db.CANDIDATES)
    if kind == "cancel":
        return db.HOLD
    return db.default_decide(row)  # no middle name: 10 ERROR, "Insufficient data"


def student(n: int, first: str):
    ref = f"{n + 1:032X}"
    middle = None if STUDENTS[first] == "insufficient" else "Grace"
    sp = replace(personal(name=Name(type="04", last_name="Okafor", first_name=first, middle_name=middle)),
                 ref_id=ref, local_id=f"10{n:04d}")
    sse = replace(enrollment(), ref_id=f"E{n + 1:031X}", student_personal_ref_id=ref)
    return sp, sse


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    z = ZoneProcess.create(tmp_path_factory.mktemp("zone")).start()
    yield z
    z.stop()


@pytest.mark.parametrize("form", ["example", "conditions"])
async def test_every_outcome_over_https(zone, tmp_path, form):
    slf = f"sqlite+aiosqlite:///{tmp_path}/slf.db"
    resolver = ResolverProcess(resolver_toml(tmp_path, zone, slf, worker_id=f"e2e-{form}"), tmp_path / "resolver.log")
    resolver.start()
    try:
        await asyncio.to_thread(resolver.wait_registered)
        async with AsyncExitStack() as stack:
            ssid = db.ScriptedSsid(slf, decide=decide, extra=EXTRA)
            stack.push_async_callback(ssid.close)
            loc, sis, changes, clock = await start_locator_and_sis(stack, tmp_path, zone, form)
            task = asyncio.create_task(ssid.run(interval=0.05))

            async def stop_ssid() -> None:  # cancelled and awaited (docs/architecture.md, asyncio rule)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            stack.push_async_callback(stop_ssid)

            await sis.publish(DISTRICT_ZONE, "SchoolInfo", "Add", [school()])
            txns = {}
            for n, first in enumerate(STUDENTS):
                sp, sse = student(n, first)
                await sis.publish(DISTRICT_ZONE, "StudentPersonal", "Add", [sp])
                await sis.publish(DISTRICT_ZONE, "StudentSchoolEnrollment", "Add", [sse])
                txns[first] = sp.ref_id

            async def txn(first: str):
                return await loc.store.latest_for_student(DISTRICT_ZONE, txns[first])

            async def reached(first: str, state: TxnState, timeout: float = 30.0):
                async def check():
                    t = await txn(first)
                    return t if t is not None and t.state is state else None
                return await until(check, f"{first}: {state.value}", timeout)

            match = await reached("Matthew", TxnState.WRITTEN_BACK)
            new = await reached("Nadia", TxnState.WRITTEN_BACK)
            error = await reached("Erin", TxnState.ERROR)
            amb_state = await reached("Ambra", TxnState.AMBIGUOUS)
            amb_district = await reached("Ambrose", TxnState.AMBIGUOUS)
            cancel = await reached("Cecile", TxnState.SENT)
            assert (match.state_id, new.state_id) == ("OH0000001", "OH0000002")
            assert "Insufficient data: LEGAL_MIDDLE_NAME is required" in error.error_text
            assert [c.state_id for c in amb_state.candidates] == ["AB1234567", "CD7654321", "EF1111111"]

            # ambiguous, resolved at the state: staff pick in the web UI; the locator's follow-up hears it
            slf_store = ResolverStore.from_url(slf, extra_columns=EXTRA)
            stack.push_async_callback(slf_store.close)
            await until(lambda: _status(slf_store, amb_state.transaction_id, 8), "Ambra at 8")
            await ssid.resolve(amb_state.transaction_id, db.match("CD7654321"))
            # ambiguous, resolved at the district: console `resolve --pick`
            await loc.records.queue_action(amb_district.transaction_id, "resolve", "EF1111111", clock())
            # cancel at the console while the database works on it
            await until(lambda: _status(slf_store, cancel.transaction_id, 2), "Cecile at 2")
            await loc.store.apply_trigger(cancel.transaction_id, Trigger.CANCEL, summary="console")
            await loc.records.queue_action(cancel.transaction_id, "cancel", None, clock())
            clock.now += 301  # follow-ups of the ambiguous ones are due
            await loc.run_due()

            resolved_state = await reached("Ambra", TxnState.WRITTEN_BACK)
            resolved_district = await reached("Ambrose", TxnState.WRITTEN_BACK)
            cancelled = await reached("Cecile", TxnState.CANCELLED)
            assert (resolved_state.state_id, resolved_district.state_id) == ("CD7654321", "EF1111111")
            await until(lambda: len(changes) == 4, "four write-backs")
            assert sorted(c.state_province_id for c in changes) == ["CD7654321", "EF1111111", "OH0000001",
                                                                   "OH0000002"]

            async def empty():
                return not await slf_store.rows() and not await slf_store.batches() \
                    and not await slf_store.requests(pending=True)

            await until(empty, "nothing left in the SLF tables")
            log = await slf_store.requests(cancelled.transaction_id)
            assert [(r["ID_STATUS"], r["ANSWER"]) for r in log] == [("Request", "Cancelled"), ("Cancel", "Cancelled")]
        assert resolver.terminate() == 0  # SIGTERM: a graceful stop
    finally:
        resolver.kill()
    text = resolver.text()
    assert "Traceback" not in text and " ERROR " not in text, text[-3000:]
    assert "answered Valid" in text and "answered Ambiguous" in text and "answered Cancelled" in text


async def _status(store: ResolverStore, txn_id: str, status: int) -> bool:
    row = await store.row(txn_id)
    return row is not None and row["N_SLF_STATUS"] == status
