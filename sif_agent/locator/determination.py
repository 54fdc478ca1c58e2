"""New Student Determination: when is a series of "new student" events complete?

Seed (SLF technical overview, "New Student Determination"): the Student Locator lets
administrators choose, per district zone, when to start a StudentLocator transaction:

1. ``ON_ADDS`` - on receipt of the StudentPersonal Add and the StudentSchoolEnrollment Add
   (in either order, with any time gap between them). Missing data fails later, at the state.
2. ``AFTER_FIRST_CHANGE`` - as 1, and after the first StudentPersonal Change received after
   both Adds (designed for SASI, which adds a student in one step and completes it in another).
3. ``ALL_REQUIRED_FIELDS`` - once all required fields are present, whatever the number and
   order of Add and Change events.

A student already looked up does not start again, except that "if Student Locator receives a
StudentPersonal Change event for an object that has a previously failed transaction, it will
initiate a new transaction".

This module is pure: the per-student lookup state is a small table (``TRANSITIONS``) with the
rules on top (``decide``); the caller stores the state, folds each event into the
``StudentRecord`` and applies the decision with ``apply``.

Rules the seed does not spell out, and what we chose:

* ``decide`` reads the event history ``record.events``; the caller may append the triggering
  event before or after calling (a duplicate of the last event never changes the answer).
* Duplicate (redelivered) Adds are harmless: conditions are about *having seen* an event, and a
  student leaves ``WAITING`` exactly once, so a redelivery after the start is ignored.
* A Change before any Add does not count as an Add: in modes 1 and 2 a student known only from
  Change events is an existing student, not a new one, and keeps waiting. In mode 2 a
  StudentPersonal Change counts only if it is received *after* both Adds.
* Mode 3 follows the seed literally: only the required-field check matters, Adds are not
  required. (Adapters guard against looking up existing students with an inclusion hook,
  e.g. ``inclusion.exclude_when_state_id_present``.)
* A StudentPersonal Delete while ``WAITING`` cancels the wait (``CANCELLED``, terminal): the SIS
  has withdrawn the student, and RefIds are GUIDs that are not reused, so a later Add or
  Change for that RefId (e.g. a late redelivery) is ignored with a reason. A Delete after a
  failed transaction also cancels, so no Change can restart it. A Delete while a transaction
  is in progress or done is only reported: the transaction belongs to the transaction
  manager and the console (which can cancel it).
* A StudentSchoolEnrollment Delete never cancels: the student may have other enrollments, and
  the inclusion rules (Home enrollment in the active year) judge the enrollments still on
  record when the transaction starts.
* After a failure, in mode 3 the restarting StudentPersonal Change must also bring all
  required fields (the mode's promise is never to start without them); otherwise it waits for
  the next StudentPersonal Change. Events other than a StudentPersonal Change never restart.
* A Change received while a transaction is in progress is ignored; if that transaction then
  fails, the next StudentPersonal Change starts a new one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .student import StudentRecord

SP = "StudentPersonal"
SSE = "StudentSchoolEnrollment"

Event = tuple[str, str]  # (object name, action), as in StudentRecord.events

SP_ADD: Event = (SP, "Add")
SP_CHANGE: Event = (SP, "Change")
SP_DELETE: Event = (SP, "Delete")
SSE_ADD: Event = (SSE, "Add")
SSE_CHANGE: Event = (SSE, "Change")
SSE_DELETE: Event = (SSE, "Delete")


class Mode(enum.Enum):
    """The seed's three determination modes; the value is the seed's number."""

    ON_ADDS = 1
    AFTER_FIRST_CHANGE = 2
    ALL_REQUIRED_FIELDS = 3

    @classmethod
    def parse(cls, value: int | str | Mode) -> Mode:
        """From config: 1/2/3, "1", or a name such as "on_adds" / "AFTER_FIRST_CHANGE"."""
        if isinstance(value, Mode):
            return value
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                number = int(text)
            elif text.upper().replace("-", "_").replace(" ", "_") in cls.__members__:
                return cls[text.upper().replace("-", "_").replace(" ", "_")]
        if number in (1, 2, 3):
            return cls(number)
        raise ValueError(
            f"unknown new-student determination mode {value!r}: use 1 (on_adds), "
            "2 (after_first_change) or 3 (all_required_fields)"
        )


#: The seed's recommendation: "Mode 1 is the default recommendation."
DEFAULT_MODE = Mode.ON_ADDS


def mode_for_zone(modes: Mapping[str, int | str | Mode], zone_id: str) -> Mode:
    """The mode configured for a district zone, or the default (mode 1)."""
    return Mode.parse(modes[zone_id]) if zone_id in modes else DEFAULT_MODE


# --------------------------------------------------------------------------- the state table


class LookupState(enum.Enum):
    """Where one student of one district zone stands with the locator."""

    WAITING = "waiting"  # collecting new-student events; no transaction yet
    IN_TRANSACTION = "in transaction"  # a StudentLocator transaction was started and runs
    DONE = "done"  # looked up; the state ID went back to the SIS
    FAILED = "failed"  # insufficient data or error; a StudentPersonal Change restarts
    CANCELLED = "cancelled"  # deleted in the SIS (or cancelled); terminal


class Trigger(enum.Enum):
    START = "start"  # determination (or the console) starts a transaction
    SUCCEED = "succeed"  # the transaction completed with a state ID
    FAIL = "fail"  # the transaction ended in insufficient data / error
    CANCEL = "cancel"  # StudentPersonal Delete, or a console cancel


W, T, D, X, C = (LookupState.WAITING, LookupState.IN_TRANSACTION, LookupState.DONE,
                 LookupState.FAILED, LookupState.CANCELLED)

#: (state, trigger) -> next state. Anything not listed is illegal.
TRANSITIONS: Mapping[tuple[LookupState, Trigger], LookupState] = {
    (W, Trigger.START): T,
    (W, Trigger.CANCEL): C,
    (T, Trigger.SUCCEED): D,
    (T, Trigger.FAIL): X,
    (T, Trigger.CANCEL): C,  # console cancel of a running transaction
    (X, Trigger.START): T,  # StudentPersonal Change after a failure, or a console retry
    (X, Trigger.CANCEL): C,
}
del W, T, D, X, C


class IllegalTransition(ValueError):
    def __init__(self, state: LookupState, trigger: Trigger):
        allowed = sorted(t.value for (s, t) in TRANSITIONS if s is state) or ["nothing"]
        super().__init__(
            f"cannot {trigger.value} a student lookup that is {state.value} "
            f"(allowed from {state.value}: {', '.join(allowed)})"
        )
        self.state = state
        self.trigger = trigger


def transition(state: LookupState, trigger: Trigger) -> LookupState:
    """The next state, or ``IllegalTransition``."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state, trigger) from None


