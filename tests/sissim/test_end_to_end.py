"""`slf sis-sim run` against a real zone process, with a scripted Student Locator assigning IDs.

The simulator runs in-process (the CLI through CliRunner, in a worker thread, so that the
test's event loop keeps running the scripted locator); the zone is a real `slf zone serve`
over HTTPS with development certificates.
"""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from messages.objects import StudentPersonal
from sif_agent.config import AgentSettings, ObjectLists, RetrySettings, TlsSettings, ZoneSettings
from sif_agent.runtime import Agent
from sif_agent.sissim import generate, read_results
from slf.cli import main
from tests.zone.process import ZoneProcess

SIS, LOCATOR, ZONE = "District043802-SIS", "ITC01-StudentLocator", "district-zone"


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    z = ZoneProcess.create(tmp_path_factory.mktemp("zone")).start()
    yield z
    z.stop()


@pytest.fixture(autouse=True)
def quiet_logs(monkeypatch):
    """The CLI configures the root logger; in-process that would take pytest's handlers away."""
    monkeypatch.setattr("slf.logs.setup", lambda level="INFO": None)


class ScriptedLocator:
    """Subscribes to the SIS's objects, records what arrives, answers with StateProvinceIds."""

    def __init__(self, zone: ZoneProcess, tmp_path, style: str, skip: set[str] = frozenset()) -> None:
        files = zone.pki.client(LOCATOR)
        settings = AgentSettings(
            source_id=LOCATOR, name=LOCATOR, outbox=f"sqlite+aiosqlite:///{tmp_path}/locator-outbox.db",
            zones=(ZoneSettings(id=ZONE, url=zone.url(ZONE), source_id=LOCATOR, versions=("2.0r1",),
                                pull_interval=0.02, tls=TlsSettings(ca=zone.pki.ca_cert, cert=files.cert, key=files.key),
                                retry=RetrySettings(attempts=3, initial=0.01, maximum=0.05),
                                objects=ObjectLists(subscribe=("SchoolInfo", "StudentPersonal",
                                                               "StudentSchoolEnrollment"),
                                                    publish_change=("StudentPersonal",))),))
        self.agent = Agent(settings)
        self.style, self.skip = style, skip
        self.events: list[tuple[str, str, str]] = []  # (object, action, student RefId or school IRN)
        self.objects: dict[tuple[str, str], object] = {}  # (action, student RefId) -> StudentPersonal
        self.local_ids: dict[str, str] = {}  # student RefId -> LocalId
        self.assigned: dict[str, str] = {}  # LocalId -> StateProvinceId
        self.agent.on_event("SchoolInfo", "Add")(self.school)
        self.agent.on_event("StudentPersonal")(self.student)
        self.agent.on_event("StudentSchoolEnrollment", "Add")(self.enrollment)

    async def school(self, event, ctx):
        self.events.append(("SchoolInfo", event.action, event.objects[0].typed().state_province_id))

    async def student(self, event, ctx):
        sp = event.objects[0].typed()
        self.events.append(("StudentPersonal", event.action, sp.ref_id))
        self.objects[(event.action, sp.ref_id)] = sp
        if event.action == "Add":
            self.local_ids[sp.ref_id] = sp.local_id
        elif self.style == "sasi":
            await self.assign(ctx, sp.ref_id)

    async def enrollment(self, event, ctx):
        sse = event.objects[0].typed()
        self.events.append(("StudentSchoolEnrollment", event.action, sse.student_personal_ref_id))
        if self.style == "plain":
            await self.assign(ctx, sse.student_personal_ref_id)

    async def assign(self, ctx, ref: str) -> None:
        local_id = self.local_ids[ref]
        if local_id in self.skip:
            return
        ssid = f"OH{len(self.assigned) + 1:07d}"
        self.assigned[local_id] = ssid
        await ctx.agent.publish(ZONE, "StudentPersonal", "Change", [
            StudentPersonal(ref_id=ref, local_id=local_id, state_province_id=ssid)])


