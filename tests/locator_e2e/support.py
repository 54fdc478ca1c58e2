"""Processes and scripted peers for the Student Locator end-to-end tests over real HTTPS.

Two zone processes (`slf zone serve`, each with its own development PKI): the district zone
and the state zone, so that the state zone can be taken down alone. The locator runs as
`slf locator run` (so it can be SIGKILLed), the district SIS as `slf sis-sim run`. In the test's
own event loop: a scripted state responder (StudentLocator provider, answers after a delay
through the runtime's deferred answers) and a district auditor that counts the locator's
StudentPersonal Change events per student.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from messages.objects import IdStatus, StudentLocator
from sif_agent.config import AgentSettings, ObjectLists, RetrySettings, TlsSettings, ZoneSettings
from sif_agent.handlers import DEFERRED
from sif_agent.requests import RequestRef
from sif_agent.runtime import Agent
from tests.zone.process import SLF, AgentProcess, ZoneProcess

LOCATOR, RESOLVER, SIS, AUDITOR = "ITC01-StudentLocator", "State-StudentResolver", "District043802-SIS", "Agent-5"
DISTRICT_ZONE, STATE_ZONE = "district-zone", "state-zone"


def state_id(first: str, last: str, birth_date: str) -> str:
    """The ID the scripted state gives a student: derived from who the student is, so a test
    can tell the right ID from a wrong one."""
    key = f"{first.strip().upper()}|{last.strip().upper()}|{birth_date}".encode()
    return f"OH{zlib.crc32(key) % 10**7:07d}"


def locator_config(tmp: Path, district: ZoneProcess, state: ZoneProcess, *, state_ca: Path | None = None,
                   response_timeout: float = 60.0, fault: float = 0.5) -> Path:
    d, s = district.pki.client(LOCATOR), state.pki.client(LOCATOR)
    path = tmp / "locator.toml"
    path.write_text(f'''
[agent]
source_id = "{LOCATOR}"
outbox = "{tmp / 'locator-outbox.db'}"

[[zones]]
id = "{DISTRICT_ZONE}"
url = "{district.url(DISTRICT_ZONE)}"
versions = ["2.0r1"]
pull_interval = 0.05
subscribe = ["StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo"]
publish_change = ["StudentPersonal"]
[zones.tls]
ca = "{district.pki.ca_cert}"
cert = "{d.cert}"
key = "{d.key}"
[zones.retry]
attempts = 2
initial = 0.05
maximum = 0.2

[[zones]]
id = "{STATE_ZONE}"
url = "{state.url(STATE_ZONE)}"
versions = ["2.1"]
pull_interval = 0.05
timeout = 5.0
request = ["StudentLocator"]
[zones.tls]
ca = "{state_ca or state.pki.ca_cert}"
cert = "{s.cert}"
key = "{s.key}"
[zones.retry]
attempts = 2
initial = 0.05
maximum = 0.2

[locator]
database = "{tmp / 'locator.db'}"
state_zone = "{STATE_ZONE}"
due_interval = 0.2

[locator.transactions]
response_timeout = {response_timeout}
fault = [{fault}]
fault_then = {fault}

[[locator.districts]]
zone = "{DISTRICT_ZONE}"
mode = 1
school_year = "2027"
district_irn = "043802"
mapping = "ohio"
''')
    return path


class LocatorProcess(AgentProcess):
    """`slf locator run`; ``registered(zones)`` says when events published from now on reach it
    (a zone fans an event out to the subscribers it has when the event arrives)."""

    command = "locator"


def _agent(zone: ZoneProcess, tmp: Path, source_id: str, zone_id: str, **objects) -> Agent:
    files = zone.pki.client(source_id)
    settings = AgentSettings(
        source_id=source_id, name=source_id, outbox=f"sqlite+aiosqlite:///{tmp}/{source_id}-outbox.db",
        zones=(ZoneSettings(id=zone_id, url=zone.url(zone_id), source_id=source_id,
                            versions=("2.1",) if zone_id == STATE_ZONE else ("2.0r1",), pull_interval=0.05,
                            tls=TlsSettings(ca=zone.pki.ca_cert, cert=files.cert, key=files.key),
                            retry=RetrySettings(attempts=3, initial=0.05, maximum=0.2),
                            objects=ObjectLists(**objects)),))
    return Agent(settings)


@dataclass
class ScriptedState:
    """The state side, scripted: every Request is answered Valid with ``state_id(...)`` after
    ``delay`` seconds (a slow SSID database)."""

    agent: Agent
    delay: float = 0.0
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (TransactionId, IdStatus, ID given)
    _tasks: set = field(default_factory=set)

    @classmethod
    def create(cls, zone: ZoneProcess, tmp: Path, delay: float = 0.0) -> "ScriptedState":
        me = cls(_agent(zone, tmp, RESOLVER, STATE_ZONE, provide=("StudentLocator",), respond=("StudentLocator",)),
                 delay)
        me.agent.on_request("StudentLocator")(me.locate)
        return me

    async def locate(self, request, ctx):
        loc = request.query.example.typed()
        name = next(n for n in loc.names if n.type == "04")
        sid = state_id(name.first_name, name.last_name, loc.demographics.birth_date)
        self.requests.append((loc.transaction_id, loc.id_status, sid))
        ref = RequestRef.of(ctx.zone_id, request, ctx.version)
        answer = [StudentLocator(id_status=IdStatus.VALID, transaction_id=loc.transaction_id,
                                 state_province_id=sid, confidence="100")]
        task = asyncio.create_task(self._later(ref, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return DEFERRED

    async def _later(self, ref, answer) -> None:
        await asyncio.sleep(self.delay)
        await self.agent.respond(ref, objects=answer)


@dataclass
class Auditor:
    """Watches the district zone: the locator's StudentPersonal Change events, per student."""

    agent: Agent
    changes: dict[str, list[str]] = field(default_factory=dict)  # RefId -> StateProvinceIds written

    @classmethod
    def create(cls, zone: ZoneProcess, tmp: Path) -> "Auditor":
        me = cls(_agent(zone, tmp, AUDITOR, DISTRICT_ZONE, subscribe=("StudentPersonal",)))
        me.agent.on_event("StudentPersonal")(me.seen)
        return me

    async def seen(self, event, ctx):
        if event.action == "Change" and event.source_id == LOCATOR:
            for obj in event.objects:
                sp = obj.typed()
                self.changes.setdefault(sp.ref_id, []).append(sp.state_province_id)