# --------------------------------------------------------------------------- the rules on top


class Action(enum.Enum):
    START = "start"  # start a StudentLocator transaction now
    WAIT = "wait"  # keep collecting events
    IGNORE = "ignore"  # nothing to do for this student
    CANCEL = "cancel"  # stop waiting (or stop restarting) for this student


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str  # plain language, shown in the locator console

    @property
    def trigger(self) -> Trigger | None:
        return {Action.START: Trigger.START, Action.CANCEL: Trigger.CANCEL}.get(self.action)

    def __str__(self) -> str:
        return f"{self.action.value}: {self.reason}"


def start(reason: str) -> Decision:
    return Decision(Action.START, reason)


def wait(reason: str) -> Decision:
    return Decision(Action.WAIT, reason)


def ignore(reason: str) -> Decision:
    return Decision(Action.IGNORE, reason)


def cancel(reason: str) -> Decision:
    return Decision(Action.CANCEL, reason)


def apply(state: LookupState, decision: Decision) -> LookupState:
    """The state after acting on ``decision`` (WAIT and IGNORE leave it unchanged)."""
    trigger = decision.trigger
    return state if trigger is None else transition(state, trigger)


RequiredFields = Callable[[StudentRecord], bool]


def _label(event: Event) -> str:
    return f"{event[0]} {event[1]}"


