"""The SSID database's side of the SLF tables: claim, decide, answer (seed "Transaction Flow").

Why a poller: the seed makes the SLF tables the only seam between the Student Resolver and
the SSID database; the database polls SLF_TRANSACTION_PARMS for 1 REQUEST rows of READY
batches, claims each (1 → 2, a conditional UPDATE, so two pollers never take the same row),
and answers:

* 3 SYSTEM_MATCH with the student's active ID (the submitted names and birth date are
  remembered as an alias, so the next lookup under that spelling is easy);
* 4 SYSTEM_NEW with an ID issued by ``SsidStore.create_student`` under ``request_key =
  TransactionId``, so a retry (a crash, a second poller) never issues a second ID;
* 7 UNRESOLVED with SLF_POTENTIAL_MATCH rows (CONFIDENCE from the matcher, best first);
* 10 ERROR with an SLF_ERROR_LOG text naming every missing or invalid field and the fix.

Later, a person decides an ambiguous row (8, after the resolver answered Ambiguous):
``resolve(transaction_id, pick=ID)`` → 5 USER_MATCH, ``resolve(..., new=True)`` → 6 USER_NEW;
a district's decision recorded by the resolver in RESOLVE_ACTION / RESOLVE_STATE_ID is
applied the same way, and a cancellation request (13) is confirmed (12).

The SSID database and the SLF tables may be two databases: the SSID write commits first,
then the SLF answer; every step is idempotent per TransactionId, so a crash between them is
repaired by processing the row again (``recover=True`` takes rows left at 2).

Every decision (3, 4, 7, 10, and a person's 5 / 6) also writes one ``ssid_decisions`` row
(``ssid.decisions``) with the matcher's explanation, in the SSID write transaction of the
change it explains, before the SLF answer. Its ``received_at`` is when the row entered the
database's hands: the later of the row's CREATED_AT and its batch's READY_AT (the resolver's
columns; a vendor table without them leaves the decision untimed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, inspect, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from . import decisions as dec
from .audit import Actor
from .catalogue import GENERATE, RETRIEVE
from .db.candidates import match as db_match
from .db.engine import make_engine
from .matching import Matcher, Outcome
from .records import match_record
from .slf import (
    ERROR_DSCR_LENGTH, RESOLVE_MATCH, RESOLVE_NEW, SlfMapping, SlfStatus, batch_t, check_transition, error_log_t,
    error_text, match_t, parms_table,
)
from .store import InvalidRecord, SsidError, SsidStore

log = logging.getLogger(__name__)
S = SlfStatus


@dataclass(frozen=True)
class Answer:
    """What the poller did with one row (for logs and tests)."""

    transaction_id: str
    status: SlfStatus
    state_id: str | None = None
    text: str | None = None


#: how the SLF_ERROR_LOG text names the task that failed
TASK_PHRASES = {RETRIEVE: "retrieve a student ID", GENERATE: "generate a new student ID"}


def _task_phrase(task: str) -> str:
    return TASK_PHRASES.get(task, task)


class ResolveError(SsidError):
    """A user decision that cannot be applied (wrong state, unknown candidate...)."""


class SlfPoller:
    """``SlfPoller(store, slf_engine_or_url, matcher=..., mapping=...)``; ``poll_once()``, ``run(stop)``."""

    def __init__(self, store: SsidStore, slf: AsyncEngine | str, *, matcher: Matcher | None = None,
                 mapping: SlfMapping | None = None, batch_size: int = 100, recover: bool = False,
                 clock=time.time) -> None:
        self.store = store
        self._own_engine = isinstance(slf, str)
        self.slf = make_engine(slf) if isinstance(slf, str) else slf
        self.matcher = matcher or store.settings.matcher()
        self.mapping = mapping or SlfMapping()
        self.batch_size = batch_size
        self.recover = recover
        self.clock = clock
        self._parms = None
        self._timing: tuple = ()  # CREATED_AT / READY_AT, where the tables have them
        self.done: list[Answer] = []

    async def close(self) -> None:
        if self._own_engine:
            await self.slf.dispose()

    # ---- the tables ----

    async def parms(self):
        """SLF_TRANSACTION_PARMS with the mapped attribute columns the table really has."""
        if self._parms is None:
            def cols(sync_conn, table: str) -> list[str]:
                insp = inspect(sync_conn)
                for name in (table, table.lower()):
                    if insp.has_table(name):
                        return [c["name"] for c in insp.get_columns(name)]
                return []
            async with self.slf.connect() as conn:
                present = await conn.run_sync(cols, "SLF_TRANSACTION_PARMS")
                in_batch = {c.upper() for c in await conn.run_sync(cols, "SLF_BATCH")}
            if not present:
                raise SsidError("the SLF tables do not exist yet in this database: start the Student Resolver "
                                "(slf resolver run) once, or point --slf-db at its database")
            created = ("CREATED_AT",) if "CREATED_AT" in {c.upper() for c in present} else ()
            self._parms = parms_table(self.mapping.attribute_columns(present) + created)
            # SLF_BATCH.READY_AT is not among ssid.slf's declared columns: read it by name
            self._timing = (literal_column("SLF_BATCH.READY_AT").label("READY_AT"),) if "READY_AT" in in_batch else ()
        return self._parms

    async def _move(self, conn, pid: int, old: SlfStatus, new: SlfStatus, **values: Any) -> bool:
        check_transition(old, new, pid)
        p = await self.parms()
        result = await conn.execute(update(p).where(and_(p.c.N_TRANSACTION_PARMS_ID == pid,
                                                         p.c.N_SLF_STATUS == int(old)))
                                    .values(N_SLF_STATUS=int(new), **values))
        return result.rowcount == 1

    async def _rows(self, *conditions) -> list[dict[str, Any]]:
        p = await self.parms()
        b = batch_t
        q = (select(p, b.c.READY, b.c.DISTRICT_CODE, b.c.SCHOOL_CODE, *self._timing)
             .select_from(p.join(b, b.c.N_BATCH_ID == p.c.N_BATCH_ID))
             .where(and_(*conditions)).order_by(p.c.N_TRANSACTION_PARMS_ID).limit(self.batch_size))
        async with self.slf.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def row(self, transaction_id: str) -> dict[str, Any] | None:
        p = await self.parms()
        rows = await self._rows(p.c.SLF_TRANSACTION_GUID == transaction_id)
        requests = [r for r in rows if (r.get("SLF_REQUEST_TYPE") or "Request") == "Request"]
        return (requests or rows or [None])[0]

    # ---- one pass ----

    async def poll_once(self) -> int:
        """Claim and answer every READY request, apply district resolutions, confirm cancellations.

        Returns how many rows were changed.
        """
        n = 0
        p = await self.parms()
        todo = []
        for r in await self._rows(p.c.N_SLF_STATUS == int(S.REQUEST), batch_t.c.READY == 1):
            if await self._claim(r["N_TRANSACTION_PARMS_ID"]):
                todo.append(r)
        if self.recover:
            todo += await self._rows(p.c.N_SLF_STATUS == int(S.REQUEST_IN_PROGRESS), batch_t.c.READY == 1)
            self.recover = False  # only the rows left by a previous run, once
        for r in todo:
            try:
                await self.answer(r)
            except Exception:  # noqa: BLE001 - one bad row must not stop the others
                log.exception("SLF transaction %s: could not be answered; it stays at %s and is retried with "
                              "--recover", r["SLF_TRANSACTION_GUID"], S.REQUEST_IN_PROGRESS)
                continue
            n += 1
        n += await self.apply_resolutions()
        n += await self.confirm_cancellations()
        return n

    async def _claim(self, pid: int) -> bool:
        async with self.slf.begin() as conn:
            return await self._move(conn, pid, S.REQUEST, S.REQUEST_IN_PROGRESS)

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Poll until ``stop`` is set; a failing pass is logged and retried after ``interval``.

        The same problem again (the resolver has not created the tables yet, say) is logged once
        a minute, not on every pass, and passes back off to every 30 s while it lasts."""
        said, said_at, wait = "", 0.0, interval
        while not stop.is_set():
            try:
                n = await self.poll_once()
                if n:
                    log.debug("SLF pass: %d rows changed", n)
                if said:
                    log.info("SLF pass: working again")
                said, wait = "", interval
            except Exception as exc:  # noqa: BLE001 - the next pass may succeed
                text, now = str(exc), time.monotonic()
                if text != said or now - said_at >= 60:
                    if isinstance(exc, SsidError):  # e.g. the resolver has not created the tables yet
                        log.warning("SLF pass: %s; retrying", exc)
                    else:
                        log.exception("SLF pass failed; retrying")
                    said, said_at = text, now
                wait = min(max(wait * 2, interval), max(30.0, interval))
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except asyncio.TimeoutError:
                pass

    # ---- deciding a claimed row ----

    def _actor(self, row: Mapping[str, Any], user: str | None = None) -> Actor:
        return Actor(user or self.mapping.user, self.mapping.district(row), None, True, row["SLF_TRANSACTION_GUID"])

    async def answer(self, row: Mapping[str, Any]) -> Answer:
        """Decide one claimed (2) row and write its answer."""
        txn = row["SLF_TRANSACTION_GUID"]
        if (row.get("SLF_REQUEST_TYPE") or "Request") != "Request":
            return await self._answer_release(row)
        values = self.mapping.values(row)
        district, building = self.mapping.district(row), self.mapping.building(row)
        group = self.mapping.group
        checked = self.store.catalogue.check(values, RETRIEVE, group)
        if not checked.ok:
            return await self._error(row, S.REQUEST_IN_PROGRESS, checked.problems, _task_phrase(RETRIEVE))
        async with self.store.read() as conn:
            decision = await db_match(conn, self.matcher, match_record(checked.values, district, building))
        if decision.outcome == Outcome.MATCH and decision.student_id:
            async with self.store.write() as conn:
                state_id = await self.store.active_id(decision.student_id, conn) or decision.student_id
                await self._alias(conn, state_id, values, row, district, building)
                await self._record(row, dec.MATCH, state_id, decision, conn)
            return await self._decided(row, S.REQUEST_IN_PROGRESS, S.SYSTEM_MATCH, state_id,
                                       f"matched ({decision.reason})")
        if decision.outcome == Outcome.POTENTIAL and decision.candidates:
            return await self._ambiguous(row, decision)
        # no match: a new ID (needs the "generate" attributes)
        matcher = {"matcher": decision.to_dict()}
        generate = self.store.catalogue.check(values, GENERATE, group)
        if not generate.ok:
            return await self._error(row, S.REQUEST_IN_PROGRESS, generate.problems, _task_phrase(GENERATE), matcher)
        try:
            async with self.store.write() as conn:
                student = await self.store.create_student(
                    conn, values, self._actor(row), task=GENERATE, group=group, request_key=txn,
                    district_irn=district, building_irn=building, source="slf")
                await self._record(row, dec.NEW, student.student_id, decision, conn)
        except InvalidRecord as exc:
            return await self._error(row, S.REQUEST_IN_PROGRESS, exc.problems, _task_phrase(GENERATE), matcher)
        except SsidError as exc:
            return await self._error_text(row, S.REQUEST_IN_PROGRESS, str(exc), matcher)
        return await self._decided(row, S.REQUEST_IN_PROGRESS, S.SYSTEM_NEW, student.student_id, "new ID issued")

    async def _answer_release(self, row: Mapping[str, Any]) -> Answer:
        """A Release row names the ID it releases: answer it with the active ID, or an error."""
        given = (row.get("STATE_ID") or "").strip()
        active = await self.store.active_id(given) if given else None
        if active is None:
            return await self._error_text(row, S.REQUEST_IN_PROGRESS,
                                          "STATE_ID is missing or not a known student ID: send the student's "
                                          "state ID (StateProvinceId) to release it", {"request_type": "Release"})
        await self._record(row, dec.MATCH, active, {"request_type": "Release", "given": given, "active_id": active})
        return await self._decided(row, S.REQUEST_IN_PROGRESS, S.SYSTEM_MATCH, active, "release")

    async def _alias(self, conn, state_id: str, values: Mapping[str, str], row: Mapping[str, Any],
                     district: str | None, building: str | None, actor: Actor | None = None) -> None:
        """Remember the submitted values under ``state_id``; audited as ``actor`` (the person who
        picked the match) or the poller's own user."""
        try:
            await self.store.add_alias(conn, state_id, values, actor or self._actor(row), source="slf",
                                       district_irn=district, building_irn=building)
        except InvalidRecord as exc:  # an optional attribute in a bad format: the match stands
            log.warning("SLF transaction %s: submitted values not kept as an alias (%s)",
                        row["SLF_TRANSACTION_GUID"], "; ".join(p.field for p in exc.problems))

    @staticmethod
    def received_at(row: Mapping[str, Any]) -> float | None:
        """When the row entered the database's hands: the later of CREATED_AT and READY_AT."""
        times = [float(row[k]) for k in ("CREATED_AT", "READY_AT") if row.get(k) is not None]
        return max(times) if times else None

    async def _record(self, row: Mapping[str, Any], outcome: str, student_id: str | None, explanation: Any,
                      conn=None) -> None:
        """One ``ssid_decisions`` row, in ``conn``'s SSID transaction (or a write of its own)."""
        rows = [dec.decision_row("slf", outcome, decided_at=self.clock(), request_key=row["SLF_TRANSACTION_GUID"],
                                 student_id=student_id, explanation=explanation, received_at=self.received_at(row),
                                 correlation_id=f"SLF_BATCH {row['N_BATCH_ID']}")]
        if conn is not None:
            await dec.record(conn, rows)
            return
        async with self.store.write() as own:
            await dec.record(own, rows)

    async def _decided(self, row: Mapping[str, Any], old: SlfStatus, new: SlfStatus, state_id: str,
                       why: str) -> Answer:
        txn, pid = row["SLF_TRANSACTION_GUID"], row["N_TRANSACTION_PARMS_ID"]
        async with self.slf.begin() as conn:
            moved = await self._move(conn, pid, old, new, STATE_ID=state_id)
        if not moved:
            log.info("SLF transaction %s: already answered elsewhere (wanted %s)", txn, new)
            return self._note(Answer(txn, await self._status(pid) or new, state_id, "already answered"))
        log.info("SLF transaction %s: %s %s (%s)", txn, new, state_id, why)
        return self._note(Answer(txn, new, state_id))

    async def _ambiguous(self, row: Mapping[str, Any], decision) -> Answer:
        txn, pid, batch = row["SLF_TRANSACTION_GUID"], row["N_TRANSACTION_PARMS_ID"], row["N_BATCH_ID"]
        candidates = sorted(decision.candidates, key=lambda c: (-c.confidence, c.student_id))
        rows = []
        async with self.store.read() as conn:
            for c in candidates:
                s = await self.store.student(c.student_id, conn)
                values = s.values if s else {}
                rows.append({"N_TRANSACTION_PARMS_ID": pid, "N_BATCH_ID": batch,
                             "CONFIDENCE": round(float(c.confidence), 4), "STATE_ID": c.student_id,
                             "HOME_SCHOOL_CODE": s.building_irn if s else None,
                             **self.mapping.candidate_columns(values)})
        await self._record(row, dec.POTENTIAL, None, decision)
        async with self.slf.begin() as conn:
            moved = await self._move(conn, pid, S.REQUEST_IN_PROGRESS, S.UNRESOLVED)
            if moved:  # one transaction: the resolver never sees 7 without its candidates
                await conn.execute(delete(match_t).where(match_t.c.N_TRANSACTION_PARMS_ID == pid))
                await conn.execute(insert(match_t), rows)
        if not moved:
            return self._note(Answer(txn, await self._status(pid) or S.UNRESOLVED, None, "already answered"))
        log.info("SLF transaction %s: %s with %d potential matches (best confidence %.3f)", txn, S.UNRESOLVED,
                 len(rows), candidates[0].confidence)
        return self._note(Answer(txn, S.UNRESOLVED))

    async def _error(self, row: Mapping[str, Any], old: SlfStatus, problems, phrase: str,
                     explanation: Mapping[str, Any] | None = None) -> Answer:
        fields = {"problems": [{"field": p.field, "code": p.code} for p in problems], **(explanation or {})}
        return await self._error_text(row, old, error_text(problems, self.mapping, phrase), fields)

    async def _error_text(self, row: Mapping[str, Any], old: SlfStatus, text: str,
                          explanation: Mapping[str, Any] | None = None) -> Answer:
        txn, pid, batch = row["SLF_TRANSACTION_GUID"], row["N_TRANSACTION_PARMS_ID"], row["N_BATCH_ID"]
        text = text if len(text) <= ERROR_DSCR_LENGTH else text[:ERROR_DSCR_LENGTH - 1] + "…"
        outcome = dec.USER_ERROR if old is S.RESOLUTION_IN_PROGRESS else dec.ERROR  # a person's resolution failed
        await self._record(row, outcome, None, {"error": text, **(explanation or {})})
        async with self.slf.begin() as conn:
            moved = await self._move(conn, pid, old, S.ERROR)
            if moved:
                await conn.execute(delete(error_log_t).where(error_log_t.c.N_TRANSACTION_PARMS_ID == pid))
                await conn.execute(insert(error_log_t).values(N_TRANSACTION_PARMS_ID=pid, N_BATCH_ID=batch,
                                                              ERROR_DSCR=text))
        if not moved:
            return self._note(Answer(txn, await self._status(pid) or S.ERROR, None, "already answered"))
        log.info("SLF transaction %s: %s: %s", txn, S.ERROR, text)
        return self._note(Answer(txn, S.ERROR, None, text))

    async def _status(self, pid: int) -> SlfStatus | None:
        p = await self.parms()
        async with self.slf.connect() as conn:
            v = (await conn.execute(select(p.c.N_SLF_STATUS).where(p.c.N_TRANSACTION_PARMS_ID == pid))).scalar()
        return None if v is None else SlfStatus(v)

    def _note(self, o: Answer) -> Answer:
        self.done.append(o)
        return o

    # ---- later decisions ----

    async def candidates(self, transaction_id: str) -> list[dict[str, Any]]:
        """The SLF_POTENTIAL_MATCH rows of a transaction, best first."""
        row = await self.row(transaction_id)
        if row is None:
            return []
        async with self.slf.connect() as conn:
            rows = [dict(r._mapping) for r in (await conn.execute(
                select(match_t).where(match_t.c.N_TRANSACTION_PARMS_ID == row["N_TRANSACTION_PARMS_ID"]))).all()]
        return sorted(rows, key=lambda r: (r["CONFIDENCE"] is None, -(r["CONFIDENCE"] or 0.0)))

    async def resolve(self, transaction_id: str, *, pick: str | None = None, new: bool = False,
                      user: str | None = None, district_irn: str | None = None) -> Answer:
        """A person decides an ambiguous transaction: ``pick`` one of its candidates (5 USER_MATCH)
        or ``new=True`` (6 USER_NEW, a new ID forced past the offered matches).

        The row must be at 8 RESOLUTION_IN_PROGRESS (the resolver moves 7 → 8 once it has told
        the district); a repeat of a decision already applied returns the same answer.
        """
        if (pick is None) == (not new):
            raise ResolveError("give either pick=<candidate ID> or new=True")
        row = await self.row(transaction_id)
        if row is None:
            raise ResolveError(f"no SLF transaction {transaction_id}")
        status = SlfStatus(row["N_SLF_STATUS"])
        if status in (S.USER_MATCH, S.USER_NEW):
            want = S.USER_MATCH if pick else S.USER_NEW
            if status is want and (not pick or row["STATE_ID"] == pick):
                return Answer(transaction_id, status, row["STATE_ID"], "already resolved")
            raise ResolveError(f"transaction {transaction_id} was already resolved ({status} {row['STATE_ID']})")
        if status is S.UNRESOLVED:
            raise ResolveError(f"transaction {transaction_id} is at {status}: the resolver has not yet told the "
                               "district about the potential matches; try again in a moment")
        if status is not S.RESOLUTION_IN_PROGRESS:
            raise ResolveError(f"transaction {transaction_id} is at {status}: only an ambiguous transaction "
                               f"({S.RESOLUTION_IN_PROGRESS}) can be resolved")
        return await self._apply_user(row, pick=pick, new=new, user=user, district_irn=district_irn)

    async def _apply_user(self, row: Mapping[str, Any], *, pick: str | None, new: bool, user: str | None,
                          district_irn: str | None = None) -> Answer:
        txn = row["SLF_TRANSACTION_GUID"]
        actor = self._actor(row, user)
        if district_irn:
            actor = Actor(actor.user_id, district_irn, None, True, txn)
        values = self.mapping.values(row)
        district, building = self.mapping.district(row), self.mapping.building(row)
        if pick:
            offered = {c["STATE_ID"] for c in await self.candidates(txn)}
            chosen = pick.strip().upper()
            if chosen not in offered:
                async with self.store.read() as conn:
                    known = await self.store.active_id(chosen, conn)
                if known is None:
                    raise ResolveError(f"{pick} is not an active student ID: pick one of {', '.join(sorted(offered))}")
            async with self.store.write() as conn:
                state_id = await self.store.active_id(chosen, conn)
                if state_id is None:
                    raise ResolveError(f"{pick} is not an active student ID")
                await self._alias(conn, state_id, values, row, district, building, actor)
                await self._record(row, dec.USER_MATCH, state_id,
                                   {"decided_by": actor.user_id, "picked": chosen, "offered": sorted(offered)}, conn)
            return await self._decided(row, S.RESOLUTION_IN_PROGRESS, S.USER_MATCH, state_id,
                                       f"resolved by {actor.user_id}")
        group = self.mapping.group
        checked = self.store.catalogue.check(values, GENERATE, group)
        if not checked.ok:
            return await self._error(row, S.RESOLUTION_IN_PROGRESS, checked.problems, _task_phrase(GENERATE))
        try:
            async with self.store.write() as conn:
                forced = await self.store.user(actor.user_id, conn) is not None  # tracked per known user
                student = await self.store.create_student(
                    conn, values, actor, task=GENERATE, group=group, forced_new=forced, request_key=txn,
                    district_irn=district, building_irn=building, source="slf")
                await self._record(row, dec.USER_NEW, student.student_id,
                                   {"decided_by": actor.user_id, "forced_new": forced}, conn)
        except InvalidRecord as exc:
            return await self._error(row, S.RESOLUTION_IN_PROGRESS, exc.problems, _task_phrase(GENERATE))
        return await self._decided(row, S.RESOLUTION_IN_PROGRESS, S.USER_NEW, student.student_id,
                                   f"new ID forced by {actor.user_id}")

    async def apply_resolutions(self) -> int:
        """District resolutions recorded by the resolver (RESOLVE_ACTION on rows at 8) → 5 / 6."""
        p = await self.parms()
        n = 0
        for r in await self._rows(p.c.N_SLF_STATUS == int(S.RESOLUTION_IN_PROGRESS), p.c.RESOLVE_ACTION.is_not(None)):
            action = (r["RESOLVE_ACTION"] or "").upper()
            user = f"district:{self.mapping.district(r) or 'unknown'}"
            try:
                if action == RESOLVE_MATCH and r.get("RESOLVE_STATE_ID"):
                    await self._apply_user(r, pick=r["RESOLVE_STATE_ID"], new=False, user=user)
                elif action == RESOLVE_NEW:
                    await self._apply_user(r, pick=None, new=True, user=user)
                else:
                    await self._error_text(r, S.RESOLUTION_IN_PROGRESS,
                                           f"RESOLVE_ACTION {action or 'blank'} is not MATCH (with RESOLVE_STATE_ID) "
                                           "or NEW: resolve the transaction again")
            except ResolveError as exc:
                await self._error_text(r, S.RESOLUTION_IN_PROGRESS, f"the district's resolution cannot be applied: "
                                                                    f"{exc}")
            n += 1
        return n

    async def confirm_cancellations(self) -> int:
        """13 CANCELLED_IN_PROGRESS (the resolver asks) → 12 CANCELLED."""
        p = await self.parms()
        n = 0
        for r in await self._rows(p.c.N_SLF_STATUS == int(S.CANCELLED_IN_PROGRESS)):
            async with self.slf.begin() as conn:
                if await self._move(conn, r["N_TRANSACTION_PARMS_ID"], S.CANCELLED_IN_PROGRESS, S.CANCELLED):
                    n += 1
                    log.info("SLF transaction %s: %s", r["SLF_TRANSACTION_GUID"], S.CANCELLED)
        return n