def sis_args(district: ZoneProcess, tmp: Path, n: int, wait: float, seed: int = 7) -> list[str]:
    files = district.pki.client(SIS)
    return [SLF, "sis-sim", "run", "--zone", district.url(DISTRICT_ZONE), "--source-id", SIS,
            "--ca", str(district.pki.ca_cert), "--cert", str(files.cert), "--key", str(files.key),
            "--generate", str(n), "--seed", str(seed), "--school-year", "2027", "--district-irn", "043802",
            "--save-students", str(tmp / "students.csv"), "--results", str(tmp / "results.csv"),
            "--wait", str(wait), "--pull-interval", "0.05", "--sif-version", "2.0r1",
            "--state-dir", str(tmp / "sis"), "--connect-timeout", "20"]


def start_sis(district: ZoneProcess, tmp: Path, n: int, wait: float) -> subprocess.Popen:
    return subprocess.Popen(sis_args(district, tmp, n, wait), stdout=open(tmp / "sis.log", "ab"),
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def finished(proc: subprocess.Popen, timeout: float) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while proc.poll() is None:
        assert asyncio.get_running_loop().time() < deadline, "process did not finish in time"
        await asyncio.sleep(0.1)
    return proc.returncode


def expected_ids(tmp: Path) -> dict[str, str]:
    """LocalId -> the ID the scripted state gives that student (from the SIS's own student file)."""
    with open(tmp / "students.csv", encoding="utf-8-sig", newline="") as f:
        return {r["LocalId"]: state_id(r["FirstName"], r["LastName"], r["BirthDate"]) for r in csv.DictReader(f)}


def sis_results(tmp: Path) -> dict[str, str]:
    """LocalId -> StateProvinceId the SIS holds (empty when none arrived)."""
    with open(tmp / "results.csv", encoding="utf-8-sig", newline="") as f:
        return {r["LocalId"]: r["StateProvinceId"] for r in csv.DictReader(f)}


async def until(predicate, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
