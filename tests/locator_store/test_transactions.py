"""The per-transaction lifecycle table, its scheduling rules and response classification (pure)."""

from __future__ import annotations

import itertools

import pytest

from messages import Error, SIFError
from messages.objects import Demographics, IdStatus, Name, StudentLocator
from sif_agent.locator.transactions import (
    AWAITING, DEFAULT_POLICY, FAULT_BACKOFF, FINAL, FOLLOW_UP_BACKOFF, REQUEST_KIND, TRANSITIONS, Backoff,
    Candidate,
    IllegalTransition, Policy, Trigger, TxnState, classify, is_fault, plan, transition,
)

S, T = TxnState, Trigger
TXN = "0123456789ABCDEF0123456789ABCDEF"

#: the whole table, written out independently of the module (every legal pair)
EXPECTED = {
    (S.NEW, T.SEND): S.SENT,
    (S.NEW, T.FAILED_TECHNICALLY): S.FAULT,
    (S.NEW, T.CANCEL): S.CANCELLED,
    (S.SENT, T.GOT_VALID): S.MATCHED,
    (S.SENT, T.GOT_AMBIGUOUS): S.AMBIGUOUS,
    (S.SENT, T.GOT_ERROR): S.ERROR,
    (S.SENT, T.GOT_CANCELLED): S.CANCELLED,
    (S.SENT, T.FAILED_TECHNICALLY): S.FAULT,
    (S.SENT, T.CANCEL): S.CANCELLED,
    (S.AMBIGUOUS, T.FOLLOW_UP): S.AMBIGUOUS,
    (S.AMBIGUOUS, T.GOT_AMBIGUOUS): S.AMBIGUOUS,
    (S.AMBIGUOUS, T.GOT_VALID): S.MATCHED,
    (S.AMBIGUOUS, T.GOT_ERROR): S.ERROR,
    (S.AMBIGUOUS, T.GOT_CANCELLED): S.CANCELLED,
    (S.AMBIGUOUS, T.FAILED_TECHNICALLY): S.AMBIGUOUS,
    (S.AMBIGUOUS, T.RESOLVE): S.RESOLVE_SENT,
    (S.AMBIGUOUS, T.ASK_NEW): S.NEW_SENT,
    (S.AMBIGUOUS, T.CANCEL): S.CANCELLED,
    **{(s, t): n for s in (S.RESOLVE_SENT, S.NEW_SENT) for t, n in (
        (T.GOT_VALID, S.MATCHED), (T.GOT_AMBIGUOUS, S.AMBIGUOUS), (T.GOT_ERROR, S.ERROR),
        (T.GOT_CANCELLED, S.CANCELLED), (T.FAILED_TECHNICALLY, S.FAULT), (T.CANCEL, S.CANCELLED))},
    (S.FAULT, T.RETRY): S.SENT,
    (S.FAULT, T.FAILED_TECHNICALLY): S.FAULT,
    (S.FAULT, T.CANCEL): S.CANCELLED,
    (S.FAULT, T.GOT_VALID): S.MATCHED,  # the timed-out request is answered after all
    (S.FAULT, T.GOT_AMBIGUOUS): S.AMBIGUOUS,
    (S.FAULT, T.GOT_ERROR): S.ERROR,
    (S.FAULT, T.GOT_CANCELLED): S.CANCELLED,
    (S.MATCHED, T.WROTE_BACK): S.WRITTEN_BACK,
    (S.MATCHED, T.FAILED_TECHNICALLY): S.MATCHED,
    (S.CANCELLED, T.GOT_CANCELLED): S.CANCELLED,
}


def test_table_is_exactly_the_expected_one():
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize("state,trigger", list(itertools.product(S, T)),
                         ids=lambda v: v.value)
