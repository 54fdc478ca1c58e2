"""The lifecycle of one StudentLocator transaction (one TransactionId), as a table.

``determination.py`` tracks a *student* (waiting / in transaction / done / failed); this module
tracks one *transaction*: the request sent to the state zone under a 32-hex TransactionId, the
state's answer, follow-ups, the district's resolution and the write-back of the state ID.

Pure: ``TRANSITIONS`` maps ``(TxnState, Trigger)`` to the next state (anything absent is
illegal: ``IllegalTransition``); ``plan`` adds the scheduling rules on top (attempt counter and
when the transaction is next due); ``classify`` turns a StudentLocator response into a trigger.
``store.py`` keeps the rows and applies the table atomically.

States and what is due next (``Due`` action in ``store.py``):

=============  ====================================================  ========================
state          meaning                                               next due
=============  ====================================================  ========================
NEW            created, not yet sent                                 now: send the Request
SENT           Request delivered to the state zone                   response deadline
AMBIGUOUS      candidates stored; district e-mailed                  follow-up backoff
RESOLVE_SENT   district picked a candidate: IdStatus Resolve sent    response deadline
NEW_SENT       district asked for a new ID: IdStatus New sent        response deadline
MATCHED        Valid: the state ID is known                          now: write it back
WRITTEN_BACK   StudentPersonal Change with StateProvinceId published  never (final)
ERROR          insufficient data / error from the state              never (final)
FAULT          technical failure (zone down, timeout, unreadable)    fault backoff: retry
CANCELLED      cancelled by the district console or the state        never (final)
=============  ====================================================  ========================

Decisions the brief left open:

* ``FOLLOW_UP`` (a follow-up Request with the same TransactionId, sent on the backoff
  schedule) keeps the transaction ``AMBIGUOUS``; its answer moves it on (``GOT_VALID`` after a
  state-side resolution, ``GOT_CANCELLED``, ``GOT_ERROR``) or leaves it (``GOT_AMBIGUOUS``
  refreshes the candidates). A technical failure of a follow-up also leaves it ``AMBIGUOUS``
  (the next follow-up simply tries again): turning it into a FAULT would hide the candidates
  and block a district-side resolution because the state zone hiccupped.
* ``RESOLVE_SENT`` / ``NEW_SENT`` accept ``GOT_AMBIGUOUS`` (the state did not accept the pick
  and still reports candidates) and ``GOT_CANCELLED``, besides the brief's MATCHED/ERROR/FAULT.
* ``FAULT`` remembers what failed (``request_kind``: Request / Resolve / New), and ``RETRY``
  re-sends that, so a Resolve that hit a dead zone is retried as a Resolve.
* ``FAULT`` accepts the state's answers: the answer to a request that timed out may still
  arrive (a slow SSID database), and it is as good as the answer to its retry.
* An answer to an earlier request of the same IdStatus as the current one (a timed-out
  Request answered after its retry went out) is applied like an answer to the current one;
  only an answer to a superseded request of another kind (a follow-up's answer after Resolve
  was sent) is stale. An answer the transaction can no longer take (it is final, or matched)
  is recorded and ignored, never an error.
* ``FAILED_TECHNICALLY`` in ``FAULT`` (the retry itself could not be delivered) stays ``FAULT``
  with a longer wait; in ``MATCHED`` (the write-back could not be published) stays ``MATCHED``
  and the write-back is retried on the fault backoff.
* ``CANCEL`` (console) is legal from every non-final state except ``MATCHED`` (the state ID is
  known; it will be written back). ``CANCELLED`` accepts ``GOT_CANCELLED``: the state's answer
  to our IdStatus Cancel.
* ``ERROR`` is final for the transaction; a later StudentPersonal Change starts a *new*
  transaction (determination's FAILED → START), never a retry of this one.
* ``attempts`` counts consecutive technical failures (FAULT, write-back) or follow-ups sent
  (AMBIGUOUS); any answer from the state that moves the transaction resets it.

Response classification (``classify``):

* StudentLocator IdStatus Valid (non-empty StateProvinceId, all objects agreeing) → GOT_VALID;
  Ambiguous → GOT_AMBIGUOUS with candidates sorted by Confidence, highest first (no
  Confidence last, ties keep the state's order); Error → GOT_ERROR with the object's
  SIF_Error text; Cancelled → GOT_CANCELLED.
* A district-side IdStatus (Request, Release, Resolve, New, Cancel) or an unknown one, mixed
  statuses, Valid without a StateProvinceId, or an empty response → FAULT: the district cannot
  fix its data for that; an administrator looks and retries.
* SIF_Error on the SIF_Response: category 1 (the request failed validation: fix the data) and
  8/1 generic, 8/3 invalid object, 8/9 unsupported query, 8/15 no extended query, 8/19 → ERROR;
  every other category 8 code (8/4 no provider, 8/7 version, 8/8 buffer, 8/10-8/14
  correlation, 8/16 timeout, 8/17 deleted by admin, 8/18 cancelled) and every other category
  (access, registration, transport, system, ...) → FAULT, retryable.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from messages import Error, SIFError
from messages.codes import ErrorCategory, RequestResponseCode
from messages.objects import IdStatus, StudentLocator


class TxnState(enum.Enum):
    NEW = "new"
    SENT = "sent"
    AMBIGUOUS = "ambiguous"
    RESOLVE_SENT = "resolve_sent"
    NEW_SENT = "new_sent"
    MATCHED = "matched"
    WRITTEN_BACK = "written_back"
    ERROR = "error"
    FAULT = "fault"
    CANCELLED = "cancelled"


class Trigger(enum.Enum):
    SEND = "send"  # the first Request was handed to the state zone
    FOLLOW_UP = "follow_up"  # an ambiguous transaction re-asked with the same TransactionId
    RETRY = "retry"  # a faulted request was sent again
    RESOLVE = "resolve"  # district picked a candidate: IdStatus Resolve sent
    ASK_NEW = "ask_new"  # district asked for a new ID: IdStatus New sent
    CANCEL = "cancel"  # console cancel (IdStatus Cancel may be sent to the state)
    GOT_VALID = "got_valid"
    GOT_AMBIGUOUS = "got_ambiguous"
    GOT_ERROR = "got_error"
    GOT_CANCELLED = "got_cancelled"
    FAILED_TECHNICALLY = "failed_technically"
    WROTE_BACK = "wrote_back"  # StudentPersonal Change with StateProvinceId published


S, T = TxnState, Trigger

#: triggers that carry a response from the state
RESPONSES = frozenset({T.GOT_VALID, T.GOT_AMBIGUOUS, T.GOT_ERROR, T.GOT_CANCELLED})
#: triggers that send something to the state zone
SENDS = frozenset({T.SEND, T.FOLLOW_UP, T.RETRY, T.RESOLVE, T.ASK_NEW})
FINAL = frozenset({S.WRITTEN_BACK, S.ERROR, S.CANCELLED})
#: states in which a request is out and an answer is awaited
AWAITING = frozenset({S.SENT, S.RESOLVE_SENT, S.NEW_SENT})

_ANSWERS = {T.GOT_VALID: S.MATCHED, T.GOT_AMBIGUOUS: S.AMBIGUOUS, T.GOT_ERROR: S.ERROR,
            T.GOT_CANCELLED: S.CANCELLED, T.FAILED_TECHNICALLY: S.FAULT, T.CANCEL: S.CANCELLED}

#: (state, trigger) -> next state. Anything not listed is illegal.
TRANSITIONS: Mapping[tuple[TxnState, Trigger], TxnState] = {
    (S.NEW, T.SEND): S.SENT,
    (S.NEW, T.FAILED_TECHNICALLY): S.FAULT,
    (S.NEW, T.CANCEL): S.CANCELLED,
    **{(S.SENT, t): s for t, s in _ANSWERS.items()},
    (S.AMBIGUOUS, T.FOLLOW_UP): S.AMBIGUOUS,
    (S.AMBIGUOUS, T.GOT_AMBIGUOUS): S.AMBIGUOUS,
    (S.AMBIGUOUS, T.GOT_VALID): S.MATCHED,  # state-side resolution seen by a follow-up
    (S.AMBIGUOUS, T.GOT_ERROR): S.ERROR,
    (S.AMBIGUOUS, T.GOT_CANCELLED): S.CANCELLED,
    (S.AMBIGUOUS, T.FAILED_TECHNICALLY): S.AMBIGUOUS,  # a follow-up failed: the next one retries
    (S.AMBIGUOUS, T.RESOLVE): S.RESOLVE_SENT,
    (S.AMBIGUOUS, T.ASK_NEW): S.NEW_SENT,
    (S.AMBIGUOUS, T.CANCEL): S.CANCELLED,
    **{(S.RESOLVE_SENT, t): s for t, s in _ANSWERS.items()},
    **{(S.NEW_SENT, t): s for t, s in _ANSWERS.items()},
    (S.FAULT, T.RETRY): S.SENT,
    (S.FAULT, T.FAILED_TECHNICALLY): S.FAULT,
    # the answer to the request that timed out arrives after all: it counts
    **{(S.FAULT, t): s for t, s in _ANSWERS.items() if t not in (T.FAILED_TECHNICALLY, T.CANCEL)},
    (S.FAULT, T.CANCEL): S.CANCELLED,
    (S.MATCHED, T.WROTE_BACK): S.WRITTEN_BACK,
    (S.MATCHED, T.FAILED_TECHNICALLY): S.MATCHED,  # write-back failed: retried on backoff
    (S.CANCELLED, T.GOT_CANCELLED): S.CANCELLED,  # the state confirms our Cancel
}
del S, T, _ANSWERS


class IllegalTransition(ValueError):
    def __init__(self, state: TxnState, trigger: Trigger, transaction_id: str | None = None):
        allowed = sorted(t.value for (s, t) in TRANSITIONS if s is state) or ["nothing (final)"]
        who = f"transaction {transaction_id}" if transaction_id else "a transaction"
        super().__init__(f"cannot {trigger.value} {who} that is {state.value} "
                         f"(allowed from {state.value}: {', '.join(allowed)})")
        self.state = state
        self.trigger = trigger
        self.transaction_id = transaction_id


def transition(state: TxnState, trigger: Trigger) -> TxnState:
    """The next state, or ``IllegalTransition``."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state, trigger) from None


