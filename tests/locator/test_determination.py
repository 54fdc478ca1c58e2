"""New Student Determination: the seed's three modes, the state table, events in any order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sif_agent.locator.determination import (
    DEFAULT_MODE, SP_ADD, SP_CHANGE, SP_DELETE, SSE_ADD, SSE_CHANGE, SSE_DELETE, TRANSITIONS,
    Action, Decision, IllegalTransition, LookupState, Mode, Trigger, apply, decide, mode_for_zone,
    step, transition,
)
from sif_agent.locator.student import StudentRecord

W, T, D, X, C = (LookupState.WAITING, LookupState.IN_TRANSACTION, LookupState.DONE,
                 LookupState.FAILED, LookupState.CANCELLED)
SCHOOL_CHANGE = ("SchoolInfo", "Change")
FAIL, SUCCEED = "FAIL", "SUCCEED"  # outcomes of a running transaction, reported by the caller


def never(record: StudentRecord) -> bool:
    return False


def always(record: StudentRecord) -> bool:
    return True


def run(mode, events, *, fields=never, append_first=True):
    """Feed events to one student; FAIL/SUCCEED stand for the transaction's outcome."""
    record = StudentRecord(zone_id="district-1", student_ref="SP1")
    state = W
    decisions: list[Decision | None] = []
    for ev in events:
        if ev in (FAIL, SUCCEED):
            state = transition(state, Trigger.FAIL if ev == FAIL else Trigger.SUCCEED)
            decisions.append(None)
            continue
        if append_first:
            record.events.append(ev)
        decision, state = step(mode, record, state, ev, fields)
        if not append_first:
            record.events.append(ev)
        decisions.append(decision)
    return decisions, state


def starts(decisions) -> list[int]:
    return [i for i, d in enumerate(decisions) if d is not None and d.action is Action.START]


def first_index(events, pred) -> int | None:
    return next((i for i in range(len(events)) if pred(events[: i + 1])), None)


def both_adds(prefix) -> bool:
    return SP_ADD in prefix and SSE_ADD in prefix


# --------------------------------------------------------------------------- the state table

ALL = [(s, t) for s in LookupState for t in Trigger]


@pytest.mark.parametrize("state,trigger", ALL, ids=[f"{s.name}-{t.name}" for s, t in ALL])
def test_every_transition_is_either_in_the_table_or_refused(state, trigger):
    if (state, trigger) in TRANSITIONS:
        assert transition(state, trigger) is TRANSITIONS[(state, trigger)]
    else:
        with pytest.raises(IllegalTransition, match=f"cannot {trigger.value}"):
            transition(state, trigger)


def test_the_table_is_the_one_documented():
    assert dict(TRANSITIONS) == {
        (W, Trigger.START): T, (W, Trigger.CANCEL): C,
        (T, Trigger.SUCCEED): D, (T, Trigger.FAIL): X, (T, Trigger.CANCEL): C,
        (X, Trigger.START): T, (X, Trigger.CANCEL): C,
    }


def test_done_and_cancelled_are_terminal_and_every_state_is_reachable():
    assert not [k for k in TRANSITIONS if k[0] in (D, C)]
    reached, frontier = {W}, [W]
    while frontier:
        s = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is s and dst not in reached:
                reached.add(dst)
                frontier.append(dst)
    assert reached == set(LookupState)


def test_wait_and_ignore_leave_the_state_alone_and_start_is_enforced():
    assert apply(W, Decision(Action.WAIT, "x")) is W
    assert apply(D, Decision(Action.IGNORE, "x")) is D
    with pytest.raises(IllegalTransition):
        apply(T, Decision(Action.START, "x"))
    with pytest.raises(IllegalTransition):
        apply(D, Decision(Action.CANCEL, "x"))


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("value,mode", [
    (1, Mode.ON_ADDS), ("2", Mode.AFTER_FIRST_CHANGE), ("all_required_fields", Mode.ALL_REQUIRED_FIELDS),
    ("after-first-change", Mode.AFTER_FIRST_CHANGE), (Mode.ON_ADDS, Mode.ON_ADDS), (" 3 ", Mode.ALL_REQUIRED_FIELDS),
])
def test_mode_is_read_from_config(value, mode):
    assert Mode.parse(value) is mode


