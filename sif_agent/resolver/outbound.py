"""The StudentLocator answers, built from SLF rows (pure).

Why a module of its own: which answer a waiting request gets depends only on the row's
status (and what the request waits for), so it is a table-like function that can be tested
without a database or a zone:

=====================  ===============================  =====================================
row status             request waits for                answer
=====================  ===============================  =====================================
3 4 5 6                anything                         Valid + StateProvinceId (Release for
                                                        a Release row); the seed status name
                                                        in SIF_ExtendedElement "SLF_STATUS"
                                                        lets the district tell new from match
7 8                    an outcome (Request)             Ambiguous: the SLF_POTENTIAL_MATCH
                                                        candidates by CONFIDENCE, highest first
10                     anything                         Error with the SLF_ERROR_LOG text
12                     anything                         Cancelled
3-6 10 (not 12)        Cancel                           Error: too late to cancel
9                      as for the status it completed   (kept rows: N_FINAL_STATUS)
1 2 13, or 7 8         a decision (Resolve/New), Cancel nothing yet
=====================  ===============================  =====================================

Request log entries of a completed (deleted) transaction are replayed to later requests with
the same TransactionId, so a retry gets the first answer, never a second ID.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from messages import Error
from messages.codes import ErrorCategory, RequestResponseCode
from messages.objects import Code, Demographics, ExtendedElement, IdStatus, Name, StudentLocator

from .status import AMBIGUOUS, VALID, SlfStatus
from .tables import AWAIT_CANCEL, AWAIT_OUTCOME

#: SIF 2.x GradeLevel codes (a candidate's GRADE_LEVEL is sent only when it is one of them)
SIF_GRADES = frozenset({"PK", "KG", *(f"{n:02d}" for n in range(1, 13)), "PG", "UN", "Other", "Unknown"})
RELEASE = "Release"


@dataclass(frozen=True)
class Answer:
    """What one waiting request is answered with, and what the request log remembers."""

    id_status: str
    objects: tuple[StudentLocator, ...]
    state_id: str | None = None
    text: str | None = None
    #: the transaction's outcome (Valid/Release, Error, Cancelled): replayed to later requests
    final: bool = False


def _iso(yyyymmdd: str | None) -> str | None:
    if yyyymmdd and len(yyyymmdd) == 8 and yyyymmdd.isdigit():
        return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"
    return None


def valid(txn: str, state_id: str, slf_status: SlfStatus, *, local_id: str | None = None,
          release: bool = False) -> Answer:
    status = RELEASE if release else IdStatus.VALID.value
    obj = StudentLocator(id_status=status, transaction_id=txn, state_province_id=state_id, local_id=local_id or None,
                         extended_elements=(ExtendedElement(name="SLF_STATUS", value=slf_status.name),))
    return Answer(status, (obj,), state_id=state_id, text=slf_status.name, final=True)


def error(txn: str, text: str, *, final: bool = True) -> Answer:
    text = (text or "The state could not complete this lookup").strip()
    obj = StudentLocator(id_status=IdStatus.ERROR.value, transaction_id=txn, state_province_id="",
                         error=Error(category=ErrorCategory.REQUEST_RESPONSE, code=RequestResponseCode.GENERIC,
                                     desc=text))
    return Answer(IdStatus.ERROR.value, (obj,), text=text[:255], final=final)


def cancelled(txn: str) -> Answer:
    obj = StudentLocator(id_status=IdStatus.CANCELLED.value, transaction_id=txn, state_province_id="")
    return Answer(IdStatus.CANCELLED.value, (obj,), final=True)


def candidate(txn: str, row: Mapping[str, Any]) -> StudentLocator:
    """One SLF_POTENTIAL_MATCH row as an Ambiguous StudentLocator."""
    first, last = row.get("LEGAL_FIRST_NAME"), row.get("LEGAL_LAST_NAME")
    names = (Name(type="04", last_name=last, first_name=first, middle_name=row.get("LEGAL_MIDDLE_NAME") or None),) \
        if first and last else ()
    gender = row.get("GENDER_CODE") if row.get("GENDER_CODE") in ("M", "F", "U") else None
    birth = _iso(row.get("BIRTH_DATE"))
    demo = Demographics(gender=gender, birth_date=birth) if gender or birth else None
    grade = row.get("GRADE_LEVEL")
    conf = row.get("CONFIDENCE")
    return StudentLocator(
        id_status=IdStatus.AMBIGUOUS.value, transaction_id=txn, state_province_id=row.get("STATE_ID") or "",
        confidence=None if conf is None else format(float(conf), "g"), local_id=row.get("LOCAL_ID") or None,
        grade_level=Code(code=grade) if grade in SIF_GRADES else None, names=names, demographics=demo,
        school_attended_name=row.get("HOME_SCHOOL_CODE") or None)


def ordered(candidates: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """By CONFIDENCE, highest first; rows without one last; ties in the database's order."""
    return sorted(candidates, key=lambda r: (r.get("CONFIDENCE") is None, -(r.get("CONFIDENCE") or 0.0),
                                             r.get("N_POTENTIAL_MATCH_ID") or 0))


