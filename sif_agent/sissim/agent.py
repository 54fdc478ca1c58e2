"""The simulated district SIS: a SIF agent on the runtime that behaves like a student system.

    sim = SisSimulator(sim_settings(url, "District043802-SIS", ...), students, style="sasi")
    results = await sim.run(wait=120)

It registers (pull mode), provides SchoolInfo, StudentPersonal and StudentSchoolEnrollment,
publishes Add (and Change) events for them, and subscribes to StudentPersonal so that it
hears the StudentPersonal Change events carrying each student's StateProvinceId (sent by the
Student Locator once the state has assigned one). Events go through the runtime's outbox.

Publishing styles, per student (a SchoolInfo Add goes first, once per school):

* ``plain``: StudentPersonal Add (everything), StudentSchoolEnrollment Add.
* ``sasi``: StudentPersonal Add with only the name and LocalId, StudentSchoolEnrollment Add,
  then a StudentPersonal Change with the demographics and the rest (as SASI-era SIS agents did).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from dburl import async_url
from messages import Event, new_guid
from messages.objects import (
    Code, Demographics, ExtendedElement, Language, Name, Race, SchoolInfo, StudentPersonal,
    StudentSchoolEnrollment,
)

from ..config import AgentSettings, ObjectLists, RetrySettings, TlsSettings, ZoneSettings
from ..runtime import Agent, Context
from ..transport import Transport
from .store import Result, Results, utc_now
from .students import Student

log = logging.getLogger(__name__)

STYLES = ("plain", "sasi")
OBJECTS = ("SchoolInfo", "StudentPersonal", "StudentSchoolEnrollment")
ENTRY_TYPE = "1821"  # the entry type code of the SIF samples (a new enrollment)


def sim_settings(url: str, source_id: str, *, zone_id: str = "district", versions: Sequence[str] = ("2.1", "2.0r1"),
                 ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                 outbox: str | Path = "var/sis-sim/outbox.db", pull_interval: float = 1.0,
                 retry: RetrySettings | None = None) -> AgentSettings:
    """Runtime settings for the simulator: one pull-mode zone with the SIS's object lists."""
    outbox = str(outbox)
    if "://" not in outbox:
        Path(outbox).parent.mkdir(parents=True, exist_ok=True)
    outbox = async_url(outbox)
    zone = ZoneSettings(
        id=zone_id, url=url, source_id=source_id, versions=tuple(versions), pull_interval=pull_interval,
        tls=TlsSettings(ca=ca, cert=cert, key=key), retry=retry or RetrySettings(),
        objects=ObjectLists(provide=OBJECTS, publish_add=OBJECTS, publish_change=("StudentPersonal",),
                            subscribe=("StudentPersonal",)),
    )
    return AgentSettings(source_id=source_id, name=f"{source_id} (simulated SIS)", zones=(zone,), outbox=outbox)


@dataclass(frozen=True)
class Planned:
    """One event the simulator will publish."""

    object_name: str
    action: str
    object: SchoolInfo | StudentPersonal | StudentSchoolEnrollment
    local_id: str | None = None  # the student it belongs to (None for SchoolInfo)


def _name(s: Student) -> Name:
    return Name(type="04", last_name=s.last_name, first_name=s.first_name, middle_name=s.middle_name or None)


def _demographics(s: Student) -> Demographics:
    return Demographics(
        races=(Race(code=s.race),) if s.race else (),
        hispanic_latino=s.hispanic_latino or None,
        gender=s.gender,
        birth_date=s.birth_date,
        place_of_birth=s.birth_place_city or None,
        languages=(Language(code=s.language),) if s.language else (),
    )


def _extended(s: Student) -> tuple[ExtendedElement, ...]:
    return (ExtendedElement(name="AdmissionReason", value=s.admission_reason),) if s.admission_reason else ()