# --------------------------------------------------------------------------- backoff


@dataclass(frozen=True)
class Backoff:
    """Delays (seconds) for attempt 0, 1, 2, ...: ``steps`` then ``then`` forever.

    ``jitter`` is a fraction: a delay d becomes d * (1 + jitter * (2r - 1)) for r in [0, 1) from
    the injected ``rand`` (r = 0.5 gives exactly d). ``limit``: after that many attempts there is
    no next attempt (``None``); ``None`` means no limit.
    """

    steps: tuple[float, ...]
    then: float
    jitter: float = 0.1
    limit: int | None = None

    def __post_init__(self) -> None:
        if any(s < 0 for s in self.steps) or self.then < 0 or not 0 <= self.jitter < 1:
            raise ValueError("backoff delays must be >= 0 and jitter in [0, 1)")

    def base(self, attempt: int) -> float | None:
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        if self.limit is not None and attempt >= self.limit:
            return None
        return self.steps[attempt] if attempt < len(self.steps) else self.then

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float | None:
        base = self.base(attempt)
        if base is None:
            return None
        return base * (1 + self.jitter * (2 * rand() - 1))

    def next_at(self, now: float, attempt: int, rand: Callable[[], float] = random.random) -> float | None:
        d = self.delay(attempt, rand)
        return None if d is None else now + d


MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

#: ambiguous transactions: re-ask the state after 5 min, 15 min, 1 h, 4 h, then daily
FOLLOW_UP_BACKOFF = Backoff((5 * MINUTE, 15 * MINUTE, HOUR, 4 * HOUR), DAY)
#: faults (and failed write-backs): 1 min, 5 min, 15 min, 1 h, then every 4 h
FAULT_BACKOFF = Backoff((MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR), 4 * HOUR)


@dataclass(frozen=True)
class Policy:
    """Scheduling settings (config: ``[locator.transactions]``)."""

    follow_up: Backoff = FOLLOW_UP_BACKOFF
    fault: Backoff = FAULT_BACKOFF
    #: a request with no answer for this long is treated as a technical failure (FAULT)
    response_timeout: float = HOUR


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Step:
    state: TxnState
    attempts: int
    next_attempt_at: float | None  # None: nothing due (final, or follow-ups exhausted)


def plan(state: TxnState, trigger: Trigger, attempts: int, now: float, next_attempt_at: float | None = None,
         policy: Policy = DEFAULT_POLICY, rand: Callable[[], float] = random.random) -> Step:
    """``transition`` plus the attempt counter and the time the transaction is next due.

    ``next_attempt_at`` is the current value, kept where a self-loop does not reschedule
    (an Ambiguous answer to a follow-up, a failed follow-up).
    """
    new = transition(state, trigger)
    if new in FINAL:
        return Step(new, attempts, None)
    if new is TxnState.FAULT or (new is TxnState.MATCHED and trigger is Trigger.FAILED_TECHNICALLY):
        n = attempts + 1
        return Step(new, n, policy.fault.next_at(now, n - 1, rand))
    if new is TxnState.MATCHED:
        return Step(new, 0, now)  # write back at once
    if new is TxnState.NEW:  # pragma: no cover - nothing enters NEW
        return Step(new, 0, now)
    if new in AWAITING:
        # a retry keeps counting, so a second fault waits longer; a fresh request starts at 0
        n = attempts if trigger is Trigger.RETRY else 0
        return Step(new, n, now + policy.response_timeout)
    # AMBIGUOUS
    if state is not TxnState.AMBIGUOUS:  # newly ambiguous: first follow-up after steps[0]
        return Step(new, 0, policy.follow_up.next_at(now, 0, rand))
    if trigger is Trigger.FOLLOW_UP:
        n = attempts + 1
        return Step(new, n, policy.follow_up.next_at(now, n, rand))
    return Step(new, attempts, next_attempt_at)


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class Candidate:
    """One possible match offered by the state for an ambiguous transaction."""

    state_id: str
    confidence: float | None = None
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    local_id: str | None = None
    school: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Candidate":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})

    @classmethod
    def from_locator(cls, sl: StudentLocator) -> "Candidate":
        name = sl.name_of_record
        demo = sl.demographics
        return cls(state_id=sl.state_province_id or "", confidence=_confidence(sl.confidence),
                   last_name=name.last_name if name else None, first_name=name.first_name if name else None,
                   middle_name=name.middle_name if name else None,
                   birth_date=demo.birth_date if demo else None, gender=demo.gender if demo else None,
                   local_id=sl.local_id, school=sl.school_attended_name)