def test_every_pair(state, trigger):
    if (state, trigger) in EXPECTED:
        assert transition(state, trigger) is EXPECTED[(state, trigger)]
    else:
        with pytest.raises(IllegalTransition) as info:
            transition(state, trigger)
        assert info.value.state is state and info.value.trigger is trigger
        assert state.value in str(info.value) and trigger.value in str(info.value)


def test_final_states_only_accept_the_cancel_confirmation():
    assert {s for (s, _t) in TRANSITIONS} & FINAL == {S.CANCELLED}
    assert "nothing (final)" in str(IllegalTransition(S.WRITTEN_BACK, T.RETRY, TXN))
    assert TXN in str(IllegalTransition(S.ERROR, T.RETRY, TXN))


def test_every_state_is_reachable_from_new():
    seen, todo = {S.NEW}, [S.NEW]
    while todo:
        s = todo.pop()
        for (frm, _t), to in TRANSITIONS.items():
            if frm is s and to not in seen:
                seen.add(to)
                todo.append(to)
    assert seen == set(S)


# --------------------------------------------------------------------------- backoff

HALF = lambda: 0.5  # noqa: E731 - no jitter


def test_follow_up_schedule_default():
    assert [FOLLOW_UP_BACKOFF.delay(n, HALF) for n in range(7)] == [300, 900, 3600, 14400, 86400, 86400, 86400]


def test_fault_schedule_default():
    assert [FAULT_BACKOFF.delay(n, HALF) for n in range(6)] == [60, 300, 900, 3600, 14400, 14400]


def test_jitter_bounds_and_injection():
    b = Backoff((100.0,), 1000.0, jitter=0.2)
    assert b.delay(0, lambda: 0.0) == pytest.approx(80)
    assert b.delay(0, lambda: 0.999999) == pytest.approx(120, rel=1e-4)
    assert b.next_at(1000.0, 3, HALF) == 2000.0


def test_limit_and_configuration():
    b = Backoff((10.0, 20.0), 30.0, jitter=0.0, limit=3)
    assert [b.delay(n) for n in range(5)] == [10, 20, 30, None, None]
    assert b.next_at(0.0, 3) is None
    with pytest.raises(ValueError):
        Backoff((-1.0,), 1.0)
    with pytest.raises(ValueError):
        Backoff((1.0,), 1.0, jitter=1.0)
    with pytest.raises(ValueError):
        b.base(-1)


POLICY = Policy(follow_up=Backoff((300.0, 900.0), 86400.0, jitter=0), fault=Backoff((60.0, 300.0), 3600.0, jitter=0),
                response_timeout=1800.0)


def p(state, trigger, attempts=0, next_at=None, now=1000.0):
    return plan(state, trigger, attempts, now, next_at, POLICY, HALF)


