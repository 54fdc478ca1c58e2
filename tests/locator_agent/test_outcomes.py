"""Priority 2: ambiguous (mail, follow-ups with the same TransactionId), error (mail with the
fields to fix; a later StudentPersonal Change starts a new transaction), fault (mail to the
operators; retried when due). Mail goes to a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from aiosmtpd.controller import Controller

from messages import Error, SIFError
from messages.codes import ErrorCategory
from messages.objects import Demographics, IdStatus, Name, StudentLocator
from sif_agent.locator.determination import LookupState
from sif_agent.locator.notify import NotifySettings, Recipients
from sif_agent.locator.transactions import TxnState
from tests.locator_mapping.conftest import STUDENT, enrollment, personal, school
from tests.locator_notify.conftest import Sink, free_port

from .conftest import STATE_ID, settled, until, valid
from .test_wiring import running

REGISTRAR, HELPDESK = "registrar@district.example.org", "helpdesk@itc.example.org"


@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = NotifySettings(
        host="127.0.0.1", port=controller.port, sender="Student Locator <slf-locator@itc.example.org>",
        resolution_url="https://ssid.state.example/resolve/{transaction_id}", timeout=5.0,
        recipients=Recipients.from_toml({"default": ["slf-ops@itc.example.org"], "operators": [HELPDESK],
                                         "districts": {"043802": [REGISTRAR]}}))
    yield sink, settings
    controller.stop()


def candidates(txn: str) -> list[StudentLocator]:
    return [StudentLocator(id_status=IdStatus.AMBIGUOUS.value, transaction_id=txn, state_province_id=sid,
                           confidence=conf, names=(Name(type="04", last_name="Okafor", first_name=first),),
                           demographics=Demographics(gender="F", birth_date="2017-04-12"))
            for sid, conf, first in (("AB1234567", "0.92", "Amara"), ("CD7654321", "0.88", "Amarah"))]


async def adds(w, sp=None) -> None:
    await w.publish("SchoolInfo", "Add", school())
    await w.publish("StudentPersonal", "Add", sp or personal())
    await w.publish("StudentSchoolEnrollment", "Add", enrollment())


async def test_ambiguous_mails_candidates_then_follow_ups_until_valid(world_factory, smtp):
    sink, settings = smtp
    w = await world_factory(notify=settings)
    w.answer = lambda txn, status, sid: candidates(txn)
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await adds(w)
        await until(lambda: sink.received and w.locator.idle)
        [txn] = await w.store.list()
        assert txn.state is TxnState.AMBIGUOUS
        assert [c.state_id for c in txn.candidates] == ["AB1234567", "CD7654321"]
        mail = sink.received[0]
        assert mail.rcpt_tos == [REGISTRAR] and mail.message["X-SLF-Kind"] == "ambiguous"
        body = mail.message.get_content()
        assert "CD7654321" in body and f"slf locator console resolve {txn.transaction_id} --pick" in body

        # nothing due before the first follow-up (5 min)
        assert await w.locator.run_due() == []
        w.clock.now += 301
        [again] = await w.locator.run_due()
        again = await settled(w, txn.transaction_id, TxnState.AMBIGUOUS, responses=2)
        assert again.attempts == 1
        assert [r[0] for r in w.requests] == [txn.transaction_id] * 2  # same TransactionId
        assert len(sink.received) == 1  # still ambiguous: no second mail

        w.answer = lambda t, status, sid: valid(t)
        w.clock.now += 15 * 60 + 1
        [sent] = await w.locator.run_due()
        done = await settled(w, sent.transaction_id, TxnState.WRITTEN_BACK)
        await until(lambda: w.changes)
    assert w.changes[0].state_province_id == STATE_ID
    emails = await w.store.emails(txn.transaction_id)
    assert [(e.kind, e.ok, e.recipients) for e in emails] == [("ambiguous", True, (REGISTRAR,))]


async def test_error_mails_fields_to_fix_and_a_change_starts_a_new_transaction(world_factory, smtp):
    sink, settings = smtp
    w = await world_factory(notify=settings)

    def answer(txn, status, sid):
        if len(w.requests) == 1:
            return [StudentLocator(id_status=IdStatus.ERROR.value, transaction_id=txn, error=Error(
                category=ErrorCategory.REQUEST_RESPONSE, code=1, desc="Insufficient data: MiddleName is required"))]
        return valid(txn)

    w.answer = answer
    no_middle = personal(name=Name(type="04", last_name="Okafor", first_name="Amara"))
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await adds(w, no_middle)
        await until(lambda: sink.received and w.locator.idle)
        [first] = await w.store.list()
        assert first.state is TxnState.ERROR and "MiddleName" in first.error_text
        assert first.inputs["missing"] == ['Name[@Type="04"]/MiddleName']
        mail = sink.received[0]
        assert mail.message["X-SLF-Kind"] == "error" and mail.rcpt_tos == [REGISTRAR]
        assert "Legal middle name: missing" in mail.message.get_content()
        student = await w.locator.records.get("district-043802", STUDENT)
        assert student.state is LookupState.FAILED

        await w.publish("StudentPersonal", "Change",
                        personal(name=Name(type="04", last_name="Okafor", first_name="Amara", middle_name="Grace")))
        await until(lambda: w.changes)
    first_again, second = await w.store.list()
    assert first_again.state is TxnState.ERROR  # final; never retried
    assert second.transaction_id != first.transaction_id and second.state is TxnState.WRITTEN_BACK
    assert second.inputs["missing"] == []
    assert w.changes[0].state_province_id == STATE_ID


async def test_fault_is_kept_mailed_to_operators_and_retried_when_due(world_factory, smtp):
    sink, settings = smtp
    w = await world_factory(notify=settings)

    def answer(txn, status, sid):
        if len(w.requests) == 1:
            raise SIFError(ErrorCategory.SYSTEM, 1, "SSID database unavailable")
        return valid(txn)

    w.answer = answer
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await adds(w)
        await until(lambda: sink.received and w.locator.idle)
        [txn] = await w.store.list()
        assert txn.state is TxnState.FAULT and txn.attempts == 1 and txn.request_kind == "Request"
        mail = sink.received[0]
        assert mail.message["X-SLF-Kind"] == "fault" and mail.rcpt_tos == [HELPDESK]
        assert "Okafor" not in mail.message.get_content()  # no names to operators
        assert await w.locator.run_due() == []
        w.clock.now += 61
        [sent] = await w.locator.run_due()
        assert sent.state is TxnState.SENT and sent.request_kind == "Request"
        await settled(w, txn.transaction_id, TxnState.WRITTEN_BACK)
        assert [r[0] for r in w.requests] == [txn.transaction_id] * 2
        await until(lambda: w.changes)
    assert len(sink.received) == 1


async def test_mail_failure_is_logged_and_the_transaction_goes_on(world_factory):
    settings = NotifySettings(host="127.0.0.1", port=free_port(), sender="slf@itc.example.org",
                              resolution_url="https://s.example/{transaction_id}", timeout=1.0,
                              recipients=Recipients.from_toml({"default": ["ops@itc.example.org"]}))
    w = await world_factory(notify=settings)
    w.answer = lambda txn, status, sid: candidates(txn)
    async with AsyncExitStack() as stack:
        await running(stack, w)
        await adds(w)
        for _ in range(500):
            txns = await w.store.list()
            if txns and await w.store.emails(txns[0].transaction_id):
                break
            await asyncio.sleep(0.01)
    [txn] = await w.store.list()
    assert txn.state is TxnState.AMBIGUOUS
    [email] = await w.store.emails(txn.transaction_id)
    assert email.kind == "ambiguous" and not email.ok and "could not be reached" in email.error


async def test_run_retries_due_faults_by_itself(world_factory):
    """`run()` (what `slf locator run` starts) passes over due work every due_interval."""
    w = await world_factory(due_interval=0.05)

    def answer(txn, status, sid):
        if len(w.requests) == 1:
            raise SIFError(ErrorCategory.SYSTEM, 1, "SSID database unavailable")
        return valid(txn)

    w.answer = answer
    task = asyncio.create_task(w.locator.run())
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in w.locator.agent.ready.values())), 10)
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(w.resolver.running())
            await stack.enter_async_context(w.sis.running())
            await adds(w)
            await until(lambda: len(w.requests) == 1)
            for _ in range(500):
                txns = await w.store.list()
                if txns and txns[0].state is TxnState.FAULT:
                    break
                await asyncio.sleep(0.01)
            w.clock.now += 61
            await until(lambda: w.changes)
    finally:
        w.locator.stop()
        await task
    assert w.changes[0].state_province_id == STATE_ID
    assert len(w.requests) == 2