def _confidence(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Outcome:
    """What a response means for the transaction: a trigger and its payload."""

    trigger: Trigger
    state_id: str | None = None
    candidates: tuple[Candidate, ...] = ()
    error_text: str | None = None
    summary: str = ""

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.state_id is not None:
            out["state_id"] = self.state_id
        if self.trigger is Trigger.GOT_AMBIGUOUS:
            out["candidates"] = list(self.candidates)
        if self.error_text is not None:
            out["error_text"] = self.error_text
        return out


#: SIF_Error 8/x that mean "the request itself cannot be answered": fix the data/request
_ERROR_CODES_8 = frozenset({RequestResponseCode.GENERIC, RequestResponseCode.INVALID_OBJECT,
                            RequestResponseCode.UNSUPPORTED_QUERY, RequestResponseCode.NO_EXTENDED_QUERY,
                            RequestResponseCode.CODE_19})


def is_fault(error: Error | SIFError) -> bool:
    """True if a SIF_Error on the SIF_Response is technical (retry), False if ERROR (fix)."""
    cat, code = int(error.category), int(error.code)
    if cat == ErrorCategory.XML_VALIDATION:
        return False
    if cat == ErrorCategory.REQUEST_RESPONSE:
        return code not in {int(c) for c in _ERROR_CODES_8}
    return True


def _error_text(error: Error | SIFError | None, fallback: str) -> str:
    if error is None:
        return fallback
    text = f"{error.category}/{error.code} {error.desc}"
    ext = getattr(error, "extended_desc", None)
    return f"{text}: {ext}" if ext else text


def _sort_candidates(objs: Sequence[StudentLocator]) -> tuple[Candidate, ...]:
    cands = [Candidate.from_locator(o) for o in objs]
    # highest confidence first; no confidence last; stable for ties
    order = sorted(range(len(cands)), key=lambda i: (cands[i].confidence is None, -(cands[i].confidence or 0), i))
    return tuple(cands[i] for i in order)


def classify(response: Sequence[StudentLocator] | Error | SIFError,
             transaction_id: str | None = None) -> Outcome:
    """Map a StudentLocator SIF_Response (its objects, or its SIF_Error) to a trigger + payload.

    With ``transaction_id``, objects for another TransactionId are left out (a packet of a
    different transaction is not this one's answer); none left is an empty response.
    """
    if isinstance(response, (Error, SIFError)):
        text = _error_text(response, "")
        if is_fault(response):
            return Outcome(Trigger.FAILED_TECHNICALLY, error_text=text, summary=f"fault: SIF_Error {text}")
        return Outcome(Trigger.GOT_ERROR, error_text=text, summary=f"error: SIF_Error {text}")
    objs = [o for o in response if transaction_id is None or o.transaction_id == transaction_id]
    if not objs:
        return Outcome(Trigger.FAILED_TECHNICALLY, error_text="the state answered with no StudentLocator "
                       "for this transaction", summary="fault: empty response")
    statuses = {o.status for o in objs}
    if len(statuses) > 1:
        seen = ", ".join(sorted(o.id_status for o in objs))
        return Outcome(Trigger.FAILED_TECHNICALLY, error_text=f"inconsistent response: IdStatus {seen}",
                       summary="fault: mixed IdStatus")
    status = statuses.pop()
    if status is IdStatus.VALID:
        ids = {o.state_province_id for o in objs}
        if len(ids) != 1 or not next(iter(ids)):
            return Outcome(Trigger.FAILED_TECHNICALLY,
                           error_text="Valid response without exactly one StateProvinceId",
                           summary="fault: unusable Valid")
        sid = ids.pop()
        return Outcome(Trigger.GOT_VALID, state_id=sid, summary=f"valid: {sid}")
    if status is IdStatus.AMBIGUOUS:
        cands = _sort_candidates(objs)
        return Outcome(Trigger.GOT_AMBIGUOUS, candidates=cands,
                       summary=f"ambiguous: {len(cands)} candidate(s)")
    if status is IdStatus.ERROR:
        err = next((o.error for o in objs if o.error is not None), None)
        text = _error_text(err, "the state reported an error without a SIF_Error")
        return Outcome(Trigger.GOT_ERROR, error_text=text, summary=f"error: {text}")
    if status is IdStatus.CANCELLED:
        return Outcome(Trigger.GOT_CANCELLED, summary="cancelled by the state")
    shown = objs[0].id_status
    return Outcome(Trigger.FAILED_TECHNICALLY, error_text=f"unexpected IdStatus {shown!r} from the state",
                   summary=f"fault: IdStatus {shown}")


#: the IdStatus a (re)sent request carries, by the trigger that sent it
REQUEST_KIND: Mapping[Trigger, IdStatus] = {
    Trigger.SEND: IdStatus.REQUEST, Trigger.FOLLOW_UP: IdStatus.REQUEST,
    Trigger.RESOLVE: IdStatus.RESOLVE, Trigger.ASK_NEW: IdStatus.NEW, Trigger.CANCEL: IdStatus.CANCEL,
}
