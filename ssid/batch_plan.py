"""Planning a batch file's rows: every read and every decision, none of the writes (ssid.batch).

Why plans: deciding a row (validate, look the candidates up, score them) is most of a batch
file's work and only reads the database, so worker processes do it for whole chunks at once,
in parallel, while one writer applies the plans in file order (``ssid.batch_write``). A plan
says what to write (a new student's first version, or an alias to remember for a matched
one) and the *facts* its decision rested on: how many rows stood under each block key it
looked up, and how many versions the students it names had. Rows under a key are only ever
added, except when a student is deactivated or reactivated (``ssid.db.lookup_index``; the
writer then decides every row of a chunk planned about then again), so equal counts mean the
writer sees exactly what the planner saw; when a fact differs (an earlier row of the same file
added a student or an alias there, or another process did), the writer decides that row again
itself, inside its transaction, with ``ssid.batch.decide_record``: the outcome is always the
one row-by-row processing would give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from .batch_rows import (
    MATCH, NEW, POTENTIAL, REJECTED, check_given, layout_problems, match_message, potential_message, problems_message,
)
from .catalogue import GENERATE, RETRIEVE, Catalogue
from .csvlayout import Row
from .db.candidates import PrefetchedSource, prefetched, slices, stored_records
from .decisions import PackedJson, explanation_json, packed
from .db.schema import ACTIVE, aliases_t, audit_t, students_t
from .ids import clean_id
from .legacy import Chunk, RowProblem, parse_chunk
from .matching import Matcher, Outcome
from .records import KeyRow, index, match_record, record_json
from .store import duplicate_refused

#: a fact a plan rests on: ("key", block key, rows under it) or ("student", ID, (status, versions))
Fact = tuple[str, str, Any]


class Version(NamedTuple):
    """One version of a student's attributes, derived and encoded, ready to insert."""

    values: dict[str, str]  # cleaned catalogue values (the audit row's new values, the student row)
    record: dict[str, Any]  # Indexed.record_json()
    std: list[Any]  # Indexed.std_json()
    keys: tuple[KeyRow, ...]  # its ssid_block_keys rows
    identity: str


class Plan(NamedTuple):
    """What to do with one row. ``code`` is the batch ResultCode, or NEW_PLANNED / MATCH_PLANNED."""

    number: int
    code: str
    student_id: str | None = None
    message: str = ""
    facts: tuple[Fact, ...] = ()
    version: Version | None = None  # NEW: the first version; MATCH: an alias to remember (None: known)
    explanation: str | PackedJson | None = None  # the matcher's explanation (JSON; compressed when long), if looked up


@dataclass(frozen=True)
class PlanJob:
    """Everything a planner needs besides the chunk (sent once to each worker process)."""

    names: tuple[str, ...]
    group: str | None
    matcher: Matcher
    width: int
    explain: bool = True  # keep the matcher's explanation (JSON, SSN masked) with each plan


class PlannedChunk(NamedTuple):
    rows: list[Row | list[RowProblem]]
    plans: list[Plan | None]  # None: the row is rejected by its layout (the writer words it)
    snapshot: int  # the newest audit row id when planning began: every change since has a higher one
    started: float = 0.0  # the store's clock when planning began (epoch seconds)


def _version(values: Mapping[str, str], district: str | None, building: str | None) -> Version:
    ix = index(values, district, building)
    return Version(dict(values), ix.record_json(), ix.std_json(), ix.keys, ix.identity)


def _probe(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("district", "building")}


def plan_rows(conn: Connection, catalogue: Catalogue, job: PlanJob, rows: Sequence[Row]) -> dict[int, Plan]:
    """Plan the rows that need a lookup (no StudentID given), all against one prefetch."""
    todo: list[tuple[Row, Any, str | None, str | None]] = []
    out: dict[int, Plan] = {}
    for r in rows:
        checked = catalogue.check(r.fields, RETRIEVE, job.group)
        if not checked.ok:
            out[r.number] = Plan(r.number, REJECTED, message=problems_message(checked.problems, RETRIEVE))
            continue
        district = r.fields["District_IRN"].strip() or None
        building = r.fields["Building_IRN"].strip() or None
        std = job.matcher.standardize(match_record(checked.values, district, building))
        todo.append((r, std, district, building))
    if not todo:
        return out
    # the keys as given of every row in one statement, then the variant keys of the rows that
    # need them in one more (``Matcher.match_many``)
    matcher = prefetched(conn, job.matcher, [std for _, std, _, _ in todo])
    source = matcher.source
    assert isinstance(source, PrefetchedSource)
    decisions = matcher.match_many([std for _, std, _, _ in todo])
    decided = [(r, std, district, building, d) for (r, std, district, building), d in zip(todo, decisions)]
    records = stored_records(conn, [d.student_id for *_, d in decided if d.outcome == Outcome.MATCH and d.student_id])
    for r, std, district, building, decision in decided:
        # the facts are the keys the decision read (a variant key it never read is none of them)
        facts: list[Fact] = [("key", k.key, source.sizes.get(k.key, 0)) for k in decision.explanation.keys]
        explanation = packed(explanation_json(decision)) if job.explain else None
        if decision.outcome == Outcome.MATCH and decision.student_id:
            sid = decision.student_id
            stored = records.get(sid, [])
            facts.append(("student", sid, ("active", len(stored))))
            alias = None
            imported = catalogue.check(r.fields, "import")
            if imported.ok:  # an optional attribute in a bad format: the match stands, nothing remembered
                # compared as stored first: most rows repeat a stored version, and only a new alias
                # is standardised and keyed
                probe = _probe(record_json(match_record(imported.values, district, building)))
                if not any(_probe(s) == probe for s in stored):
                    alias = _version(imported.values, district, building)
            out[r.number] = Plan(r.number, MATCH, sid, match_message(decision), tuple(facts), alias, explanation)
        elif decision.outcome == Outcome.POTENTIAL:
            out[r.number] = Plan(r.number, POTENTIAL, None, potential_message(decision), tuple(facts), None,
                                 explanation)
        else:
            generate = catalogue.check(r.fields, GENERATE, job.group)
            if not generate.ok:
                out[r.number] = Plan(r.number, REJECTED, None, "No existing student matches. " +
                                     problems_message(generate.problems, GENERATE), tuple(facts), None, explanation)
            else:
                out[r.number] = Plan(r.number, NEW, None, "New student ID issued.", tuple(facts),
                                     _version(generate.values, district, building), explanation)
    return _refuse_duplicates(conn, out)