def ambiguous(txn: str, candidates: Sequence[Mapping[str, Any]]) -> Answer:
    objs = tuple(candidate(txn, r) for r in ordered(candidates))
    if not objs:  # the spec's other form: one Ambiguous object with an empty StateProvinceId
        objs = (StudentLocator(id_status=IdStatus.AMBIGUOUS.value, transaction_id=txn, state_province_id=""),)
    return Answer(IdStatus.AMBIGUOUS.value, objs, text=f"{len(candidates)} candidate(s)")


def too_late(txn: str) -> Answer:
    return error(txn, f"Transaction {txn} is already complete at the state and cannot be cancelled", final=False)


def unknown(txn: str, what: str) -> Answer:
    return error(txn, f"The state has no open transaction {txn} to {what}", final=False)


def for_row(txn: str, awaits: str, row: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]],
            errors: Sequence[str]) -> Answer | None:
    """The answer a request waiting for ``awaits`` gets from the row now, or None (not yet)."""
    st = SlfStatus(row["N_SLF_STATUS"])
    if st is SlfStatus.COMPLETE and row.get("N_FINAL_STATUS") is not None:
        st = SlfStatus(row["N_FINAL_STATUS"])
    if awaits == AWAIT_CANCEL:
        if st is SlfStatus.CANCELLED:
            return cancelled(txn)
        if st in VALID or st in (SlfStatus.ERROR, SlfStatus.COMPLETE):
            return too_late(txn)
        return None
    if st in VALID:
        if not row.get("STATE_ID"):
            return error(txn, f"The state decided {st.name} but recorded no state ID; please retry", final=False)
        return valid(txn, row["STATE_ID"], st, local_id=row.get("LOCAL_ID"),
                     release=row.get("SLF_REQUEST_TYPE") == RELEASE)
    if st is SlfStatus.ERROR:
        return error(txn, "; ".join(e for e in errors if e) or "The state reported an error")
    if st is SlfStatus.CANCELLED:
        return cancelled(txn)
    if st is SlfStatus.COMPLETE:  # completed without a recorded outcome (not by this resolver)
        return error(txn, f"Transaction {txn} is complete at the state; its outcome is not known", final=False)
    if st in AMBIGUOUS and awaits == AWAIT_OUTCOME:
        return ambiguous(txn, candidates)
    return None


def replay(txn: str, awaits: str, memory: Mapping[str, Any] | None, what: str) -> Answer:
    """The answer for a request whose transaction row is gone: its remembered outcome, if any."""
    if memory is None:
        return unknown(txn, what)
    answer = memory["ANSWER"]
    if awaits == AWAIT_CANCEL:
        return cancelled(txn) if answer == IdStatus.CANCELLED.value else too_late(txn)
    if answer in (IdStatus.VALID.value, RELEASE):
        name = memory.get("ANSWER_TEXT") or "SYSTEM_MATCH"
        st = SlfStatus[name] if name in SlfStatus.__members__ else SlfStatus.SYSTEM_MATCH
        return valid(txn, memory["ANSWER_STATE_ID"], st, release=answer == RELEASE)
    if answer == IdStatus.CANCELLED.value:
        return cancelled(txn)
    return error(txn, memory.get("ANSWER_TEXT") or "The state reported an error")
