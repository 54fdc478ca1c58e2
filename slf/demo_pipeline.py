"""Demo part 2: the whole Student Locator Framework on this machine, every part real.

One zone server (HTTPS, client certificates, a state zone and two district zones), the
Student Locator between the districts and the state, the Student Resolver, the SLF tables,
the SSID database with its poller, and two simulated district SIS agents:

* district 043802 enrolls new students: the state issues their IDs;
* district 044000 then enrolls some of them again (transfers, with the spelling slips real
  records carry), more new students, a near twin of a known student (the matcher offers
  potential matches; a state user decides it is a different child) and a student without a
  middle name (Ohio requires it: the district is told which field to fix).

Everything runs from the example configurations in conf/ with only the addresses, files and
timings changed, on SQLite files in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SIS_A, SIS_B = "District043802-SIS", "District044000-SIS"
LOCATOR, RESOLVER = "ITC01-StudentLocator", "State-StudentResolver"
ZONE_A, ZONE_B, STATE = "district-043802", "district-044000", "state-zone"
NICKNAMES = {"William": "Bill", "Elizabeth": "Liz", "Robert": "Bob", "Katherine": "Kate", "Alexander": "Alex",
             "Jennifer": "Jenny", "Michael": "Mike", "Margaret": "Maggie", "Christopher": "Chris",
             "Daniel": "Dan", "Benjamin": "Ben", "Samuel": "Sam", "Jonathan": "Jon", "Nicholas": "Nick"}


@dataclass
class Outcome:
    name: str
    kind: str  # new | returning | twin | insufficient
    expected: str  # what should happen, in words
    state_id: str = ""
    ok: bool = False
    note: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # per looked-up student, event to write-back
    exchanges: int = 0


class NotReady(RuntimeError):
    """An agent did not register in its zones: the message says which and why."""


READY_SECONDS = 120.0  # a loaded CI machine can take tens of seconds; a broken setup never gets there


async def _until_set(events: dict[str, asyncio.Event], tasks: list[asyncio.Task], seconds: float) -> None:
    """Wait until every event is set (a server listening, an agent registered and provisioned in a
    zone). A task that stops first, or events still unset after ``seconds``, end the wait with
    the reason."""
    waits = {asyncio.ensure_future(e.wait()): what for what, e in events.items()}
    deadline = time.monotonic() + seconds
    try:
        while waits:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NotReady(f"still waiting after {seconds:.0f} s for: {', '.join(sorted(waits.values()))}")
            done, _ = await asyncio.wait([*waits, *tasks], timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task in done:
                    exc = task.exception()
                    raise NotReady(f"{task.get_name()} stopped early" + (f": {exc!r}" if exc else "")) from exc
            for w in done:
                waits.pop(w, None)
    finally:
        for w in waits:
            w.cancel()


def _toml(name: str) -> dict[str, Any]:
    with open(CONF / name, "rb") as f:
        return tomllib.load(f)


def _zone_table(zone_id: str, url: str, pki, client: str, **objects) -> dict[str, Any]:
    files = pki.client(client)
    return {"id": zone_id, "url": url, "versions": ["2.1"], "pull_interval": 0.05, "timeout": 10.0,
            "tls": {"ca": str(pki.ca_cert), "cert": str(files.cert), "key": str(files.key)},
            "retry": {"attempts": 3, "initial": 0.05, "maximum": 0.5}, **objects}


def _complete(s) -> bool:
    """Every field Ohio requires (the generator, like real SIS data, leaves some blank)."""
    return all((s.middle_name, s.race, s.birth_place_city, s.language, s.admission_reason))


def _variant(s, i: int):
    """The same child as another district recorded them: a nickname, two letters swapped in the
    last name, or exactly as before."""
    if s.first_name in NICKNAMES:
        return replace(s, first_name=NICKNAMES[s.first_name])
    last = s.last_name
    if i % 2:
        for k in range(1, len(last) - 2):
            if last[k] != last[k + 1] and last[k].isalpha() and last[k + 1].isalpha():
                return replace(s, last_name=last[:k] + last[k + 1] + last[k] + last[k + 2:])
    return s


async def run(console: Console, new_students: int = 12) -> Report:
    from sif_agent.locator.agent import LocatorAgent
    from sif_agent.locator.config import from_mapping as locator_settings
    from sif_agent.resolver.agent import ResolverAgent
    from sif_agent.resolver.config import from_mapping as resolver_settings
    from sif_agent.locator.transactions import TxnState
    from sif_agent.sissim import SisSimulator, generate, sim_settings
    from ssid.config import load as ssid_settings
    from ssid.poller import SlfPoller
    from ssid.slf import SlfStatus, parms_table
    from ssid.store import SsidStore
    from zone.acl import Rights
    from zone.config import AgentSettings, ServerSettings, ZoneSettings
    from zone.server import serve
    from zone.tls import make_dev_pki

    tmp = Path(tempfile.mkdtemp(prefix="slf-demo-"))
    pki = make_dev_pki(tmp / "pki", clients=(SIS_A, SIS_B, LOCATOR, RESOLVER))
    everything = Rights.everything()
    agents = tuple(AgentSettings(source_id=a, rights=everything) for a in (SIS_A, SIS_B, LOCATOR, RESOLVER))
    zones = tuple(ZoneSettings(id=z, source_id=f"ZIS-{z}", authentication="certificate", agents=agents)
                  for z in (ZONE_A, ZONE_B, STATE))
    server_settings = ServerSettings(host="127.0.0.1", port=0, tls_cert=pki.server_cert, tls_key=pki.server_key,
                                     client_ca=pki.ca_cert, database=f"sqlite+aiosqlite:///{tmp / 'zone.db'}",
                                     zones=zones)
    report = Report()
    stop = asyncio.Event()
    ready = asyncio.Event()
    listening: list[str] = []  # the server picks a free port itself: no other process can take it first

    def started(base: str) -> None:
        listening.append(base)
        ready.set()

    async with contextlib.AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)  # last, once every part has stopped
        server = asyncio.create_task(serve(server_settings, stop=stop, ready=started), name="the zone server")
        stack.push_async_callback(lambda: server)
        stack.callback(stop.set)
        await _until_set({"the zone server": ready}, [server], READY_SECONDS)
        url = f"{listening[0]}/zones"
        slf_db = f"sqlite+aiosqlite:///{tmp / 'slf.db'}"

        # the resolver: conf/resolver.example.toml with this machine's zone, files and a short poll
        r = _toml("resolver.example.toml")
        r["agent"]["outbox"] = str(tmp / "resolver-outbox.db")
        r["zones"] = [_zone_table(STATE, f"{url}/{STATE}", pki, RESOLVER, provide=["StudentLocator"],
                                  respond=["StudentLocator"])]
        r["resolver"].update(database=slf_db, poll_interval=0.2, listen=False)
        resolver = ResolverAgent(resolver_settings(r, CONF))

        # the locator: conf/locator.example.toml, two districts, quick follow-ups for the demo
        loc = _toml("locator.example.toml")
        loc.pop("notify", None)
        loc["agent"]["outbox"] = str(tmp / "locator-outbox.db")
        district = {"subscribe": ["StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo"],
                    "publish_change": ["StudentPersonal"]}
        loc["zones"] = [_zone_table(ZONE_A, f"{url}/{ZONE_A}", pki, LOCATOR, **district),
                        _zone_table(ZONE_B, f"{url}/{ZONE_B}", pki, LOCATOR, **district),
                        _zone_table(STATE, f"{url}/{STATE}", pki, LOCATOR, request=["StudentLocator"])]
        template = loc["locator"]["districts"][0]
        loc["locator"].update(database=str(tmp / "locator.db"), state_zone=STATE, due_interval=0.2,
                              transactions={"follow_up": [0.5], "follow_up_then": 1.0,
                                            "fault": [1.0], "fault_then": 2.0},
                              districts=[{**template, "zone": ZONE_A, "district_irn": "043802"},
                                         {**template, "zone": ZONE_B, "district_irn": "044000"}])
        locator = LocatorAgent(locator_settings(loc, CONF))

        # the SSID database behind the SLF tables
        ssid_conf = ssid_settings(CONF / "ssid.example.toml")
        ssid_db = f"sqlite+aiosqlite:///{tmp / 'ssid.db'}"
        store = SsidStore.from_url(ssid_db, replace(ssid_conf, database=ssid_db))
        poller = SlfPoller(store, slf_db)

        def sis(name: str, zone: str, students, irn: str) -> SisSimulator:
            files = pki.client(name)
            settings = sim_settings(f"{url}/{zone}", name, zone_id=zone, versions=("2.1",), ca=pki.ca_cert,
                                    cert=files.cert, key=files.key, outbox=tmp / f"{name}-outbox.db",
                                    pull_interval=0.05)
            return SisSimulator(settings, students, district_irn=irn)

        await store.migrate()
        stack.push_async_callback(store.close)
        poller_stop = asyncio.Event()
        background = [asyncio.create_task(resolver.run(), name="the resolver"),
                      asyncio.create_task(locator.run(), name="the locator"),
                      asyncio.create_task(poller.run(poller_stop, 0.2), name="the SSID poller")]

        async def stop_agents() -> None:
            poller_stop.set()
            resolver.stop()
            locator.stop()
            await asyncio.gather(*background, return_exceptions=True)
            await poller.close()

        stack.push_async_callback(stop_agents)
        await _until_set({f"{name} registered in {zone}": e
                          for name, agent in ((RESOLVER, resolver.agent), (LOCATOR, locator.agent))
                          for zone, e in agent.ready.items()}, background, READY_SECONDS)

        # --- district 043802: new students
        first = [s for s in generate(new_students * 2, seed=7, twins=0) if _complete(s)][:new_students]
        with console.status(f"district 043802 enrolls {len(first)} new students…"):
            sim_a = sis(SIS_A, ZONE_A, first, "043802")
            results_a = await sim_a.run(wait=120, connect_timeout=30)
        issued = {r.local_id: r.state_province_id for r in results_a.all()}
        for s in first:
            sid = issued.get(s.local_id, "")
            report.outcomes.append(Outcome(f"{s.first_name} {s.last_name}", "new", "a new state ID", sid, bool(sid)))

        # --- district 044000: transfers, new students, a near twin, a record missing a field
        transfers = [replace(_variant(s, i), local_id=f"9{s.local_id}") for i, s in enumerate(first[:len(first) // 2])]
        newer = [s for s in generate(new_students, seed=11, twins=0) if _complete(s)][:max(2, new_students // 3)]
        known = first[-1]
        twin = replace(known, local_id="777001", first_name="Amira" if known.first_name != "Amira" else "Amara")
        missing = replace(newer[-1], local_id="777002", first_name="Lukas", middle_name="")
        newer = newer[:-1]
        second = transfers + newer + [twin, missing]
        staff = asyncio.create_task(_state_staff(poller, parms_table, SlfStatus, poller_stop))
        with console.status(f"district 044000 enrolls {len(second)} students (transfers, new, a twin, one "
                            "record missing a field)…"):
            sim_b = sis(SIS_B, ZONE_B, second, "044000")
            async with sim_b.agent.running(timeout=30):
                await sim_b.publish_all()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    got = {r.local_id for r in sim_b.results.received()}
                    if got >= {s.local_id for s in second if s is not missing}:
                        txns = await locator.store.list(district="044000")
                        if any(t.local_id == missing.local_id and t.state is TxnState.ERROR for t in txns):
                            break
                    await asyncio.sleep(0.2)
        staff.cancel()  # and awaited: cancelled again at exit while closing a connection, it could hang the loop
        await asyncio.gather(staff, return_exceptions=True)
        results_b = {r.local_id: r.state_province_id for r in sim_b.results.all()}
        by_local = {s.local_id: s for s in first}
        for s in transfers:
            before = by_local[s.local_id[1:]]
            original = issued.get(before.local_id, "")
            sid = results_b.get(s.local_id, "")
            as_before = (s.first_name, s.last_name) == (before.first_name, before.last_name)
            report.outcomes.append(Outcome(
                f"{s.first_name} {s.last_name}", "returning",
                "the ID issued in 043802" + ("" if as_before else f" (as {before.first_name} {before.last_name})"),
                sid, bool(sid) and sid == original))
        for s in newer:
            sid = results_b.get(s.local_id, "")
            report.outcomes.append(Outcome(f"{s.first_name} {s.last_name}", "new", "a new state ID", sid,
                                           bool(sid) and sid not in issued.values()))
        sid = results_b.get(twin.local_id, "")
        txns = await locator.store.list()
        twin_txn = next((t for t in txns if t.local_id == twin.local_id), None)
        offered = [c.state_id for c in twin_txn.candidates] if twin_txn else []
        report.outcomes.append(Outcome(f"{twin.first_name} {twin.last_name}", "near twin",
                                       f"potential match with {known.first_name}; a state user decides: "
                                       "another child, a new ID", sid,
                                       bool(sid) and sid != issued.get(known.local_id)
                                       and issued.get(known.local_id) in offered,
                                       f"offered: {', '.join(offered) or 'none'}"))
        bad = next((t for t in txns if t.local_id == missing.local_id), None)
        report.outcomes.append(Outcome(f"{missing.first_name} {missing.last_name}", "insufficient data",
                                       "no ID; the district is told what to fix",
                                       "", bad is not None and bad.state is TxnState.ERROR,
                                       _missing(bad.error_text) if bad else "no transaction"))
        report.seconds = sorted(t.updated_at - t.created_at for t in txns if t.state is TxnState.WRITTEN_BACK)
    return report


def _missing(error_text: str | None) -> str:
    """The state's error, shortened to the fields it names ("missing LEGAL_MIDDLE_NAME")."""
    text = error_text or ""
    start = text.find("missing ")
    return text[start:text.find(".", start)] if start >= 0 else text[:60]


async def _state_staff(poller, parms_table, status, stop) -> None:
    """A state user at the review screen: every potential match is judged a different child."""
    table = parms_table()
    from sqlalchemy import select

    seen: set[str] = set()
    while not stop.is_set():
        async with poller.slf.connect() as conn:
            rows = (await conn.execute(select(table.c.SLF_TRANSACTION_GUID).where(
                table.c.N_SLF_STATUS == int(status.RESOLUTION_IN_PROGRESS)))).scalars().all()
        for txn in rows:
            if txn not in seen:
                seen.add(txn)
                await poller.resolve(txn, new=True, user="state-reviewer")
        await asyncio.sleep(0.2)