def _history(record: StudentRecord, event: Event) -> list[Event]:
    events = list(record.events)
    if not events or events[-1] != event:
        events.append(event)
    return events


def _both_adds_at(history: Sequence[Event]) -> int | None:
    """Index of the event that completed the pair of Adds, or None."""
    seen: set[Event] = set()
    for i, ev in enumerate(history):
        if ev in (SP_ADD, SSE_ADD):
            seen.add(ev)
            if len(seen) == 2:
                return i
    return None


def _missing_adds(history: Sequence[Event]) -> str:
    missing = [_label(e) for e in (SP_ADD, SSE_ADD) if e not in history]
    return " and ".join(missing)


def _ready(mode: Mode, record: StudentRecord, history: Sequence[Event],
           has_required_fields: RequiredFields) -> Decision:
    """For a WAITING student: START if the mode's condition holds, else WAIT saying why."""
    if mode is Mode.ALL_REQUIRED_FIELDS:
        if has_required_fields(record):
            return start("mode 3: all required fields are present")
        return wait("mode 3: waiting until all required Student Locator fields are present")
    at = _both_adds_at(history)
    if at is None:
        return wait(f"mode {mode.value}: waiting for {_missing_adds(history)}")
    if mode is Mode.ON_ADDS:
        return start("mode 1: StudentPersonal Add and StudentSchoolEnrollment Add received")
    if SP_CHANGE in history[at + 1:]:
        return start("mode 2: first StudentPersonal Change received after both Adds")
    return wait("mode 2: both Adds received; waiting for the first StudentPersonal Change")


def decide(mode: Mode | int | str, record: StudentRecord, lookup_state: LookupState, event: Event,
           has_required_fields: RequiredFields) -> Decision:
    """What the locator does for ``record`` on receiving ``event``.

    ``record`` holds what is known about the student (with or without ``event`` folded into
    ``record.events``); ``has_required_fields(record)`` is asked only in mode 3, and on a
    restart after a failure in mode 3.
    """
    mode = Mode.parse(mode)
    history = _history(record, event)
    state = lookup_state
    if state is LookupState.CANCELLED:
        return ignore(f"{_label(event)} ignored: the student was deleted in the SIS "
                      "(or its lookup was cancelled)")
    if state is LookupState.DONE:
        if event == SP_DELETE:
            return ignore("StudentPersonal Delete: the student was already looked up; "
                          "nothing to undo")
        return ignore(f"{_label(event)} ignored: the student was already looked up")
    if state is LookupState.IN_TRANSACTION:
        if event == SP_DELETE:
            return ignore("StudentPersonal Delete received while a transaction is in progress: "
                          "it is left to finish (cancel it from the console if needed)")
        return ignore(f"{_label(event)} ignored: a StudentLocator transaction is in progress")
    if state is LookupState.FAILED:
        if event == SP_DELETE:
            return cancel("StudentPersonal Delete: the student was deleted in the SIS after a "
                          "failed transaction; no new transaction will be started")
        if event != SP_CHANGE:
            return ignore(f"{_label(event)} ignored: the previous transaction failed; a "
                          "StudentPersonal Change with corrected data starts a new one")
        if mode is Mode.ALL_REQUIRED_FIELDS and not has_required_fields(record):
            return wait("StudentPersonal Change after a failed transaction, but required "
                        "Student Locator fields are still missing (mode 3); waiting for "
                        "the next StudentPersonal Change")
        return start("StudentPersonal Change received for a student whose previous "
                     "transaction failed: starting a new transaction")
    # WAITING
    if event == SP_DELETE:
        return cancel("StudentPersonal Delete before any transaction started: "
                      "no longer waiting for this student")
    return _ready(mode, record, history, has_required_fields)


def step(mode: Mode | int | str, record: StudentRecord, lookup_state: LookupState, event: Event,
         has_required_fields: RequiredFields) -> tuple[Decision, LookupState]:
    """``decide`` then ``apply``: the decision and the student's next state."""
    decision = decide(mode, record, lookup_state, event, has_required_fields)
    return decision, apply(lookup_state, decision)
