"""Two in-process zones (district and state), the locator between them, a scripted SIS and
a scripted state responder (no sockets except the optional loopback SMTP server)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from messages import Request
from messages.objects import IdStatus, StudentLocator
from sif_agent.config import AgentSettings, ObjectLists, RetrySettings, ZoneSettings
from sif_agent.locator import mapping
from sif_agent.locator.agent import LocatorAgent
from sif_agent.locator.config import DistrictSettings, LocatorSettings
from sif_agent.locator.determination import Mode
from sif_agent.locator.store import LocatorStore
from sif_agent.outbox import Outbox
from tests.agent.support import ZisTransport, make_agent
from tests.zone.harness import Harness

LOCATOR = "ITC01-StudentLocator"
DISTRICT, STATE = "district-043802", "state"
STATE_ID = "AB1234567"
SIS_ZONE = "test-zone"  # the SIS agent's own name for the district zone
PATTERN = "^[A-Z]{2}[0-9]{7}$"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request_txn(request: Request) -> tuple[str, str, str]:
    """(TransactionId, IdStatus, StateProvinceId) of a StudentLocator request, either form."""
    q = request.query
    if q.example is not None:
        loc = q.example.typed()
        return loc.transaction_id, loc.id_status, loc.state_province_id
    conds = {c.element: c.value for c in q.condition_group.flat()}
    return conds["@TransactionId"], conds["@IdStatus"], conds.get("StateProvinceId", "")


def valid(txn: str, sid: str = STATE_ID) -> list[StudentLocator]:
    return [StudentLocator(id_status=IdStatus.VALID.value, transaction_id=txn, state_province_id=sid,
                           confidence="100")]


@dataclass
class World:
    locator: LocatorAgent
    sis: object
    resolver: object
    clock: Clock
    changes: list = field(default_factory=list)  # StudentPersonal Change objects the SIS received
    requests: list = field(default_factory=list)  # (txn, IdStatus, StateProvinceId, request)
    answer: Callable[[str, str, str], list] = lambda txn, status, sid: valid(txn)

    @property
    def store(self) -> LocatorStore:
        return self.locator.store

    async def publish(self, name: str, action: str, obj) -> None:
        await self.sis.publish(SIS_ZONE, name, action, [obj])


async def until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def settled(w, txn_id: str, state, *, responses: int | None = None, timeout: float = 10.0):
    """The transaction once it is in ``state`` (and has ``responses`` answers applied or recorded)
    with nothing in hand: requests are sent without waiting, so answers land a moment later."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        txn = await w.store.get(txn_id)
        got = sum(r.kind == "response" for r in await w.store.receipts(txn_id))
        if txn.state is state and w.locator.idle and (responses is None or got >= responses):
            return txn
        assert loop.time() < deadline, f"{txn_id} is {txn.state.value} with {got} answer(s), not {state.value}"
        await asyncio.sleep(0.01)


def locator_settings(tmp_path: Path, *, mode=Mode.ON_ADDS, query_form="example", notify=None,
                     request_timeout=5.0, due_interval=30.0) -> LocatorSettings:
    retry = RetrySettings(attempts=2, initial=0.001, maximum=0.01)
    zones = (
        ZoneSettings(id=DISTRICT, url="https://d.invalid/zones/d", source_id=LOCATOR, pull_interval=0.01,
                     request_timeout=request_timeout, retry=retry,
                     objects=ObjectLists(subscribe=("StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo"),
                                         publish_change=("StudentPersonal",))),
        ZoneSettings(id=STATE, url="https://s.invalid/zones/s", source_id=LOCATOR, pull_interval=0.01,
                     request_timeout=request_timeout, retry=retry,
                     objects=ObjectLists(request=("StudentLocator",))),
    )
    agent = AgentSettings(source_id=LOCATOR, name="locator", zones=zones,
                          outbox=f"sqlite+aiosqlite:///{tmp_path}/locator-outbox.db")
    district = DistrictSettings(zone=DISTRICT, mode=Mode.parse(mode), school_year="2027", district_irn="043802",
                                mapping=mapping.load_named("ohio"), state_id_pattern=PATTERN)
    return LocatorSettings(agent=agent, database=f"sqlite+aiosqlite:///{tmp_path}/locator.db", state_zone=STATE,
                           districts=(district,), query_form=query_form, notify=notify,
                           due_interval=due_interval)


def fixed_ids():
    counter = itertools.count(1)
    return lambda: f"{next(counter):032X}"


@pytest.fixture
async def world_factory(tmp_path):
    made: list = []

    async def make(**kw) -> World:
        (tmp_path / "d").mkdir(exist_ok=True)
        (tmp_path / "s").mkdir(exist_ok=True)
        hd = await Harness.start(tmp_path / "d")
        hs = await Harness.start(tmp_path / "s")
        settings = locator_settings(tmp_path, **kw)
        clock = Clock()
        store = LocatorStore.from_url(settings.database, clock=clock, id_factory=fixed_ids(), rand=lambda: 0.5)
        loc = LocatorAgent(settings, transports={DISTRICT: ZisTransport(hd, LOCATOR), STATE: ZisTransport(hs, LOCATOR)},
                           outbox=Outbox.from_url(settings.agent.outbox), store=store)
        sis, _ = make_agent(hd, tmp_path, "SIS", publish_add=("StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo"),
                            publish_change=("StudentPersonal",), subscribe=("StudentPersonal",))
        res, _ = make_agent(hs, tmp_path, "Resolver", provide=("StudentLocator",), respond=("StudentLocator",))
        world = World(loc, sis, res, clock)

        @sis.on_event("StudentPersonal", "Change")
        async def changed(event, ctx):
            world.changes.extend(o.typed() for o in event.objects)

        @res.on_request("StudentLocator")
        async def answer(request, ctx):
            txn, status, sid = request_txn(request)
            world.requests.append((txn, status, sid, request))
            return world.answer(txn, status, sid)

        made.append((hd, hs, world))
        return world

    yield make
    for hd, hs, world in made:
        await world.locator.close()
        await hd.close()
        await hs.close()