@pytest.mark.parametrize("value", [0, 4, "four", "", True, None, 1.0])
def test_an_unknown_mode_is_refused_with_the_choices(value):
    with pytest.raises(ValueError, match="1 \\(on_adds\\)"):
        Mode.parse(value)


def test_mode_is_configured_per_district_zone_and_mode_1_is_the_default():
    modes = {"sasi-district": 2, "strict-district": "all_required_fields"}
    assert mode_for_zone(modes, "sasi-district") is Mode.AFTER_FIRST_CHANGE
    assert mode_for_zone(modes, "strict-district") is Mode.ALL_REQUIRED_FIELDS
    assert mode_for_zone(modes, "other-district") is Mode.ON_ADDS is DEFAULT_MODE


# --------------------------------------------------------------------------- the seed's sentences

MODE_TABLE = [
    # mode, events, index of the START (None: never), final state
    (1, [SP_ADD, SSE_ADD], 1, T),
    (1, [SSE_ADD, SP_ADD], 1, T),
    (1, [SP_ADD], None, W),
    (1, [SP_CHANGE, SSE_CHANGE], None, W),
    (1, [SP_ADD, SP_ADD, SSE_ADD, SSE_ADD], 2, T),
    (2, [SP_ADD, SSE_ADD], None, W),
    (2, [SP_ADD, SSE_ADD, SP_CHANGE], 2, T),
    (2, [SP_ADD, SP_CHANGE, SSE_ADD], None, W),
    (2, [SP_ADD, SSE_ADD, SSE_CHANGE, SP_CHANGE, SP_CHANGE], 3, T),
    (2, [SP_CHANGE, SSE_ADD, SP_ADD, SP_CHANGE], 3, T),
    (3, [SP_ADD, SSE_ADD, SP_CHANGE], None, W),
    (1, [SP_ADD, SP_DELETE, SSE_ADD], None, C),
    (1, [SP_ADD, SSE_ADD, SP_DELETE], 1, T),
    (2, [SP_ADD, SSE_ADD, SP_DELETE, SP_CHANGE], None, C),
    (1, [SP_ADD, SSE_ADD, SSE_DELETE, SSE_ADD], 1, T),
    (1, [SSE_ADD, SSE_DELETE, SP_ADD], 2, T),
]


@pytest.mark.parametrize("mode,events,at,final", MODE_TABLE)
def test_mode_table(mode, events, at, final):
    decisions, state = run(Mode(mode), events)
    assert starts(decisions) == ([] if at is None else [at])
    assert state is final


def test_mode_1_starts_on_receipt_of_studentpersonal_and_enrollment_adds():
    decisions, state = run(Mode.ON_ADDS, [SP_ADD, SSE_ADD])
    assert decisions[0] == Decision(Action.WAIT, "mode 1: waiting for StudentSchoolEnrollment Add")
    assert decisions[1].action is Action.START
    assert "StudentPersonal Add and StudentSchoolEnrollment Add received" in decisions[1].reason


def test_mode_1_starts_even_with_insufficient_data_the_state_fails_it_later():
    decisions, _ = run(Mode.ON_ADDS, [SSE_ADD, SP_ADD], fields=never)
    assert starts(decisions) == [1]


def test_mode_2_waits_for_the_first_studentpersonal_change_after_both_adds():
    decisions, _ = run(Mode.AFTER_FIRST_CHANGE, [SP_ADD, SSE_ADD, SP_CHANGE])
    assert str(decisions[1]) == ("wait: mode 2: both Adds received; "
                                 "waiting for the first StudentPersonal Change")
    assert decisions[2].action is Action.START


def test_mode_3_does_not_start_until_it_has_all_required_fields_whatever_the_events():
    complete = lambda r: r.events.count(SP_CHANGE) >= 2  # noqa: E731
    decisions, _ = run(Mode.ALL_REQUIRED_FIELDS, [SP_CHANGE, SSE_CHANGE, SP_CHANGE, SP_ADD])
    assert starts(run(Mode.ALL_REQUIRED_FIELDS, [SP_CHANGE, SSE_CHANGE, SP_CHANGE], fields=complete)[0]) == [2]
    assert "waiting until all required" in decisions[0].reason