def plan(students: Iterable[tuple[str, Student]], *, style: str = "plain", school_year: int = 2027,
         district_irn: str | None = None, ids: Callable[[], str] = new_guid,
         school_refs: dict[str, str] | None = None) -> list[Planned]:
    """Every event, in publishing order, for ``(student RefId, student)`` pairs (pure)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    schools = school_refs if school_refs is not None else {}
    names: dict[str, str] = {}
    out: list[Planned] = []
    for ref, s in students:
        if s.school_name and s.school_irn not in names:
            names[s.school_irn] = s.school_name
        if s.school_irn not in schools:
            schools[s.school_irn] = ids()
            out.append(Planned("SchoolInfo", "Add", SchoolInfo(
                ref_id=schools[s.school_irn], state_province_id=s.school_irn,
                school_name=names.get(s.school_irn),
                extended_elements=(ExtendedElement(name="DistrictIRN", value=district_irn),) if district_irn else ())))
        if style == "plain":
            out.append(Planned("StudentPersonal", "Add", StudentPersonal(
                ref_id=ref, local_id=s.local_id, name=_name(s), demographics=_demographics(s),
                extended_elements=_extended(s)), s.local_id))
        else:
            out.append(Planned("StudentPersonal", "Add", StudentPersonal(ref_id=ref, local_id=s.local_id,
                                                                         name=_name(s)), s.local_id))
        out.append(Planned("StudentSchoolEnrollment", "Add", StudentSchoolEnrollment(
            ref_id=ids(), student_personal_ref_id=ref, school_info_ref_id=schools[s.school_irn],
            membership_type="Home", time_frame="Current", school_year=str(school_year),
            entry_date=s.entry_date, entry_type=Code(code=ENTRY_TYPE), grade_level=Code(code=s.grade)), s.local_id))
        if style == "sasi":
            out.append(Planned("StudentPersonal", "Change", StudentPersonal(
                ref_id=ref, local_id=s.local_id, demographics=_demographics(s),
                extended_elements=_extended(s)), s.local_id))
    return out


class SisSimulator:
    """The simulated SIS: publish the students, then collect the StateProvinceIds sent back."""

    def __init__(self, settings: AgentSettings, students: Sequence[Student], *, style: str = "plain",
                 school_year: int = 2027, district_irn: str | None = None,
                 results_path: str | Path | None = None, ids: Callable[[], str] = new_guid,
                 clock: Callable[[], str] = utc_now, transports: dict[str, Transport] | None = None,
                 on_published: Callable[[int, int], None] | None = None,
                 on_received: Callable[[Result], None] | None = None) -> None:
        if len(settings.zones) != 1:
            raise ValueError("the simulated SIS joins exactly one zone")
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
        self.settings = settings
        self.zone_id = settings.zones[0].id
        self.style = style
        self.students = list(students)
        self.refs = [(ids(), s) for s in self.students]
        self.results = Results(self.refs, results_path, clock=clock)
        self.plan = plan(self.refs, style=style, school_year=school_year, district_irn=district_irn, ids=ids)
        self.on_published = on_published
        self.on_received = on_received
        self.published: list[str] = []  # SIF_MsgIds, in order
        self.unknown: list[tuple[str, str]] = []  # (RefId, StateProvinceId) of students not ours
        self._complete = asyncio.Event()
        self.agent = Agent(settings, transports=transports)
        self.agent.on_event("StudentPersonal")(self._student_personal)

    # ------------------------------------------------------------------ receiving
    async def _student_personal(self, event: Event, ctx: Context) -> None:
        """Record the StateProvinceId of a StudentPersonal Change; other actions are ignored."""
        if event.action != "Change":
            return
        for obj in event.objects:
            sp = obj.typed()
            if not isinstance(sp, StudentPersonal) or not sp.state_province_id:
                continue
            ref = self.results.ref_for(ref_id=sp.ref_id, local_id=sp.local_id)
            if ref is None:
                log.info("StateProvinceId %s for student %s, who is not one of ours: ignored",
                         sp.state_province_id, sp.ref_id)
                self.unknown.append((sp.ref_id, sp.state_province_id))
                continue
            if self.results.record(ref, sp.state_province_id):
                result = next(r for r in self.results.all() if r.student_ref_id == ref)
                log.info("student %s (%s) received StateProvinceId %s", result.local_id, ref,
                         sp.state_province_id)
                if self.on_received:
                    self.on_received(result)
        if self.results.complete:
            self._complete.set()

    # ------------------------------------------------------------------ publishing
    async def publish_all(self) -> None:
        """Publish every planned event in order (the outbox keeps what the zone has not taken yet)."""
        total = len(self.students)
        done: set[str] = set()
        for i, p in enumerate(self.plan):
            msg_id = await self.agent.publish(self.zone_id, p.object_name, p.action, [p.object])
            self.published.append(msg_id)
            last_of_student = p.local_id is not None and (
                i + 1 == len(self.plan) or self.plan[i + 1].local_id != p.local_id)
            if last_of_student:
                done.add(p.local_id)
                if self.on_published:
                    self.on_published(len(done), total)

    async def wait_for_ids(self, timeout: float) -> bool:
        """Until every student has a StateProvinceId (True) or ``timeout`` seconds pass (False)."""
        if self.results.complete:
            return True
        try:
            await asyncio.wait_for(self._complete.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.results.complete

    async def run(self, wait: float, *, connect_timeout: float = 60.0) -> Results:
        """Connect, publish, then wait up to ``wait`` seconds for the IDs; stop the agent."""
        async with self.agent.running(timeout=connect_timeout):
            await self.publish_all()
            await self.wait_for_ids(wait)
        return self.results