def test_plan_scheduling_rules():
    s = p(S.NEW, T.SEND)
    assert (s.state, s.attempts, s.next_attempt_at) == (S.SENT, 0, 2800.0)
    # fault backoff grows across retries
    f1 = p(S.SENT, T.FAILED_TECHNICALLY)
    assert (f1.state, f1.attempts, f1.next_attempt_at) == (S.FAULT, 1, 1060.0)
    r = p(S.FAULT, T.RETRY, attempts=1)
    assert (r.state, r.attempts, r.next_attempt_at) == (S.SENT, 1, 2800.0)
    f2 = p(S.SENT, T.FAILED_TECHNICALLY, attempts=1)
    assert (f2.attempts, f2.next_attempt_at) == (2, 1300.0)
    assert p(S.FAULT, T.FAILED_TECHNICALLY, attempts=2).next_attempt_at == 1000.0 + 3600
    # newly ambiguous: first follow-up after steps[0]; each follow-up pushes the next one further
    a = p(S.SENT, T.GOT_AMBIGUOUS, attempts=3)
    assert (a.state, a.attempts, a.next_attempt_at) == (S.AMBIGUOUS, 0, 1300.0)
    fu = p(S.AMBIGUOUS, T.FOLLOW_UP, attempts=0)
    assert (fu.attempts, fu.next_attempt_at) == (1, 1900.0)
    assert p(S.AMBIGUOUS, T.FOLLOW_UP, attempts=1).next_attempt_at == 1000.0 + 86400
    # an Ambiguous answer to a follow-up, or a failed follow-up, keeps the schedule
    assert p(S.AMBIGUOUS, T.GOT_AMBIGUOUS, 2, 5555.0) == type(a)(S.AMBIGUOUS, 2, 5555.0)
    assert p(S.AMBIGUOUS, T.FAILED_TECHNICALLY, 2, 5555.0) == type(a)(S.AMBIGUOUS, 2, 5555.0)
    # district resolution waits for the answer; matched is due at once; failed write-back backs off
    assert p(S.AMBIGUOUS, T.RESOLVE, 4).next_attempt_at == 2800.0
    m = p(S.RESOLVE_SENT, T.GOT_VALID, 3)
    assert (m.state, m.attempts, m.next_attempt_at) == (S.MATCHED, 0, 1000.0)
    wb = p(S.MATCHED, T.FAILED_TECHNICALLY, 0)
    assert (wb.state, wb.attempts, wb.next_attempt_at) == (S.MATCHED, 1, 1060.0)
    for state, trig in [(S.MATCHED, T.WROTE_BACK), (S.SENT, T.GOT_ERROR), (S.AMBIGUOUS, T.CANCEL),
                        (S.CANCELLED, T.GOT_CANCELLED)]:
        assert p(state, trig).next_attempt_at is None


def test_plan_raises_on_illegal():
    with pytest.raises(IllegalTransition):
        plan(S.ERROR, T.RETRY, 0, 0.0)


def test_default_policy():
    assert DEFAULT_POLICY.response_timeout == 3600 and AWAITING == {S.SENT, S.RESOLVE_SENT, S.NEW_SENT}


# --------------------------------------------------------------------------- classify


def sl(status, sid="", conf=None, txn=TXN, last="Smith", error=None, birth="2015-03-04"):
    return StudentLocator(id_status=status, transaction_id=txn, state_province_id=sid, confidence=conf,
                          names=(Name(type="04", last_name=last, first_name="Ann"),),
                          demographics=Demographics(birth_date=birth), error=error)


def test_valid():
    o = classify([sl(IdStatus.VALID, "AB1234567")], TXN)
    assert (o.trigger, o.state_id, o.payload()) == (T.GOT_VALID, "AB1234567", {"state_id": "AB1234567"})


def test_ambiguous_candidates_sorted_by_confidence():
    o = classify([sl(IdStatus.AMBIGUOUS, "A1", "70"), sl(IdStatus.AMBIGUOUS, "A2", None),
                  sl(IdStatus.AMBIGUOUS, "A3", "91.5"), sl(IdStatus.AMBIGUOUS, "A4", "88"),
                  sl(IdStatus.AMBIGUOUS, "A5", "bad")], TXN)
    assert o.trigger is T.GOT_AMBIGUOUS
    assert [c.state_id for c in o.candidates] == ["A3", "A4", "A1", "A2", "A5"]
    c = o.candidates[0]
    assert (c.confidence, c.last_name, c.first_name, c.birth_date) == (91.5, "Smith", "Ann", "2015-03-04")
    assert Candidate.from_json(c.to_json()) == c
    assert o.payload()["candidates"] == list(o.candidates)


def test_error_object_carries_the_fields_to_fix():
    err = Error(category=8, code=1, desc="Insufficient data", extended_desc="BirthDate is missing")
    o = classify([sl(IdStatus.ERROR, error=err)])
    assert o.trigger is T.GOT_ERROR and o.error_text == "8/1 Insufficient data: BirthDate is missing"
    assert classify([sl(IdStatus.ERROR)]).error_text == "the state reported an error without a SIF_Error"