def test_required_fields_are_asked_only_in_mode_3():
    def boom(record):
        raise AssertionError("asked")
    for mode in (Mode.ON_ADDS, Mode.AFTER_FIRST_CHANGE):
        run(mode, [SP_ADD, SSE_ADD, SP_CHANGE, FAIL, SP_CHANGE], fields=boom)


def test_a_student_already_looked_up_does_not_start_again():
    events = [SP_ADD, SSE_ADD, SUCCEED, SP_CHANGE, SSE_ADD, SP_ADD, SP_DELETE]
    decisions, state = run(Mode.ON_ADDS, events)
    assert starts(decisions) == [1] and state is D
    assert all(d.action is Action.IGNORE for d in decisions[3:])
    assert "already looked up" in decisions[3].reason


def test_events_during_a_transaction_are_ignored():
    decisions, state = run(Mode.ON_ADDS, [SP_ADD, SSE_ADD, SP_CHANGE, SSE_ADD, SP_DELETE])
    assert starts(decisions) == [1] and state is T
    assert "in progress" in decisions[2].reason
    assert "left to finish" in decisions[4].reason


@pytest.mark.parametrize("mode", list(Mode))
def test_a_studentpersonal_change_for_a_previously_failed_transaction_starts_a_new_one(mode):
    events = [SP_ADD, SSE_ADD, SP_CHANGE, FAIL, SSE_CHANGE, SP_ADD, SP_CHANGE, FAIL, SP_CHANGE, SUCCEED, SP_CHANGE]
    decisions, state = run(mode, events, fields=always)
    first = {Mode.ON_ADDS: 1, Mode.AFTER_FIRST_CHANGE: 2, Mode.ALL_REQUIRED_FIELDS: 0}[mode]
    assert starts(decisions) == [first, 6, 8]
    assert state is D
    assert "previous transaction failed" in decisions[4].reason
    assert "previous transaction failed: starting a new transaction" in decisions[6].reason


def test_mode_3_restart_still_needs_the_required_fields():
    fields = lambda r: SP_DELETE not in r.events and r.events.count(SP_CHANGE) != 1  # noqa: E731
    decisions, state = run(Mode.ALL_REQUIRED_FIELDS, [SP_ADD, FAIL, SP_CHANGE, SSE_CHANGE, SP_CHANGE], fields=fields)
    assert starts(decisions) == [0, 4]
    assert decisions[2].action is Action.WAIT and "still missing" in decisions[2].reason
    assert decisions[3].action is Action.IGNORE


def test_a_studentpersonal_delete_before_the_start_cancels_waiting_for_good():
    decisions, state = run(Mode.AFTER_FIRST_CHANGE, [SP_ADD, SSE_ADD, SP_DELETE, SP_ADD, SP_CHANGE])
    assert decisions[2].action is Action.CANCEL and state is C
    assert not starts(decisions)
    assert "deleted in the SIS" in decisions[4].reason


def test_a_studentpersonal_delete_after_a_failure_stops_restarts():
    decisions, state = run(Mode.ON_ADDS, [SP_ADD, SSE_ADD, FAIL, SP_DELETE, SP_CHANGE])
    assert decisions[3].action is Action.CANCEL and state is C
    assert starts(decisions) == [1]


def test_an_enrollment_delete_never_cancels():
    decisions, state = run(Mode.ON_ADDS, [SSE_ADD, SSE_DELETE])
    assert state is W and decisions[1].action is Action.WAIT
    assert decisions[1].reason == "mode 1: waiting for StudentPersonal Add"


# --------------------------------------------------------------------------- any order


