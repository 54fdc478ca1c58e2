"""What the locator knows of each student and school, persisted beside the transactions.

Two tables in the locator's database (same engine as ``store.py``, own MetaData):

* ``locator_students``: one row per (zone, StudentPersonal RefId): the StudentPersonal and the
  enrollments as SIF XML, the event history, the determination state and the last reason.
* ``locator_schools``: SchoolInfo objects by (zone, RefId), as SIF XML.

Typed objects are stored as their canonical XML and read back through the hardened parser.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import (
    JSON, Boolean, Column, Float, Integer, MetaData, String, Table, Text, and_, delete, insert, select, update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from messages import XmlObject

from .determination import LookupState
from .student import Schools, StudentRecord

metadata = MetaData()

students_t = Table(
    "locator_students", metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("student_ref", String(64), primary_key=True),
    Column("personal", Text, nullable=True),
    Column("enrollments", JSON, nullable=False),  # RefId -> XML
    Column("events", JSON, nullable=False),  # [[object, action], ...]
    Column("lookup_state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("transaction_id", String(32), nullable=True),
)

#: district decisions taken at the console, carried out by the running agent (it owns the zones)
actions_t = Table(
    "locator_console_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", String(32), nullable=False, index=True),
    Column("action", String(16), nullable=False),  # resolve | new
    Column("pick", String(64), nullable=True),
    Column("at", Float, nullable=False),
    Column("done", Boolean, nullable=False, default=False),
)

schools_t = Table(
    "locator_schools", metadata,
    Column("zone_id", String(64), primary_key=True),
    Column("ref_id", String(64), primary_key=True),
    Column("xml", Text, nullable=False),
)


def _xml(obj) -> str:
    return XmlObject.of(obj).canonical().decode("utf-8")


def _typed(text: str | None):
    return None if text is None else XmlObject.from_bytes(text.encode("utf-8")).typed()


@dataclass
class Student:
    """A student record with the determination state the locator keeps for it."""

    record: StudentRecord
    state: LookupState = LookupState.WAITING
    reason: str | None = None
    transaction_id: str | None = None


class Records:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._lock = asyncio.Lock()

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def get(self, zone_id: str, student_ref: str) -> Student:
        """The stored student, or a fresh WAITING one."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(students_t).where(and_(
                students_t.c.zone_id == zone_id, students_t.c.student_ref == student_ref)))).first()
        if row is None:
            return Student(StudentRecord(zone_id=zone_id, student_ref=student_ref))
        m = row._mapping
        record = StudentRecord(zone_id=zone_id, student_ref=student_ref, personal=_typed(m["personal"]),
                               enrollments={k: _typed(v) for k, v in (m["enrollments"] or {}).items()},
                               events=[tuple(e) for e in (m["events"] or [])])
        return Student(record, LookupState(m["lookup_state"]), m["reason"], m["transaction_id"])

    async def put(self, student: Student) -> None:
        r = student.record
        values = dict(zone_id=r.zone_id, student_ref=r.student_ref,
                      personal=_xml(r.personal) if r.personal is not None else None,
                      enrollments={k: _xml(v) for k, v in r.enrollments.items()},
                      events=[list(e) for e in r.events], lookup_state=student.state.value,
                      reason=student.reason, transaction_id=student.transaction_id)
        async with self._lock, self.engine.begin() as conn:
            await conn.execute(delete(students_t).where(and_(
                students_t.c.zone_id == r.zone_id, students_t.c.student_ref == r.student_ref)))
            await conn.execute(insert(students_t).values(**values))

    async def put_school(self, zone_id: str, school) -> None:
        async with self._lock, self.engine.begin() as conn:
            await conn.execute(delete(schools_t).where(and_(schools_t.c.zone_id == zone_id,
                                                            schools_t.c.ref_id == school.ref_id)))
            await conn.execute(insert(schools_t).values(zone_id=zone_id, ref_id=school.ref_id, xml=_xml(school)))

    async def schools(self, zone_id: str) -> Schools:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(schools_t).where(schools_t.c.zone_id == zone_id))).all()
        return {r.ref_id: _typed(r.xml) for r in rows}

    # ------------------------------------------------------------------ console actions
    async def queue_action(self, transaction_id: str, action: str, pick: str | None, at: float) -> None:
        if action not in ("resolve", "new", "cancel"):
            raise ValueError(f"unknown console action {action!r}")
        async with self._lock, self.engine.begin() as conn:
            await conn.execute(update(actions_t).where(and_(actions_t.c.transaction_id == transaction_id,
                                                            actions_t.c.done.is_(False))).values(done=True))
            await conn.execute(insert(actions_t).values(transaction_id=transaction_id, action=action, pick=pick,
                                                        at=at, done=False))

    async def pending_actions(self) -> list[tuple[int, str, str, str | None]]:
        """(id, transaction id, action, pick) not yet carried out, oldest first."""
        q = select(actions_t).where(actions_t.c.done.is_(False)).order_by(actions_t.c.id)
        async with self.engine.connect() as conn:
            return [(r.id, r.transaction_id, r.action, r.pick) for r in (await conn.execute(q)).all()]

    async def action_done(self, action_id: int) -> None:
        async with self._lock, self.engine.begin() as conn:
            await conn.execute(update(actions_t).where(actions_t.c.id == action_id).values(done=True))
