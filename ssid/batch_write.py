"""Applying a planned chunk of a batch file, in file order, in one write transaction (ssid.batch).

Why it works this way: the planners read a snapshot; this writer applies a plan only while the
facts it rests on (block-key row counts, the versions of the students it names) still hold,
and decides any other row again here with ``decide_record``, inside this transaction, after the
writes so far are flushed: the answers are those of row-by-row processing.

Checking the facts costs nothing in the common case. Every change to students writes an audit
row, and on SQLite audit ids grow in commit order (one writer at a time), so a planner notes
the newest audit id when it starts (``PlannedChunk.snapshot``). If every audit row since then
is this batch's own, the only changes the plan did not see are the ones this writer made, and
it remembers which keys and students each of its recent commits touched (``WriteHistory``). If
anyone else wrote meanwhile, or on PostgreSQL (where ids are not in commit order), the facts
are counted again in the database instead. A count alone cannot show that a row left a key
while another arrived: if any student was deactivated or reactivated around the time a chunk
was planned (``STATUS_MARGIN``), every row of it is decided again.

The writes of the applied plans go to the database as a few multi-row statements per chunk,
not a dozen statements per row: new IDs are claimed in bulk (``SsidStore.claim_ids``),
students, versions, block keys and audit rows inserted together.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import audit
from .audit import Actor, ChangeType
from .batch_plan import Plan, PlannedChunk, Version, duplicate_message, key_facts, student_facts
from .batch_rows import MATCH, NEW, POTENTIAL, REJECTED, RowResult, decide_record, layout_problems
from .catalogue import GENERATE
from .db import namecounts
from .db.lookup_index import add_rows, status_changed_since
from .db.schema import ACTIVE, aliases_t, audit_t, students_t
from .matching import Matcher
from .matching.blocking import record_keys
from .records import key_rows, split_values, standardized_from_json
from .store import SsidError, SsidStore, lock_identities

log = logging.getLogger(__name__)

#: seconds before a chunk's planning began from which a deactivation or reactivation may not have
#: been visible to the planner (committed later than it was stamped); far longer than any such transaction
STATUS_MARGIN = 600.0


class WriteHistory:
    """What this batch's recent commits touched: (newest audit id after the commit, keys, students).

    ``None`` for keys marks a commit whose changes are not all known (a row decided again wrote
    them): plans older than it are checked against the database instead.
    """

    def __init__(self, keep: int = 64) -> None:
        self.commits: list[tuple[int, frozenset[str] | None, frozenset[str]]] = []
        self.keep = keep
        self.start: int | None = None  # the audit id when the batch began (history before it is unknown)

    def add(self, audit_id: int, keys: set[str] | None, students: set[str]) -> None:
        self.commits.append((audit_id, frozenset(keys) if keys is not None else None, frozenset(students)))
        if len(self.commits) > self.keep:
            self.start = self.commits.pop(0)[0]  # a snapshot older than this commit would need it

    def since(self, snapshot: int) -> tuple[set[str], set[str]] | None:
        """Keys and students this batch changed after ``snapshot``; None when that is not known."""
        if self.start is None or snapshot < self.start:
            return None
        keys: set[str] = set()
        students: set[str] = set()
        for audit_id, k, st in self.commits:
            if audit_id > snapshot:
                if k is None:
                    return None
                keys |= k
                students |= st
        return keys, students


@dataclass
class _Pending:
    """Writes of applied plans not yet sent to the database (sent by ``flush``)."""

    new: list[tuple[int, Plan, str, Actor, str | None, str | None]] = field(default_factory=list)
    aliases: list[tuple[str, int, Version, Actor]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new or self.aliases)


class ChunkWriter:
    """``await ChunkWriter(store, conn, ...).apply(planned, keys, earlier) -> [RowResult, ...]``."""

    def __init__(self, store: SsidStore, conn: AsyncConnection, *, actor: Actor, group: str | None,
                 matcher: Matcher, width: int, history: WriteHistory, source: str = "batch") -> None:
        self.store = store
        self.conn = conn
        self.actor = actor
        self.group = group
        self.matcher = matcher
        self.width = width
        self.source = source
        self.pending = _Pending()
        self.results: list[RowResult | None] = []
        self.redecided = 0  # rows whose plan no longer held (decided again here)
        self.stale = False  # a student was deactivated or reactivated about when the chunk was planned
        self.history = history
        self.touched_keys: set[str] | None = set()  # what this chunk writes (None: not all known)
        self.touched_students: set[str] = set()

    async def apply(self, planned: PlannedChunk, keys: dict[int, str], earlier: dict[str, str]) -> list[RowResult]:
        async with namecounts.deferred(self.conn):  # the name counts of every version written: one last write
            return await self._apply_chunk(planned, keys, earlier)

    async def _apply_chunk(self, planned: PlannedChunk, keys: dict[int, str], earlier: dict[str, str]
                           ) -> list[RowResult]:
        self.results = [None] * len(planned.rows)
        plans = planned.plans
        if self.history.start is None:
            self.history.start = planned.snapshot
        await self._choose_check(planned)
        for i, (r, plan) in enumerate(zip(planned.rows, plans)):
            if isinstance(r, list):
                p = r[0]
                self.results[i] = RowResult(REJECTED, None, f"Row {p.row} (line {p.line}) {p.message}.")
                continue
            bad = layout_problems(r, self.width)
            if bad:
                self.results[i] = RowResult(REJECTED, None, "Invalid row: " + " ".join(f"{p.field} {p.message}."
                                                                                       for p in bad))
                continue
            key = keys[r.number]
            if key in earlier and not (r.fields.get("StudentID") or "").strip():
                self.results[i] = RowResult(NEW, earlier[key], "New student ID issued (by an earlier run of this same "
                                                               "file; no second ID was issued).")
                continue
            district = r.fields["District_IRN"].strip() or None
            building = r.fields["Building_IRN"].strip() or None
            row_actor = Actor(self.actor.user_id, self.actor.district_irn, self.actor.batch_job_id, False, key)
            if plan is None or not self._holds(plan):
                self.redecided += 1
                await self._flush()
                before = await self._newest_audit()
                try:
                    self.results[i] = await decide_record(self.store, self.conn, self.matcher, r.fields,
                                                          actor=row_actor, group=self.group, key=key,
                                                          district=district, building=building, source=self.source)
                except SsidError as exc:
                    self.results[i] = RowResult(REJECTED, None, f"{exc}.")
                await self._note_written(before, plans[i + 1:])
                continue
            self._apply(i, plan, key, row_actor, district, building)
        await self._flush()
        self.history.add(await self._newest_audit(), self.touched_keys, self.touched_students)
        if self.redecided:
            log.debug("batch: %d of %d rows decided again (their plan no longer held)", self.redecided,
                      len(planned.rows))
        out = [r for r in self.results if r is not None]
        assert len(out) == len(planned.rows)
        return out

    # ---- facts ----

    async def _choose_check(self, planned: PlannedChunk) -> None:
        """Known changes only (see the module docstring), or count the facts again."""
        self.counted = False
        self.added_keys: Counter[str] = Counter()
        self.added_versions: Counter[str] = Counter()
        self.identities: dict[str, str] = {}
        self.stale = await status_changed_since(self.conn, planned.started - STATUS_MARGIN)
        if self.stale:
            return
        own = self.history.since(planned.snapshot) if self.conn.dialect.name == "sqlite" else None
        if own is not None:
            a = audit_t.c
            others = (await self.conn.execute(
                select(a.id).where(a.id > planned.snapshot,
                                   or_(a.batch_job_id.is_(None), a.batch_job_id != self.actor.batch_job_id))
                .limit(1))).first()
            if others is None:
                self.changed_keys, self.changed_students = own
                return
        await self._read_facts(planned.plans)

    async def _read_facts(self, plans: Sequence[Plan | None]) -> None:
        keys = {f[1] for p in plans if p is not None for f in p.facts if f[0] == "key"}
        ids = {f[1] for p in plans if p is not None for f in p.facts if f[0] == "student"}
        self.counted = True
        self.key_rows = await key_facts(self.conn, sorted(keys)) if keys else {}
        self.students = await student_facts(self.conn, sorted(ids)) if ids else {}
        identities = sorted({p.version.identity for p in plans if p is not None and p.code == NEW and p.version})
        self.identities: dict[str, str] = {}
        if identities:
            await lock_identities(self.conn, identities)
            s = students_t.c
            for n in range(0, len(identities), 500):
                q = (select(s.identity_key, s.student_id).where(s.identity_key.in_(identities[n:n + 500]),
                                                                s.status == ACTIVE)
                     .order_by(s.created_at.desc(), s.student_id.desc()))
                self.identities.update((await self.conn.execute(q)).all())  # the oldest wins (last written)
        self.added_keys: Counter[str] = Counter()
        self.added_versions: Counter[str] = Counter()

    def _holds(self, plan: Plan) -> bool:
        if self.stale:  # a student left or rejoined the index: counts cannot show it (see the docstring)
            return False
        if not self.counted:
            for kind, name, _ in plan.facts:
                if kind == "key" and (name in self.changed_keys or name in self.added_keys):
                    return False
                if kind == "student" and (name in self.changed_students or name in self.added_versions):
                    return False
            return True
        for kind, name, value in plan.facts:
            if kind == "key":
                if self.key_rows.get(name, 0) + self.added_keys[name] != value:
                    return False
            else:
                now = self.students.get(name)
                if now is None or now[0] != value[0] or now[1] + self.added_versions[name] != value[1]:
                    return False
        return True

    # ---- applying ----

    def _apply(self, i: int, plan: Plan, key: str, actor: Actor, district: str | None, building: str | None) -> None:
        if plan.code == NEW and plan.version is not None:
            same = self.identities.get(plan.version.identity)
            if same:
                self.results[i] = RowResult(POTENTIAL, None, duplicate_message(same), plan.explanation)
                return
            self.identities[plan.version.identity] = f"(row {plan.number})"  # replaced by the ID at flush
            self.pending.new.append((i, plan, key, actor, district, building))
            self._touch(plan.version, None)
            return
        if plan.code == MATCH and plan.version is not None and plan.student_id:
            sid = plan.student_id
            seen = next(v for kind, name, v in plan.facts if kind == "student" and name == sid)
            version = (self.students[sid][1] if self.counted else seen[1]) + self.added_versions[sid]
            self.pending.aliases.append((sid, version, plan.version, actor))
            self._touch(plan.version, sid)
        self.results[i] = RowResult(plan.code, plan.student_id, plan.message, plan.explanation)

    async def _newest_audit(self) -> int:
        return (await self.conn.execute(select(func.max(audit_t.c.id)))).scalar() or 0

    async def _note_written(self, after: int, remaining: Sequence[Plan | None]) -> None:
        """Count what a row decided again wrote (its audit rows name each new version) as added."""
        a = audit_t.c
        for change, sid, detail in (await self.conn.execute(
                select(a.change_type, a.student_id, a.detail).where(a.id > after))).all():
            version = 0 if change == str(ChangeType.CREATE) else (detail or {}).get("version")
            if change not in (str(ChangeType.CREATE), str(ChangeType.ALIAS)) or version is None:
                self.touched_keys = None  # not a change this writer knows how to follow: count again
                await self._read_facts(remaining)
                return
            self._touch_keys(await self._version_keys(sid, version), sid if change == str(ChangeType.ALIAS) else None)

    async def _version_keys(self, sid: str, version: int) -> list[str]:
        """The blocking keys one stored version is indexed under, derived from its alias row (the
        key table is keyed by key first: asking it by student scans tens of millions of rows)."""
        al = aliases_t.c
        row = (await self.conn.execute(select(al.std, al.record).where(al.student_id == sid,
                                                                        al.version == version))).first()
        return [] if row is None else list(record_keys(standardized_from_json(row.std, row.record)))

    def _touch(self, v: Version, student: str | None) -> None:
        self._touch_keys([k.key for k in v.keys], student)

    def _touch_keys(self, keys: Sequence[str], student: str | None) -> None:
        self.added_keys.update(keys)
        if self.touched_keys is not None:
            self.touched_keys.update(keys)
        if student is not None:
            self.added_versions[student] += 1
            self.touched_students.add(student)

    async def _flush(self) -> None:
        if not self.pending:
            return
        p, self.pending = self.pending, _Pending()
        now = self.store.clock()
        students: list[dict[str, Any]] = []
        versions: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        trail: list[dict[str, Any]] = []
        ids = await self.store.claim_ids(self.conn, len(p.new), "issued", self.source) if p.new else []
        for sid, (i, plan, key, actor, district, building) in zip(ids, p.new):
            v = plan.version
            assert v is not None
            core, extra = split_values(v.values)
            district = district or actor.district_irn
            students.append({"student_id": sid, "status": ACTIVE, **core, "attributes": extra,
                             "identity_key": v.identity, "district_irn": district, "building_irn": building,
                             "created_by": actor.user_id, "created_at": now, "updated_at": now, "origin": "issued",
                             "import_job": None, "user_defined": None, "request_key": key, "row_version": 1})
            self._version_rows(sid, 0, v, now, versions, keys)
            trail.append(audit.entry(now, ChangeType.CREATE, actor, sid, None, v.values,
                                     detail={"task": GENERATE, "group": self.group or "default",
                                             "source": self.source, "request_key": key}))
            self.identities[v.identity] = sid
            self.results[i] = RowResult(NEW, sid, plan.message, plan.explanation)
        for sid, version, v, actor in p.aliases:
            self._version_rows(sid, version, v, now, versions, keys)
            trail.append(audit.entry(now, ChangeType.ALIAS, actor, sid, None, v.values,
                                     detail={"version": version, "source": self.source}))
        if students:
            await self.conn.execute(insert(students_t), students)
        await self.conn.execute(insert(aliases_t), versions)
        if keys:
            await add_rows(self.conn, keys)
        await namecounts.add(self.conn, namecounts.tally_stored(v["std"] for v in versions))  # deferred by apply
        await audit.record(self.conn, trail)
        log.debug("batch: %d IDs issued, %d aliases remembered", len(p.new), len(p.aliases))

    def _version_rows(self, sid: str, version: int, v: Version, at: float, versions: list[dict[str, Any]],
                      keys: list[dict[str, Any]]) -> None:
        versions.append({"student_id": sid, "version": version, "record": v.record, "std": v.std,
                         "source": self.source, "at": at})
        keys += key_rows(sid, version, v.keys)


__all__ = ["ChunkWriter", "WriteHistory"]