def expected_start(mode, events, fields_at=None):
    """Independent statement of the seed's rules for one never-failing transaction."""
    if mode is Mode.ALL_REQUIRED_FIELDS:
        cond = lambda p: fields_at is not None and len(p) > fields_at  # noqa: E731
    elif mode is Mode.ON_ADDS:
        cond = both_adds
    else:
        def cond(p):
            i = first_index(p, both_adds)
            return i is not None and SP_CHANGE in p[i + 1:]
    at = first_index(events, cond)
    delete = events.index(SP_DELETE) if SP_DELETE in events else None
    if at is None or (delete is not None and delete <= at):
        return None
    return at


ALPHABET = [SP_ADD, SSE_ADD, SP_CHANGE, SSE_CHANGE, SP_ADD, SSE_ADD]  # with redelivered Adds


@pytest.mark.parametrize("mode", [Mode.ON_ADDS, Mode.AFTER_FIRST_CHANGE])
@pytest.mark.parametrize("extra", [(), (SP_DELETE,), (SSE_DELETE, SCHOOL_CHANGE)])
def test_every_order_of_adds_changes_duplicates_and_deletes(mode, extra):
    seen = set()
    for events in itertools.permutations(ALPHABET[:5] + list(extra)):
        if events in seen:
            continue
        seen.add(events)
        decisions, _ = run(mode, list(events))
        want = expected_start(mode, list(events))
        assert starts(decisions) == ([] if want is None else [want]), events
    assert len(seen) > 20


@pytest.mark.parametrize("fields_at", range(6))
def test_mode_3_in_every_order_starts_exactly_when_the_fields_are_complete(fields_at):
    for events in set(itertools.permutations(ALPHABET[:5] + [SP_DELETE])):
        fields = lambda r, n=fields_at: len(r.events) > n  # noqa: E731
        decisions, _ = run(Mode.ALL_REQUIRED_FIELDS, list(events), fields=fields)
        want = expected_start(Mode.ALL_REQUIRED_FIELDS, list(events), fields_at)
        assert starts(decisions) == ([] if want is None else [want]), events


@pytest.mark.parametrize("mode", list(Mode))
def test_the_caller_may_fold_the_event_in_before_or_after_deciding(mode):
    for events in set(itertools.permutations(ALPHABET + [SP_CHANGE])):
        a, _ = run(mode, list(events), fields=always)
        b, _ = run(mode, list(events), fields=always, append_first=False)
        assert [d.action for d in a] == [d.action for d in b]


EVENTS = st.sampled_from([SP_ADD, SSE_ADD, SP_CHANGE, SSE_CHANGE, SP_DELETE, SSE_DELETE,
                          SCHOOL_CHANGE, FAIL, SUCCEED])


@settings(max_examples=300, deadline=None)
@given(mode=st.sampled_from(list(Mode)), events=st.lists(EVENTS, max_size=14), k=st.integers(0, 14))
def test_any_sequence_keeps_the_invariants(mode, events, k):
    """One transaction at a time; restarts only on a StudentPersonal Change after a failure;
    nothing after a Delete cancelled the student; every reason is readable text."""
    record = StudentRecord(zone_id="z", student_ref="SP1")
    state = W
    fields = lambda r: len(r.events) > k  # noqa: E731
    for ev in events:
        if ev in (FAIL, SUCCEED):
            if state is T:
                state = transition(state, Trigger.FAIL if ev == FAIL else Trigger.SUCCEED)
            continue
        record.events.append(ev)
        before = state
        decision, state = step(mode, record, state, ev, fields)
        assert decision.reason and decision.reason[0].isalpha()
        if decision.action is Action.START:
            assert before in (W, X)
            if before is X:
                assert ev == SP_CHANGE
        if before in (T, D, C):
            assert decision.action is Action.IGNORE
        if ev == SP_DELETE and before in (W, X):
            assert state is C


def test_decide_is_pure_and_takes_the_mode_number_from_config():
    record = StudentRecord(zone_id="z", student_ref="SP1", events=[SSE_ADD])
    before = list(record.events)
    decision = decide(1, record, W, SP_ADD, never)  # SP Add not yet folded in
    assert decision == Decision(Action.START, "mode 1: StudentPersonal Add and "
                                              "StudentSchoolEnrollment Add received")
    assert record.events == before