def sim_args(zone: ZoneProcess, tmp_path, style: str, wait: float = 20) -> list[str]:
    files = zone.pki.client(SIS)
    return ["sis-sim", "run", "--zone", zone.url(ZONE), "--source-id", SIS, "--ca", str(zone.pki.ca_cert),
            "--cert", str(files.cert), "--key", str(files.key), "--generate", "5", "--seed", "11",
            "--style", style, "--school-year", "2027", "--district-irn", "043802",
            "--results", str(tmp_path / "results.csv"), "--wait", str(wait), "--pull-interval", "0.05",
            "--sif-version", "2.0r1", "--state-dir", str(tmp_path / "sim"), "--connect-timeout", "10"]


@pytest.mark.parametrize("style", ["plain", "sasi"])
async def test_sim_publishes_in_order_and_records_every_id(zone, tmp_path, style):
    locator = ScriptedLocator(zone, tmp_path, style)
    async with locator.agent.running():
        out = await asyncio.to_thread(CliRunner().invoke, main, sim_args(zone, tmp_path, style))
    assert out.exit_code == 0, out.output + repr(out.exception)
    assert "All 5 students received a StateProvinceId" in out.output

    students = generate(5, seed=11, school_year=2027)
    # the sequence the locator saw, per student
    per_student: dict[str, list[str]] = {}
    schools_seen: list[str] = []
    for obj, action, key in locator.events:
        if obj == "SchoolInfo":
            schools_seen.append(key)
            continue
        per_student.setdefault(key, []).append(f"{obj} {action}")
        if obj == "StudentSchoolEnrollment":
            assert schools_seen, "a SchoolInfo Add comes before the first enrollment"
    expected = ["StudentPersonal Add", "StudentSchoolEnrollment Add"] + (
        ["StudentPersonal Change"] if style == "sasi" else [])
    assert list(per_student.values()) == [expected] * 5
    assert sorted(schools_seen) == sorted({s.school_irn for s in students})
    # what the students looked like on the wire
    by_local = {s.local_id: s for s in students}
    for ref, local_id in locator.local_ids.items():
        s = by_local[local_id]
        add = locator.objects[("Add", ref)]
        assert (add.name.first_name, add.name.last_name) == (s.first_name, s.last_name)
        demographics = locator.objects[("Change", ref)].demographics if style == "sasi" else add.demographics
        assert (demographics.birth_date, demographics.gender) == (s.birth_date, s.gender)
        if style == "sasi":
            assert add.demographics is None

    # the sim recorded exactly the IDs the locator sent, in its results file
    results = read_results(tmp_path / "results.csv")
    assert [r.local_id for r in results] == [s.local_id for s in students]
    assert {r.local_id: r.state_province_id for r in results} == locator.assigned
    assert {r.student_ref_id: r.local_id for r in results} == locator.local_ids
    assert all(r.received_at for r in results)
    shown = CliRunner().invoke(main, ["sis-sim", "results", str(tmp_path / "results.csv")])
    assert shown.exit_code == 0 and "All 5 students" in shown.output


async def test_students_without_an_id_give_exit_3_and_are_named(zone, tmp_path):
    students = generate(5, seed=11, school_year=2027)
    skipped = students[2].local_id
    locator = ScriptedLocator(zone, tmp_path, "plain", skip={skipped})
    async with locator.agent.running():
        out = await asyncio.to_thread(CliRunner().invoke, main, sim_args(zone, tmp_path, "plain", wait=1.5))
    assert out.exit_code == 3, out.output + repr(out.exception)
    assert "4 of 5 students received a StateProvinceId; 1 did not" in out.output
    assert skipped in out.output and students[2].last_name in out.output
    results = {r.local_id: r for r in read_results(tmp_path / "results.csv")}
    assert results[skipped].state_province_id == "" and results[skipped].received_at == ""
    assert {k: r.state_province_id for k, r in results.items() if k != skipped} == locator.assigned
    shown = CliRunner().invoke(main, ["sis-sim", "results", "--missing", "--csv", str(tmp_path / "results.csv")])
    assert shown.exit_code == 3
    assert shown.output.splitlines()[1].startswith(skipped + ",")


async def test_a_strict_zone_accepts_sasi_partial_changes(zone, tmp_path):
    """SIF 2.x Change events carry partial objects: even a strict zone takes SASI's Change."""
    args = sim_args(zone, tmp_path, "sasi", wait=1)
    args[args.index(zone.url(ZONE))] = zone.url("state-zone")  # validates strictly
    out = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert "refused" not in out.output, out.output
    assert out.exit_code == 3  # everything published; no locator here, so no state IDs came back