"""The Student Locator agent: the pure locator pieces wired onto the agent runtime.

    loc = LocatorAgent(settings)          # settings from sif_agent.locator.config.load(...)
    await loc.run()                       # or: async with loc.running(): ...

District zones: StudentPersonal, StudentSchoolEnrollment and SchoolInfo events are folded into
persisted ``StudentRecord``s (``records.py``); ``determination.decide`` says when to start;
``inclusion.evaluate`` picks the Home enrollment (or excludes the student); ``mapping.collect``
reads the StudentLocator fields; ``store.create`` opens the transaction. The StudentLocator
SIF_Request goes to the state zone (SIF_Example, or conditions by config); its answer is applied
with ``store.apply_response``. MATCHED: a StudentPersonal Change (RefId, LocalId, Name,
StateProvinceId) is published to the district zone, then WROTE_BACK. AMBIGUOUS: the district is
mailed the candidates; follow-ups go on ``store.due()``. ERROR: the district is mailed the fields
to fix; the student's lookup FAILED, so a later StudentPersonal Change starts a new transaction.
FAULT: the operators are mailed; ``store.due()`` retries.

Nothing waits for the state: the handler that starts a transaction records it (with the
request's SIF_MsgId) and sends the request through the outbox; the district zone's pull loop
goes on at once. The answer arrives in the state zone's pull loop and is matched to its
transaction by SIF_RequestMsgId through the database, so an answer that arrives after a
restart is applied like any other. ``run_due()`` (every ``due_interval`` seconds while
running) does what is due: new transactions not yet sent, requests unanswered for
``response_timeout`` (FAULT), retries of faults, follow-ups of ambiguous ones, write-backs,
console actions. One locator process per database: a per-transaction lock keeps the event
handlers, the answers and the due pass from working on one transaction at once.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import fields, replace
from typing import Any, AsyncIterator, Awaitable, Callable

from messages import (
    Condition, ConditionGroup, Conditions, Event, Query, Request, SIFError, XmlObject,
)
from messages.objects import IdStatus, StudentLocator, StudentPersonal

from ..config import ConfigError
from ..outbox import Outbox
from ..requests import Reply
from ..runtime import Agent, Context
from ..session import ProtocolError
from ..transport import Transport, TransportError
from . import determination, inclusion, notify
from .config import DistrictSettings, LocatorSettings
from .mapping import Collected, collect
from .records import Records
from .store import Applied, LocatorStore, Txn, UnknownTransaction
from .transactions import Trigger, TxnState

log = logging.getLogger(__name__)

SP, SSE, SCHOOL = "StudentPersonal", "StudentSchoolEnrollment", "SchoolInfo"
SCHOOL_IRN = 'RequestingAgencyId[@Type="School"]'

#: the state a transaction must be in for each sending trigger
SEND_FROM = {Trigger.SEND: TxnState.NEW, Trigger.RETRY: TxnState.FAULT, Trigger.FOLLOW_UP: TxnState.AMBIGUOUS,
             Trigger.RESOLVE: TxnState.AMBIGUOUS, Trigger.ASK_NEW: TxnState.AMBIGUOUS}

Sender = Callable[[notify.NotifySettings, Any], Awaitable[notify.SendReceipt]]


class LocatorAgent:
    def __init__(self, settings: LocatorSettings, *, transports: dict[str, Transport] | None = None,
                 outbox: Outbox | None = None, store: LocatorStore | None = None,
                 mailer: Sender = notify.send, **agent_kw) -> None:
        self.settings = settings
        self.agent = Agent(settings.agent, transports=transports, outbox=outbox, **agent_kw)
        self.store = store or LocatorStore.from_url(settings.database, policy=settings.policy)
        self.records = Records(self.store.engine)
        self.mailer = mailer
        self._opened = False
        #: transactions being worked on in this process: lock and number of holders/waiters
        self._working: dict[str, list] = {}
        for name in (SP, SSE, SCHOOL):
            self.agent.on_event(name)(self._on_event)
        self.agent.on_response("StudentLocator")(self._on_response)
        self.agent.on_response("*")(self._on_response)  # a SIF_Error answer names no object

    # ================================================================ lifecycle
    async def open(self) -> None:
        if not self._opened:
            await self.store.create_schema()
            await self.records.create_schema()
            self._opened = True

    async def close(self) -> None:
        await self.store.close()

    async def run(self, *, handle_signals: bool = False) -> None:
        await self.open()
        due = asyncio.create_task(self._due_loop())
        try:
            await self.agent.run(handle_signals=handle_signals)
        finally:
            due.cancel()
            await asyncio.gather(due, return_exceptions=True)
            await self.close()

    def stop(self) -> None:
        self.agent.stop()

    @property
    def idle(self) -> bool:
        """No transaction is being worked on in this process (tests, shutdown checks)."""
        return not self._working

    def busy(self, txn_id: str) -> bool:
        return txn_id in self._working

    @asynccontextmanager
    async def _claim(self, txn_id: str) -> AsyncIterator[None]:
        """Work on one transaction at a time in this process (waits for the current holder)."""
        entry = self._working.setdefault(txn_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._working[txn_id]

    @asynccontextmanager
    async def running(self, timeout: float = 30.0) -> AsyncIterator["LocatorAgent"]:
        """Pull loops in the background (no due loop: tests call :meth:`run_due`)."""
        await self.open()
        async with self.agent.running(timeout):
            yield self

    async def _due_loop(self) -> None:
        while not self.agent.stopping:
            try:
                await self.run_due()
            except Exception:  # noqa: BLE001 - one bad pass must not stop the agent
                log.exception("locator: pass over due transactions failed")
            await self.agent.wait_or_stop(self.settings.due_interval)

    # ================================================================ district events
    async def _on_event(self, event: Event, ctx: Context) -> None:
        district = self.settings.district(ctx.zone_id)
        if district is None:
            log.info("zone %s: %s %s ignored (not a district zone)", ctx.zone_id, event.object_name, event.action)
            return
        for obj in event.objects:
            typed = XmlObject.of(obj).typed()
            if event.object_name == SCHOOL:
                await self.records.put_school(ctx.zone_id, typed)
                continue
            ref = typed.ref_id if event.object_name == SP else typed.student_personal_ref_id
            await self.on_student_event(district, ref, event.object_name, event.action, typed)

    async def on_student_event(self, district: DistrictSettings, student_ref: str, object_name: str,
                               action: str, obj: Any) -> determination.Decision:
        """Fold one StudentPersonal / StudentSchoolEnrollment into the record; start if due."""
        student = await self.records.get(district.zone, student_ref)
        record = student.record
        if object_name == SP:
            if action != "Delete":
                record.personal = _merge_personal(record.personal, obj) if action == "Change" else obj
        elif action == "Delete":
            record.enrollments.pop(obj.ref_id, None)
        else:
            record.enrollments[obj.ref_id] = obj
        ev = (object_name, action)
        schools = await self.records.schools(district.zone)
        decision = determination.decide(district.mode, record, student.state, ev,
                                        lambda r: self._collect(district, r, schools)[1].complete)
        if not record.events or record.events[-1] != ev:
            record.events.append(ev)
        student.reason = decision.reason
        if decision.action is determination.Action.START:
            inc = inclusion.evaluate(record, schools, active_school_year=district.school_year,
                                     hooks=self._hooks(district))
            if not inc:
                # stays WAITING: a later enrollment may include the student
                student.reason = inc.explanation
                await self.records.put(student)
                log.info("zone %s: student %s not looked up: %s", district.zone, student_ref, inc.explanation)
                return determination.ignore(inc.explanation)
            student.state = determination.apply(student.state, decision)
            collected = collect(record, schools, district.mapping, enrollment=inc.enrollment, school=inc.school,
                                settings={"district_irn": district.district_irn})
            txn = await self._open(district, student, collected, f"{decision.reason}; {inc.explanation}")
            await self.send(txn, Trigger.SEND)
        else:
            student.state = determination.apply(student.state, decision)
            await self.records.put(student)
        return decision

    async def _open(self, district: DistrictSettings, student, collected: Collected, summary: str) -> Txn:
        """A NEW transaction for the student (due at once), remembered on the student's record."""
        personal = student.record.personal
        txn = await self.store.create(
            district.zone, student.record.student_ref, _inputs(collected), district_irn=district.district_irn,
            school_irn=collected.fields.get(SCHOOL_IRN), local_id=personal.local_id if personal else None,
            summary=summary)
        student.transaction_id = txn.transaction_id
        await self.records.put(student)
        return txn

    async def submit(self, district: DistrictSettings, personal: StudentPersonal, enrollment, school=None) -> Txn:
        """A lookup started by hand (console ``submit``): the student's objects as the SIS would
        publish them, folded into the record; determination and inclusion are skipped (a person
        decided). Refused (ValueError, nothing written) while the student is in a transaction
        or when required fields are missing. The running agent sends it on its next pass."""
        await self.open()
        student = await self.records.get(district.zone, personal.ref_id)
        if student.state is determination.LookupState.IN_TRANSACTION:
            raise ValueError(f"already being looked up (transaction {student.transaction_id})")
        if student.state is determination.LookupState.DONE:
            raise ValueError(f"already looked up: transaction {student.transaction_id} wrote the state ID back")
        if student.state is determination.LookupState.CANCELLED:
            raise ValueError("the student was deleted in the SIS or cancelled at the console")
        record = student.record
        record.personal = personal
        record.enrollments[enrollment.ref_id] = enrollment
        schools = dict(await self.records.schools(district.zone))
        if school is not None:
            schools[school.ref_id] = school
        collected = collect(record, schools, district.mapping, enrollment=enrollment, school=school,
                            settings={"district_irn": district.district_irn})
        if not collected.complete:
            problems = [*(f"{t}: missing" for t in collected.missing),
                        *(f"{t}: {why}" for t, why in collected.invalid.items())]
            raise ValueError("cannot be looked up: " + "; ".join(problems))
        if school is not None:
            await self.records.put_school(district.zone, school)
        student.state = determination.transition(student.state, determination.Trigger.START)
        student.reason = "submitted at the console"
        return await self._open(district, student, collected, "submitted at the console")

    def _hooks(self, district: DistrictSettings) -> tuple[inclusion.Hook, ...]:
        if district.state_id_pattern:
            return (inclusion.exclude_when_state_id_present(district.state_id_pattern),)
        return ()

    def _collect(self, district, record, schools) -> tuple[inclusion.Inclusion, Collected]:
        inc = inclusion.evaluate(record, schools, active_school_year=district.school_year)
        return inc, collect(record, schools, district.mapping, enrollment=inc.enrollment, school=inc.school,
                            settings={"district_irn": district.district_irn})

    # ================================================================ the state zone
    def _locator(self, txn: Txn, id_status: str) -> StudentLocator:
        district = self.settings.district(txn.zone_id)
        if district is None:
            raise ConfigError(f"transaction {txn.transaction_id}: zone {txn.zone_id} is no longer configured")
        loc = _collected(district, txn).to_studentlocator(txn.transaction_id, id_status)
        if id_status == IdStatus.RESOLVE and txn.picked_state_id:
            loc = replace(loc, state_province_id=txn.picked_state_id)
        return loc

    def _query(self, txn: Txn, id_status: str) -> Query:
        if self.settings.query_form == "example":
            return Query(object_name="StudentLocator", example=self._locator(txn, id_status))
        district = self.settings.district(txn.zone_id)
        conds = _collected(district, txn).conditions(txn.transaction_id, id_status)
        if id_status == IdStatus.RESOLVE and txn.picked_state_id:
            conds.append(Condition(element="StateProvinceId", value=txn.picked_state_id))
        return Query(object_name="StudentLocator", condition_group=ConditionGroup(
            type="None", conditions=(Conditions(type="And", conditions=tuple(conds)),)))

    async def send(self, txn: Txn, trigger: Trigger, *, pick: str | None = None) -> Txn:
        """Send the transaction's StudentLocator request (SEND, RETRY, FOLLOW_UP, RESOLVE with ``pick``,
        ASK_NEW) and return at once: the answer is applied by :meth:`_on_response` when it comes.

        Skipped (the stored transaction returned) when the transaction is already being worked on
        in this process or is no longer in the state the trigger expects.
        """
        txn_id = txn.transaction_id
        if self.busy(txn_id):
            return txn
        async with self._claim(txn_id):
            fresh = await self.store.get(txn_id)
            if fresh is None or fresh.state is not SEND_FROM[trigger]:
                return fresh or txn
            return await self._send_claimed(fresh, trigger, pick)

    def _request(self, txn: Txn, id_status: str) -> Request:
        session = self.agent.sessions[self.settings.state_zone]
        return Request(header=session.header(), version=session.version, versions=(session.version,),
                       query=self._query(txn, id_status), max_buffer_size=session.zone.max_buffer_size)

    async def _send_claimed(self, txn: Txn, trigger: Trigger, pick: str | None) -> Txn:
        id_status = {Trigger.RESOLVE: IdStatus.RESOLVE.value, Trigger.ASK_NEW: IdStatus.NEW.value}.get(
            trigger, IdStatus.REQUEST.value)
        if trigger is Trigger.RETRY and txn.request_kind:
            id_status = str(txn.request_kind)
        if trigger is Trigger.RESOLVE:
            txn = replace(txn, picked_state_id=pick)
        req = self._request(txn, id_status)
        before = txn.state
        # recorded before it leaves, so that its answer always finds the transaction
        applied = await self.store.apply_trigger(txn.transaction_id, trigger, msg_id=req.msg_id, pick=pick,
                                                 summary=f"{id_status} sent ({req.msg_id})")
        try:
            await self.agent.send(self.settings.state_zone, req)
        except SIFError as exc:  # the state zone refused it at once (e.g. 8/4: no StudentLocator provider)
            applied = await self.store.apply_response(txn.transaction_id, exc, msg_id=None, in_reply_to=req.msg_id)
            return await self._after(applied, before)
        except ProtocolError as exc:  # kept in the outbox; the state zone's loop sends it again
            log.warning("transaction %s: %s %s not yet delivered: %s", txn.transaction_id, id_status,
                        req.msg_id, exc)
        return applied.txn

    async def _on_response(self, reply: Reply, ctx: Context) -> None:
        """The state's answer (every packet): applied to the transaction whose request it answers."""
        txn = await self.store.for_request(reply.request_msg_id)
        if txn is None:
            log.warning("zone %s: SIF_Response to %s ignored: no transaction sent that request", ctx.zone_id,
                        reply.request_msg_id)
            return
        async with self._claim(txn.transaction_id):
            before = (await self.store.get(txn.transaction_id)).state
            objects: list[StudentLocator] = []
            if reply.error is not None:
                answer: Any = reply.error
            else:
                objects = [o for o in (x.typed() for x in reply.objects) if isinstance(o, StudentLocator)]
                answer = objects
            applied = await self.store.apply_response(txn.transaction_id, answer, msg_id=reply.packets[0].msg_id,
                                                      in_reply_to=reply.request_msg_id)
            await self._after(applied, before, objects)

    async def _send_cancel(self, txn: Txn) -> None:
        """Tell the state a cancelled transaction is withdrawn (IdStatus Cancel)."""
        req = self._request(txn, IdStatus.CANCEL.value)
        await self.store.note_request(txn.transaction_id, IdStatus.CANCEL.value, req.msg_id)
        try:
            await self.agent.send(self.settings.state_zone, req)
        except (SIFError, ProtocolError) as exc:
            log.warning("transaction %s: IdStatus Cancel %s: %s", txn.transaction_id, req.msg_id, exc)

    async def _after(self, applied: Applied, before: TxnState, response=()) -> Txn:
        txn = applied.txn
        if not applied.applied:
            return txn
        if txn.state is TxnState.MATCHED:
            return await self._write_back(txn)
        if txn.state is TxnState.AMBIGUOUS and before is not TxnState.AMBIGUOUS:
            await self._mail(txn, notify.AMBIGUOUS, candidates=response)
        elif txn.state is TxnState.ERROR:
            await self._student_done(txn, determination.Trigger.FAIL)
            await self._mail(txn, notify.ERROR)
        elif txn.state is TxnState.CANCELLED:
            await self._student_done(txn, determination.Trigger.FAIL)
        elif txn.state is TxnState.FAULT and txn.attempts == 1:
            await self._mail(txn, notify.FAULT)  # once per fault episode, not on every retry
        return txn

    async def write_back(self, txn: Txn) -> Txn:
        """Publish the StudentPersonal Change with the state ID to the district zone (once: skipped
        when the transaction is being worked on or is no longer MATCHED)."""
        txn_id = txn.transaction_id
        if self.busy(txn_id):
            return txn
        async with self._claim(txn_id):
            fresh = await self.store.get(txn_id)
            if fresh is None or fresh.state is not TxnState.MATCHED:
                return fresh or txn
            return await self._write_back(fresh)

    async def _write_back(self, txn: Txn) -> Txn:
        student = await self.records.get(txn.zone_id, txn.student_ref)
        personal = student.record.personal
        change = StudentPersonal(ref_id=txn.student_ref, local_id=personal.local_id if personal else txn.local_id,
                                 name=personal.name if personal else None, state_province_id=txn.state_id)
        try:
            msg_id = await self.agent.publish(txn.zone_id, SP, "Change", [change])
        except (SIFError, TransportError, ProtocolError) as exc:
            applied = await self.store.apply_trigger(txn.transaction_id, Trigger.FAILED_TECHNICALLY,
                                                     error_text=f"write-back failed: {exc}")
            return applied.txn
        applied = await self.store.apply_trigger(txn.transaction_id, Trigger.WROTE_BACK, msg_id=msg_id,
                                                 summary=f"StudentPersonal Change {msg_id} published")
        await self._student_done(txn, determination.Trigger.SUCCEED)
        return applied.txn

    async def _student_done(self, txn: Txn, trigger: determination.Trigger) -> None:
        student = await self.records.get(txn.zone_id, txn.student_ref)
        if student.transaction_id != txn.transaction_id:
            return
        try:
            student.state = determination.transition(student.state, trigger)
        except determination.IllegalTransition:
            return
        student.reason = f"transaction {txn.transaction_id}: {trigger.value}"
        await self.records.put(student)

    # ================================================================ due work
    async def run_due(self, now: float | None = None) -> list[Txn]:
        """Act on every due transaction once; returns them after acting."""
        out = []
        for action_id, txn_id, action, pick in await self.records.pending_actions():
            if self.busy(txn_id):
                continue  # kept pending: the next pass carries it out
            txn = await self.store.get(txn_id)
            await self.records.action_done(action_id)
            if action == "cancel" and txn is not None and txn.state is TxnState.CANCELLED:
                await self._send_cancel(txn)
                continue
            if txn is None or txn.state is not TxnState.AMBIGUOUS:
                log.warning("console %s of %s dropped: the transaction is %s", action, txn_id,
                            txn.state.value if txn else "unknown")
                continue
            try:
                out.append(await self.send(txn, Trigger.RESOLVE if action == "resolve" else Trigger.ASK_NEW,
                                           pick=pick if action == "resolve" else None))
            except ValueError as exc:  # a pick that is not (or no longer) a candidate
                log.warning("console %s of %s refused: %s", action, txn_id, exc)
        for due in await self.store.due(now):
            txn = due.txn
            if self.busy(txn.transaction_id):
                continue
            try:
                if due.action == "send":
                    out.append(await self.send(txn, Trigger.SEND))
                elif due.action == "retry":
                    out.append(await self.send(txn, Trigger.RETRY))
                elif due.action == "follow_up":
                    out.append(await self.send(txn, Trigger.FOLLOW_UP))
                elif due.action == "write_back":
                    out.append(await self.write_back(txn))
                elif due.action == "timed_out":
                    out.append(await self._timed_out(txn))
            except (UnknownTransaction, ConfigError) as exc:
                log.warning("transaction %s: %s", txn.transaction_id, exc)
        return out

    async def _timed_out(self, txn: Txn) -> Txn:
        """No answer to the current request within ``response_timeout``: a FAULT (retried later)."""
        async with self._claim(txn.transaction_id):
            fresh = await self.store.get(txn.transaction_id)
            if fresh is None or (fresh.state, fresh.request_msg_id) != (txn.state, txn.request_msg_id):
                return fresh or txn  # answered (or re-sent) meanwhile
            applied = await self.store.apply_trigger(
                txn.transaction_id, Trigger.FAILED_TECHNICALLY, in_reply_to=txn.request_msg_id,
                error_text="no answer from the state in time")
            return await self._after(applied, txn.state)

    # ================================================================ mail
    async def _mail(self, txn: Txn, kind: str, candidates=()) -> None:
        settings = self.settings.notify
        if settings is None:
            return
        try:
            request = self._locator(txn, IdStatus.REQUEST.value)
            ref = replace(notify.StudentRef.from_request(request), local_id=txn.local_id,
                          district_irn=txn.district_irn, school_irn=txn.school_irn)
            if kind == notify.AMBIGUOUS:
                message = notify.ambiguous_message(settings, ref, list(candidates))
            elif kind == notify.ERROR:
                problems = notify.problems_from(txn.inputs.get("missing", ()), txn.inputs.get("invalid"))
                if txn.error_text:
                    problems.append(notify.FieldProblem("the state's answer", txn.error_text))
                message = notify.error_message(settings, ref, problems)
            else:
                message = notify.fault_message(settings, ref, txn.error_text or "technical failure",
                                               attempts=txn.attempts, zone_id=self.settings.state_zone)
            receipt = await self.mailer(settings, message)
        except notify.NotifyError as exc:
            await self.store.record_email(txn.transaction_id, kind, (), ok=False, error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a mail problem never loses the transaction
            log.warning("transaction %s: %s mail failed", txn.transaction_id, kind, exc_info=True)
            await self.store.record_email(txn.transaction_id, kind, (), ok=False, error=type(exc).__name__)
            return
        await self.store.record_email(txn.transaction_id, kind, receipt.recipients, message_id=receipt.message_id)


def _inputs(c: Collected) -> dict[str, Any]:
    return {"fields": dict(c.fields), "missing": list(c.missing), "invalid": dict(c.invalid),
            "entry_date": c.entry_date}


def _collected(district: DistrictSettings, txn: Txn) -> Collected:
    i = txn.inputs
    return Collected(mapping=district.mapping, fields=dict(i.get("fields", {})), missing=list(i.get("missing", [])),
                     invalid=dict(i.get("invalid", {})), entry_date=i.get("entry_date"))


def _merge_personal(old: StudentPersonal | None, new: StudentPersonal) -> StudentPersonal:
    """A Change carries only what changed: its non-empty fields replace the stored ones."""
    if old is None:
        return new
    changes = {f.name: getattr(new, f.name) for f in fields(new)
               if f.name != "ref_id" and getattr(new, f.name) not in (None, (), "")}
    return replace(old, **changes)
