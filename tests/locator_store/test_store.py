"""The locator's SLF store: CRUD, the scenario flows, idempotency; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from messages import Error
from messages.objects import IdStatus, Name, StudentLocator
from sif_agent.locator.store import Applied, Due, UnknownTransaction
from sif_agent.locator.transactions import Candidate, IllegalTransition, Trigger, TxnState

S, T = TxnState, Trigger
INPUTS = {"last_name": "Smith", "first_name": "Ann", "birth_date": "2015-03-04", "gender": "F"}


def sl(txn, status, sid="", conf=None, error=None):
    return StudentLocator(id_status=status, transaction_id=txn, state_province_id=sid, confidence=conf,
                          names=(Name(type="04", last_name="Smith", first_name="Ann"),), error=error)


async def new(store, ref="SP1", district="043752", **kw):
    return await store.create("district-1", ref, INPUTS, district_irn=district, school_irn="012345",
                              local_id="L-" + ref, **kw)


async def sent(store, clock, **kw):
    txn = await new(store, **kw)
    await store.apply_trigger(txn.transaction_id, T.SEND, msg_id="REQ1")
    return txn.transaction_id


def kinds(receipts):
    return [(r.kind, r.trigger, r.to_state) for r in receipts]


# --------------------------------------------------------------------------- CRUD


async def test_create_and_get(store, clock):
    txn = await new(store)
    assert txn.transaction_id == "00000000000000000000000000000001"
    assert (txn.state, txn.zone_id, txn.district_irn, txn.school_irn, txn.student_ref, txn.local_id) == (
        S.NEW, "district-1", "043752", "012345", "SP1", "L-SP1")
    assert txn.inputs == INPUTS and txn.attempts == 0 and txn.next_attempt_at == clock.now
    assert txn.candidates == () and txn.state_id is None
    assert await store.get(txn.transaction_id) == txn
    assert await store.get("F" * 32) is None
    assert kinds(await store.receipts(txn.transaction_id)) == [("created", None, "new")]


async def test_id_factory_must_give_a_transaction_id(store):
    store.id_factory = lambda: "abc"
    with pytest.raises(ValueError, match="32 uppercase hex"):
        await new(store)


async def test_default_id_factory(store):
    from messages.objects import is_transaction_id, new_transaction_id

    store.id_factory = new_transaction_id
    assert is_transaction_id((await new(store)).transaction_id)


async def test_list_filters(store, clock):
    a = await new(store, "SP1", "043752")
    clock.advance(1)
    b = await new(store, "SP2", "043753")
    clock.advance(1)
    c = await new(store, "SP3", "043752")
    await store.apply_trigger(b.transaction_id, T.SEND, msg_id="R")
    assert [t.transaction_id for t in await store.list()] == [a.transaction_id, b.transaction_id, c.transaction_id]
    assert [t.student_ref for t in await store.list(district="043752")] == ["SP1", "SP3"]
    assert [t.student_ref for t in await store.list(status="sent")] == ["SP2"]
    assert [t.student_ref for t in await store.list(status=S.NEW, district="043753")] == []
    assert await store.list(zone="other") == []


async def test_unknown_transaction(store):
    with pytest.raises(UnknownTransaction):
        await store.apply_trigger("F" * 32, T.SEND)
    with pytest.raises(UnknownTransaction):
        await store.record_email("F" * 32, "error", ["a@b"])


async def test_record_email(store, clock):
    txn = await new(store)
    e1 = await store.record_email(txn.transaction_id, "ambiguous", ["staff@district.example", "b@x"],
                                  message_id="<m1@slf>")
    e2 = await store.record_email(txn.transaction_id, "error", ["staff@district.example"], ok=False,
                                  error="SMTP 451")
    got = await store.emails(txn.transaction_id)
    assert got == [e1, e2]
    assert (e1.kind, e1.recipients, e1.ok, e1.at) == ("ambiguous", ("staff@district.example", "b@x"), True, clock.now)
    assert (e2.ok, e2.error, e2.message_id) == (False, "SMTP 451", None)


async def test_illegal_trigger_changes_nothing(store, clock):
    txn = await new(store)
    clock.advance(5)
    with pytest.raises(IllegalTransition, match=txn.transaction_id):
        await store.apply_trigger(txn.transaction_id, T.WROTE_BACK, msg_id="E9")
    assert await store.get(txn.transaction_id) == txn
    assert len(await store.receipts(txn.transaction_id)) == 1


async def test_an_answer_the_transaction_can_no_longer_take_is_recorded_not_applied(store, clock):
    txn_id = await sent(store, clock)
    await store.apply_trigger(txn_id, T.GOT_VALID, state_id="AB1234567", msg_id="R1")
    await store.apply_trigger(txn_id, T.WROTE_BACK, msg_id="W1")
    done = await store.get(txn_id)
    late = await store.apply_trigger(txn_id, T.GOT_VALID, state_id="CD7654321", msg_id="R2")
    assert not late.applied and late.reason.startswith("late")
    assert await store.get(txn_id) == done  # still the first answer's ID
    assert (await store.receipts(txn_id))[-1].summary.startswith("late")


async def test_a_timed_out_request_answered_after_its_retry_went_out_counts(store, clock):
    txn_id = await sent(store, clock)  # request R0 (see sent())
    first = (await store.get(txn_id)).request_msg_id
    await store.apply_trigger(txn_id, T.FAILED_TECHNICALLY, error_text="no answer in time")
    await store.apply_trigger(txn_id, T.RETRY, msg_id="Q2")
    answer = await store.apply_trigger(txn_id, T.GOT_VALID, state_id="AB1234567", msg_id="R1", in_reply_to=first)
    assert answer.applied and answer.txn.state is S.MATCHED  # same IdStatus (Request): as good as Q2's answer


async def test_payload_checks(store, clock):
    txn_id = await sent(store, clock)
    with pytest.raises(ValueError, match="state_id"):
        await store.apply_trigger(txn_id, T.GOT_VALID)
    await store.apply_trigger(txn_id, T.GOT_AMBIGUOUS, candidates=[Candidate("A1", 90.0), {"state_id": "A2"}])
    with pytest.raises(ValueError, match="not one of its candidates"):
        await store.apply_trigger(txn_id, T.RESOLVE, pick="ZZ")
    assert (await store.get(txn_id)).state is S.AMBIGUOUS


async def test_sqlite_pragmas(store):
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL


# --------------------------------------------------------------------------- scenarios


async def test_match_then_write_back(store, clock):
    txn = await new(store)
    assert [d.action for d in await store.due()] == ["send"]
    r = await store.apply_trigger(txn.transaction_id, T.SEND, msg_id="REQ1")
    assert r.applied and r.txn.state is S.SENT and r.txn.request_kind == "Request"
    assert r.txn.request_msg_id == "REQ1" and r.txn.next_attempt_at == clock.now + 1800
    assert await store.due() == []
    clock.advance(10)
    r = await store.apply_response(txn.transaction_id, [sl(txn.transaction_id, IdStatus.VALID, "AB1234567")],
                                   msg_id="RSP1", in_reply_to="REQ1")
    assert r.txn.state is S.MATCHED and r.txn.state_id == "AB1234567"
    assert await store.due() == [Due("write_back", r.txn)]
    r = await store.apply_trigger(txn.transaction_id, T.WROTE_BACK, msg_id="EVT1")
    assert r.txn.state is S.WRITTEN_BACK and r.txn.next_attempt_at is None
    assert await store.due(clock.advance(10 ** 7)) == []
    assert kinds(await store.receipts(txn.transaction_id)) == [
        ("created", None, "new"), ("request", "send", "sent"), ("response", "got_valid", "matched"),
        ("writeback", "wrote_back", "written_back")]
    assert (await store.receipts(txn.transaction_id))[2].summary == "valid: AB1234567"


async def test_write_back_failure_is_retried(store, clock):
    txn_id = await sent(store, clock)
    await store.apply_trigger(txn_id, T.GOT_VALID, state_id="AB1")
    r = await store.apply_trigger(txn_id, T.FAILED_TECHNICALLY, error_text="district zone down")
    assert (r.txn.state, r.txn.attempts, r.txn.next_attempt_at) == (S.MATCHED, 1, clock.now + 60)
    assert await store.due() == []
    assert [d.action for d in await store.due(clock.advance(60))] == ["write_back"]


async def test_ambiguous_follow_ups_then_state_side_resolution(store, clock):
    txn_id = await sent(store, clock)
    r = await store.apply_response(txn_id, [sl(txn_id, IdStatus.AMBIGUOUS, "A1", "70"),
                                            sl(txn_id, IdStatus.AMBIGUOUS, "A2", "92")],
                                   msg_id="RSP1", in_reply_to="REQ1")
    t = r.txn
    assert t.state is S.AMBIGUOUS and [c.state_id for c in t.candidates] == ["A2", "A1"]
    assert t.candidates[0].confidence == 92.0 and t.candidates[0].last_name == "Smith"
    assert t.next_attempt_at == clock.now + 300
    await store.record_email(txn_id, "ambiguous", ["staff@district.example"])
    assert await store.due(clock.now + 299) == []
    clock.advance(300)
    assert [d.action for d in await store.due()] == ["follow_up"]
    # follow-up 1: still ambiguous (schedule continues: next after 900 s)
    r = await store.apply_trigger(txn_id, T.FOLLOW_UP, msg_id="REQ2")
    assert (r.txn.attempts, r.txn.next_attempt_at, r.txn.request_msg_id) == (1, clock.now + 900, "REQ2")
    clock.advance(5)
    r = await store.apply_response(txn_id, [sl(txn_id, IdStatus.AMBIGUOUS, "A1", "70")],
                                   msg_id="RSP2", in_reply_to="REQ2")
    assert r.txn.state is S.AMBIGUOUS and r.txn.attempts == 1 and r.txn.next_attempt_at == clock.now + 895
    assert [c.state_id for c in r.txn.candidates] == ["A1"]
    # follow-up 2 fails technically: stays ambiguous, schedule kept
    clock.advance(895)
    r = await store.apply_trigger(txn_id, T.FOLLOW_UP, msg_id="REQ3")
    nxt = r.txn.next_attempt_at
    assert nxt == clock.now + 3600
    r = await store.apply_response(txn_id, Error(category=8, code=16, desc="timeout"), msg_id="RSP3",
                                   in_reply_to="REQ3")
    assert (r.txn.state, r.txn.next_attempt_at, r.txn.error_text) == (S.AMBIGUOUS, nxt, "8/16 timeout")
    # follow-up 3: the state staff resolved it
    clock.advance(3600)
    await store.apply_trigger(txn_id, T.FOLLOW_UP, msg_id="REQ4")
    r = await store.apply_response(txn_id, [sl(txn_id, IdStatus.VALID, "A1")], msg_id="RSP4", in_reply_to="REQ4")
    assert (r.txn.state, r.txn.state_id, r.txn.attempts, r.txn.error_text) == (S.MATCHED, "A1", 0, None)
    await store.apply_trigger(txn_id, T.WROTE_BACK, msg_id="EVT1")
    assert (await store.get(txn_id)).state is S.WRITTEN_BACK
    assert [e.kind for e in await store.emails(txn_id)] == ["ambiguous"]


async def test_ambiguous_then_district_resolve(store, clock):
    txn_id = await sent(store, clock)
    await store.apply_trigger(txn_id, T.GOT_AMBIGUOUS, msg_id="RSP1",
                              candidates=[Candidate("A1", 80.0), Candidate("A2", 60.0)])
    r = await store.apply_trigger(txn_id, T.RESOLVE, pick="A2", msg_id="REQ2")
    assert (r.txn.state, r.txn.picked_state_id, r.txn.request_kind, r.txn.request_msg_id) == (
        S.RESOLVE_SENT, "A2", "Resolve", "REQ2")
    assert [d.action for d in await store.due(clock.now + 1800)] == ["timed_out"]
    r = await store.apply_response(txn_id, [sl(txn_id, IdStatus.VALID, "A2")], msg_id="RSP2", in_reply_to="REQ2")
    assert (r.txn.state, r.txn.state_id) == (S.MATCHED, "A2")


async def test_ambiguous_then_district_asks_new_and_resolve_faults(store, clock):
    txn_id = await sent(store, clock)
    await store.apply_trigger(txn_id, T.GOT_AMBIGUOUS, msg_id="RSP1", candidates=[Candidate("A1")])
    r = await store.apply_trigger(txn_id, T.ASK_NEW, msg_id="REQ2")
    assert (r.txn.state, r.txn.request_kind, r.txn.picked_state_id) == (S.NEW_SENT, "New", None)
    r = await store.apply_trigger(txn_id, T.FAILED_TECHNICALLY, error_text="8/4 No provider")
    assert (r.txn.state, r.txn.request_kind) == (S.FAULT, "New")  # the retry re-sends New
    clock.advance(60)
    due = await store.due()
    assert [(d.action, d.txn.request_kind) for d in due] == [("retry", "New")]
    r = await store.apply_trigger(txn_id, T.RETRY, msg_id="REQ3")
    assert (r.txn.state, r.txn.request_kind, r.txn.request_msg_id) == (S.SENT, "New", "REQ3")
    r = await store.apply_trigger(txn_id, T.GOT_VALID, state_id="NEW0001", msg_id="RSP3", in_reply_to="REQ3")
    assert r.txn.state is S.MATCHED


async def test_error_then_new_transaction_on_change(store, clock):
    first = await sent(store, clock)
    err = Error(category=8, code=1, desc="Insufficient data", extended_desc="BirthDate missing")
    r = await store.apply_response(first, [sl(first, IdStatus.ERROR, error=err)], msg_id="RSP1",
                                   in_reply_to="REQ1")
    assert (r.txn.state, r.txn.error_text, r.txn.next_attempt_at) == (
        S.ERROR, "8/1 Insufficient data: BirthDate missing", None)
    await store.record_email(first, "error", ["staff@district.example"])
    with pytest.raises(IllegalTransition):
        await store.apply_trigger(first, T.RETRY)
    with pytest.raises(IllegalTransition):
        await store.reschedule(first)
    # a later StudentPersonal Change with the corrected field starts a new transaction
    clock.advance(3600)
    second = await store.create("district-1", "SP1", {**INPUTS, "birth_date": "2015-03-05"}, district_irn="043752")
    assert second.transaction_id != first
    latest = await store.latest_for_student("district-1", "SP1")
    assert latest.transaction_id == second.transaction_id and latest.state is S.NEW
    assert latest.inputs["birth_date"] == "2015-03-05"
    assert await store.latest_for_student("district-1", "nobody") is None
    assert (await store.get(first)).state is S.ERROR


async def test_fault_then_retry(store, clock):
    txn = await new(store)
    r = await store.apply_trigger(txn.transaction_id, T.FAILED_TECHNICALLY, error_text="state zone unreachable")
    assert (r.txn.state, r.txn.attempts, r.txn.next_attempt_at) == (S.FAULT, 1, clock.now + 60)
    assert r.txn.request_kind is None  # never sent: the retry sends the Request
    clock.advance(60)
    await store.apply_trigger(txn.transaction_id, T.RETRY, msg_id="REQ1")
    r = await store.apply_response(txn.transaction_id, Error(category=8, code=4, desc="No provider"),
                                   msg_id="RSP1", in_reply_to="REQ1")
    assert (r.txn.state, r.txn.attempts, r.txn.next_attempt_at) == (S.FAULT, 2, clock.now + 300)
    assert r.txn.error_text == "8/4 No provider"
    # console: retry now
    r2 = await store.reschedule(txn.transaction_id)
    assert r2.next_attempt_at == clock.now
    assert [d.action for d in await store.due()] == ["retry"]
    await store.apply_trigger(txn.transaction_id, T.RETRY, msg_id="REQ2")
    r = await store.apply_trigger(txn.transaction_id, T.GOT_VALID, state_id="AB1", msg_id="RSP2",
                                  in_reply_to="REQ2")
    assert (r.txn.state, r.txn.attempts, r.txn.error_text) == (S.MATCHED, 0, None)


async def test_no_response_in_time(store, clock):
    txn_id = await sent(store, clock)
    clock.advance(1800)
    [d] = await store.due()
    assert d.action == "timed_out"
    r = await store.apply_trigger(txn_id, T.FAILED_TECHNICALLY, error_text="no response in 30 min")
    assert r.txn.state is S.FAULT


async def test_cancel(store, clock):
    txn_id = await sent(store, clock)
    r = await store.apply_trigger(txn_id, T.CANCEL, msg_id="REQ2", summary="cancelled by console user admin")
    assert (r.txn.state, r.txn.request_kind, r.txn.next_attempt_at) == (S.CANCELLED, "Cancel", None)
    r = await store.apply_response(txn_id, [sl(txn_id, IdStatus.CANCELLED)], msg_id="RSP2", in_reply_to="REQ2")
    assert r.applied and r.txn.state is S.CANCELLED
    assert (await store.receipts(txn_id))[2].summary == "cancelled by console user admin"
    assert [t.transaction_id for t in await store.list(status="cancelled")] == [txn_id]


# --------------------------------------------------------------------------- idempotency


async def test_redelivered_response_is_applied_once(store, clock):
    txn_id = await sent(store, clock)
    amb = [sl(txn_id, IdStatus.AMBIGUOUS, "A1", "80")]
    first = await store.apply_response(txn_id, amb, msg_id="RSP1", in_reply_to="REQ1")
    clock.advance(100)
    again = await store.apply_response(txn_id, amb, msg_id="RSP1", in_reply_to="REQ1")
    assert first.applied and not again.applied and "duplicate" in again.reason
    assert again.txn == first.txn  # schedule not pushed, nothing rewritten
    # a redelivered Valid after the transaction moved on is ignored too
    await store.apply_trigger(txn_id, T.FOLLOW_UP, msg_id="REQ2")
    valid = [sl(txn_id, IdStatus.VALID, "A1")]
    assert (await store.apply_response(txn_id, valid, msg_id="RSP2", in_reply_to="REQ2")).applied
    await store.apply_trigger(txn_id, T.WROTE_BACK, msg_id="EVT1")
    dup = await store.apply_response(txn_id, valid, msg_id="RSP2", in_reply_to="REQ2")
    assert not dup.applied and dup.txn.state is S.WRITTEN_BACK
    assert not (await store.apply_trigger(txn_id, T.WROTE_BACK, msg_id="EVT1")).applied
    assert not (await store.apply_trigger(txn_id, T.SEND, msg_id="REQ1")).applied
    assert [r.msg_id for r in await store.receipts(txn_id)] == [None, "REQ1", "RSP1", "REQ2", "RSP2", "EVT1"]


async def test_concurrent_redelivery_applies_once(store, clock):
    txn_id = await sent(store, clock)
    results = await asyncio.gather(*[
        store.apply_trigger(txn_id, T.GOT_VALID, state_id="AB1", msg_id="RSP1", in_reply_to="REQ1")
        for _ in range(4)])
    assert sum(r.applied for r in results) == 1
    assert all(isinstance(r, Applied) and r.txn.state is S.MATCHED for r in results)
    assert sum(r.kind == "response" for r in await store.receipts(txn_id)) == 1


async def test_stale_answer_to_an_older_request_is_ignored(store, clock):
    txn_id = await sent(store, clock)
    await store.apply_trigger(txn_id, T.GOT_AMBIGUOUS, msg_id="RSP1", in_reply_to="REQ1",
                              candidates=[Candidate("A1"), Candidate("A2")])
    await store.apply_trigger(txn_id, T.FOLLOW_UP, msg_id="REQ2")
    await store.apply_trigger(txn_id, T.RESOLVE, pick="A2", msg_id="REQ3")
    # the follow-up's Ambiguous arrives after the district's Resolve went out
    late = await store.apply_response(txn_id, [sl(txn_id, IdStatus.AMBIGUOUS, "A1")], msg_id="RSP2",
                                      in_reply_to="REQ2")
    assert not late.applied and late.reason.startswith("stale")
    assert late.txn.state is S.RESOLVE_SENT and [c.state_id for c in late.txn.candidates] == ["A1", "A2"]
    assert (await store.receipts(txn_id))[-1].summary.startswith("stale")
    # and it stays idempotent
    assert "duplicate" in (await store.apply_response(txn_id, [sl(txn_id, IdStatus.AMBIGUOUS, "A1")],
                                                      msg_id="RSP2", in_reply_to="REQ2")).reason
    r = await store.apply_response(txn_id, [sl(txn_id, IdStatus.VALID, "A2")], msg_id="RSP3", in_reply_to="REQ3")
    assert r.applied and r.txn.state_id == "A2"


async def test_due_orders_and_limits(store, clock):
    a = await new(store, "SP1")
    clock.advance(1)
    b = await new(store, "SP2")
    await store.apply_trigger(a.transaction_id, T.FAILED_TECHNICALLY)  # due at now + 60
    got = await store.due(clock.now + 60)
    assert [(d.action, d.txn.student_ref) for d in got] == [("send", "SP2"), ("retry", "SP1")]
    assert [d.txn.transaction_id for d in await store.due(clock.now + 60, limit=1)] == [b.transaction_id]


async def test_cancel_before_sending_tells_the_state_nothing(store, clock):
    txn = await new(store)
    r = await store.apply_trigger(txn.transaction_id, T.CANCEL)
    assert (r.txn.state, r.txn.request_kind, r.txn.request_msg_id) == (S.CANCELLED, None, None)
    assert kinds(await store.receipts(txn.transaction_id))[-1] == ("cancel", "cancel", "cancelled")
    assert await store.due(clock.now + 10 ** 6) == []
