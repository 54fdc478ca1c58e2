"""The whole SLF conversation in process: SIS → district zone → LocatorAgent → state zone →
ResolverAgent → SLF tables → scripted SSID database, and back.

The locator is used as-is (settings as in ``tests/locator_agent/conftest.py``); the zones are
``tests.zone.harness`` zones reached through ``ZisTransport`` (no sockets).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sif_agent.locator.agent import LocatorAgent
from sif_agent.locator.store import LocatorStore
from sif_agent.locator.transactions import TxnState
from sif_agent.outbox import Outbox
from sif_agent.resolver.agent import ResolverAgent
from sif_agent.resolver.config import ResolverSettings, from_mapping
from tests.agent.support import ZisTransport, make_agent
from tests.locator_agent.conftest import DISTRICT, LOCATOR, SIS_ZONE, STATE, Clock, fixed_ids, locator_settings
from tests.locator_mapping.conftest import enrollment, personal, school
from tests.zone.harness import Harness

from .ssid_standin import ScriptedSsid

RESOLVER = "State-StudentResolver"
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def resolver_config(database: str, *, zones: list[dict[str, Any]] | None = None, **resolver: Any) -> dict[str, Any]:
    """A resolver configuration (as parsed TOML) with Ohio's columns and state-side ethnicity codes."""
    zones = zones or [{"id": STATE, "url": "https://s.invalid/zones/s", "versions": ["2.1"], "pull_interval": 0.01,
                       "provide": ["StudentLocator"], "respond": ["StudentLocator"],
                       "retry": {"attempts": 2, "initial": 0.001, "maximum": 0.01}}]
    r = {"database": database, "poll_interval": 0.5, "worker_id": "resolver-test",
         "columns": [{"name": "ETHNICITY_CODE", "codes": ["ohio_ethnicity"]},
                     {"name": "ADMISSION_REASON", "length": 4,
                      "path": 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]'},
                     {"name": "NATIVE_LANGUAGE", "path": "Demographics/LanguageList/Language/Code", "length": 3},
                     {"name": "BIRTHPLACE_CITY", "path": "Demographics/PlaceOfBirth", "length": 60}],
         "codes": {"ohio_ethnicity": {"side": "state", "unknown": "error",
                                      "file": str(MAPPINGS / "codes" / "ohio_ethnicity.csv")}}}
    r.update(resolver)
    return {"agent": {"source_id": RESOLVER, "outbox": database.replace("slf.db", "resolver-outbox.db")},
            "zones": zones, "resolver": r}


def resolver_settings(tmp_path: Path, database: str | None = None, **kw) -> ResolverSettings:
    """SQLite by default; with a PostgreSQL ``database`` the outbox stays a SQLite file."""
    cfg = resolver_config(database or f"sqlite+aiosqlite:///{tmp_path}/slf.db", **kw)
    cfg["agent"]["outbox"] = f"sqlite+aiosqlite:///{tmp_path}/resolver-outbox.db"
    return from_mapping(cfg, tmp_path)


@dataclass
class World:
    locator: LocatorAgent
    resolver: ResolverAgent
    ssid: ScriptedSsid
    sis: Any
    clock: Clock
    changes: list = field(default_factory=list)  # StudentPersonal Change objects the SIS received

    async def publish(self, name: str, action: str, obj) -> None:
        await self.sis.publish(SIS_ZONE, name, action, [obj])

    async def new_student(self, sp=None) -> str:
        """Publish SchoolInfo, StudentPersonal and StudentSchoolEnrollment Adds; the TransactionId."""
        await self.publish("SchoolInfo", "Add", school())
        await self.publish("StudentPersonal", "Add", sp or personal())
        await self.publish("StudentSchoolEnrollment", "Add", enrollment())
        await until(lambda: self.locator.store.list(), "the locator opened a transaction")
        [txn] = await self.locator.store.list()
        return txn.transaction_id

    async def state(self, txn_id: str, state: TxnState, timeout: float = 15.0):
        """The locator's transaction once it is in ``state`` with nothing in hand."""
        async def check():
            t = await self.locator.store.get(txn_id)
            return t if t.state is state and self.locator.idle else None

        return await until(check, f"{txn_id} {state.value}", timeout)

    async def slf_empty(self, timeout: float = 10.0) -> None:
        """No SLF row and no unanswered request left (nothing orphaned)."""
        async def check():
            return not await self.resolver.store.rows() and not await self.resolver.store.requests(pending=True) \
                and not await self.resolver.store.batches()

        await until(check, "the SLF tables are empty", timeout)


async def until(check, what: str, timeout: float = 15.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        assert loop.time() < deadline, f"not reached in time: {what}"
        await asyncio.sleep(0.02)


async def start_world(stack: AsyncExitStack, tmp_path: Path, *, query_form: str = "example",
                      resolver: dict[str, Any] | None = None, database: str | None = None) -> World:
    (tmp_path / "d").mkdir(exist_ok=True)
    (tmp_path / "s").mkdir(exist_ok=True)
    hd = await Harness.start(tmp_path / "d")
    stack.push_async_callback(hd.close)
    hs = await Harness.start(tmp_path / "s")
    stack.push_async_callback(hs.close)
    settings = locator_settings(tmp_path, query_form=query_form)
    clock = Clock()
    store = LocatorStore.from_url(settings.database, clock=clock, id_factory=fixed_ids(), rand=lambda: 0.5)
    loc = LocatorAgent(settings, transports={DISTRICT: ZisTransport(hd, LOCATOR), STATE: ZisTransport(hs, LOCATOR)},
                       outbox=Outbox.from_url(settings.agent.outbox), store=store)
    stack.push_async_callback(loc.close)
    rs = resolver_settings(tmp_path, database, **(resolver or {}))
    res = ResolverAgent(rs, transports={STATE: ZisTransport(hs, RESOLVER)})
    stack.push_async_callback(res.close)
    sis, _ = make_agent(hd, tmp_path, "SIS", publish_add=("StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo"),
                        publish_change=("StudentPersonal",), subscribe=("StudentPersonal",))
    ssid = ScriptedSsid(rs.database, on_change=res.wake, extra=rs.extra_columns)
    stack.push_async_callback(ssid.close)
    world = World(loc, res, ssid, sis, clock)

    @sis.on_event("StudentPersonal", "Change")
    async def changed(event, ctx):
        world.changes.extend(o.typed() for o in event.objects)

    await stack.enter_async_context(res.running())
    await stack.enter_async_context(loc.running())
    await stack.enter_async_context(sis.running())
    task = asyncio.create_task(ssid.run(res.store.new_work, interval=0.2))

    async def stop_ssid():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop_ssid)
    return world