def _refuse_duplicates(conn: Connection, plans: dict[int, Plan]) -> dict[int, Plan]:
    """A planned new ID whose record is identical to an active student's is not issued (as
    ``SsidStore.create_student`` refuses it): the row becomes POTENTIAL, naming that student."""
    new = {p.version.identity for p in plans.values() if p.code == NEW and p.version is not None}
    if not new:
        return plans
    s = students_t.c
    oldest: dict[str, str] = {}
    for part in slices(sorted(new)):
        q = (select(s.identity_key, s.student_id).where(s.identity_key.in_(part), s.status == ACTIVE)
             .order_by(s.created_at.desc(), s.student_id.desc()))
        oldest.update(conn.execute(q).all())  # the oldest is written last
    for n, p in plans.items():
        if p.code == NEW and p.version is not None and p.version.identity in oldest:
            plans[n] = p._replace(code=POTENTIAL, version=None, message=duplicate_message(oldest[p.version.identity]))
    return plans


def duplicate_message(existing: str) -> str:
    return f"No ID was issued: {duplicate_refused(existing)}. Resolve this student in the web UI."


async def student_facts(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """(status, number of stored versions) of each of these students that exists."""
    out: dict[str, tuple[str, int]] = {}
    for i in range(0, len(ids), 500):
        q = (select(students_t.c.student_id, students_t.c.status, func.count(aliases_t.c.version))
             .select_from(students_t.outerjoin(aliases_t, aliases_t.c.student_id == students_t.c.student_id))
             .where(students_t.c.student_id.in_(ids[i:i + 500]))
             .group_by(students_t.c.student_id, students_t.c.status))
        out.update({sid: (status, n) for sid, status, n in (await conn.execute(q)).all()})
    return out


async def key_facts(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, int]:
    """Rows under each of these block keys (active students), as ``PrefetchedSource.sizes`` counts them."""
    return await conn.run_sync(lambda c: PrefetchedSource.count(c, keys))


async def plan_chunk(store, conn: AsyncConnection, chunk: Chunk, job: PlanJob) -> PlannedChunk:
    """Parse one chunk and plan every row of it on a read connection ``conn``."""
    started = store.clock()
    snapshot = (await conn.execute(select(func.max(audit_t.c.id)))).scalar() or 0  # first: see the docstring
    rows = parse_chunk(chunk, job.names)
    plans: list[Plan | None] = [None] * len(rows)
    lookups: list[Row] = []
    given: list[tuple[int, Row, str]] = []
    for i, r in enumerate(rows):
        if isinstance(r, list) or layout_problems(r, job.width):
            continue
        sid = clean_id(r.fields.get("StudentID") or "")
        if sid:
            given.append((i, r, sid))
        else:
            lookups.append(r)
    planned = await conn.run_sync(plan_rows, store.catalogue, job, lookups) if lookups else {}
    facts = await student_facts(conn, sorted({sid for _, _, sid in given})) if given else {}
    for i, r in enumerate(rows):
        if not isinstance(r, list) and r.number in planned:
            plans[i] = planned[r.number]
    for i, r, sid in given:
        checked = store.catalogue.check(r.fields, RETRIEVE, job.group)
        res = await check_given(store, conn, job.matcher, sid, checked)
        fact = (("student", sid, facts[sid]),) if sid in facts else ()
        plans[i] = Plan(r.number, res.code, res.student_id, res.message, fact)
    return PlannedChunk(rows, plans, snapshot, started)


__all__ = ["Fact", "Plan", "duplicate_message", "PlanJob", "PlannedChunk", "Version", "key_facts", "plan_chunk", "plan_rows",
           "student_facts"]