def test_cancelled():
    assert classify([sl(IdStatus.CANCELLED)], TXN).trigger is T.GOT_CANCELLED


@pytest.mark.parametrize("status", [IdStatus.REQUEST, IdStatus.RELEASE, IdStatus.RESOLVE, IdStatus.NEW,
                                    IdStatus.CANCEL, "Bogus"])
def test_district_side_or_unknown_status_is_a_fault(status):
    o = classify([sl(status, "X")])
    assert o.trigger is T.FAILED_TECHNICALLY and "unexpected IdStatus" in o.error_text


def test_every_id_status_is_classified():
    got = {s: classify([sl(s, "AB1")]).trigger for s in IdStatus}
    assert got == {IdStatus.VALID: T.GOT_VALID, IdStatus.AMBIGUOUS: T.GOT_AMBIGUOUS, IdStatus.ERROR: T.GOT_ERROR,
                   IdStatus.CANCELLED: T.GOT_CANCELLED, IdStatus.REQUEST: T.FAILED_TECHNICALLY,
                   IdStatus.RELEASE: T.FAILED_TECHNICALLY, IdStatus.RESOLVE: T.FAILED_TECHNICALLY,
                   IdStatus.NEW: T.FAILED_TECHNICALLY, IdStatus.CANCEL: T.FAILED_TECHNICALLY}


def test_unusable_responses_are_faults():
    assert classify([]).trigger is T.FAILED_TECHNICALLY
    assert classify([sl(IdStatus.VALID, "A1", txn="F" * 32)], TXN).trigger is T.FAILED_TECHNICALLY
    assert classify([sl(IdStatus.VALID, "")]).trigger is T.FAILED_TECHNICALLY
    assert classify([sl(IdStatus.VALID, "A1"), sl(IdStatus.VALID, "A2")]).trigger is T.FAILED_TECHNICALLY
    assert classify([sl(IdStatus.VALID, "A1"), sl(IdStatus.VALID, "A1")]).state_id == "A1"
    mixed = classify([sl(IdStatus.VALID, "A1"), sl(IdStatus.AMBIGUOUS, "A2")])
    assert mixed.trigger is T.FAILED_TECHNICALLY and "Ambiguous, Valid" in mixed.error_text


ERROR_8 = {1, 3, 9, 15, 19}


@pytest.mark.parametrize("code", range(1, 20))
def test_request_response_errors(code):
    err = Error(category=8, code=code, desc="x")
    o = classify(err)
    expected = T.GOT_ERROR if code in ERROR_8 else T.FAILED_TECHNICALLY
    assert o.trigger is expected and o.error_text.startswith(f"8/{code} ")
    assert classify(SIFError(8, code, "x")).trigger is expected


@pytest.mark.parametrize("category", range(0, 15))
def test_other_categories(category):
    if category == 8:
        return
    expected = T.GOT_ERROR if category == 1 else T.FAILED_TECHNICALLY
    assert classify(Error(category=category, code=1, desc="x")).trigger is expected
    assert is_fault(Error(category=category, code=1, desc="x")) is (expected is T.FAILED_TECHNICALLY)


def test_named_cases_from_the_brief():
    assert classify(Error(category=8, code=4, desc="No provider")).trigger is T.FAILED_TECHNICALLY
    assert classify(Error(category=8, code=16, desc="timeout")).trigger is T.FAILED_TECHNICALLY
    assert classify(Error(category=8, code=9, desc="unsupported")).trigger is T.GOT_ERROR


def test_request_kind_per_sending_trigger():
    assert {t: k.value for t, k in REQUEST_KIND.items()} == {
        T.SEND: "Request", T.FOLLOW_UP: "Request", T.RESOLVE: "Resolve", T.ASK_NEW: "New", T.CANCEL: "Cancel"}
    assert T.RETRY not in REQUEST_KIND  # a retry re-sends whatever failed
