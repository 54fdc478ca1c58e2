"""One row of a batch file: its ResultCodes, its messages, and deciding it row by row.

Why a module of its own: the worker processes that plan rows (``ssid.batch_plan``), the
writer that applies the plans (``ssid.batch_write``) and the runner (``ssid.batch``) all speak
these codes and messages, and ``decide_record`` is the reference: the writer falls back to it
whenever a plan's facts changed, so the planned path and this one must give the same answers
(tests compare them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from .audit import Actor
from .catalogue import GENERATE, MATCH_FIELDS, RETRIEVE, Problem, problems_summary
from .csvlayout import Row, parse_datetime
from .db.candidates import match
from .db.schema import ACTIVE
from .decisions import PackedJson, explanation_json, packed
from .ids import clean_id
from .legacy import MAX_USER_DEFINED
from .matching import Decision, Matcher, Outcome, StudentRecord
from .matching.compare import Level
from .records import match_record
from .store import InvalidRecord, Refused, SsidStore

MATCH, NEW, POTENTIAL, VALID, MISMATCH, INACTIVE, REJECTED = (
    "MATCH", "NEW", "POTENTIAL", "VALID", "MISMATCH", "INACTIVE", "REJECTED")
RESULT_CODES = (MATCH, NEW, POTENTIAL, VALID, MISMATCH, INACTIVE, REJECTED)

_TASK_PHRASES = {RETRIEVE: "retrieve a student ID", GENERATE: "generate a new student ID"}
#: the matcher's field names → the batch file's column names (for "which fields differ")
_COLUMN_OF = {v: k for k, v in MATCH_FIELDS.items()}
_AGREE = {str(Level.EXACT), str(Level.MISSING)}

@dataclass(frozen=True)
class RowResult:
    code: str
    student_id: str | None
    message: str
    explanation: str | PackedJson | None = None  # the matcher's explanation (JSON, SSN masked; compressed when long)


def match_message(decision: Decision) -> str:
    best = decision.candidates[0] if decision.candidates else None
    return f"Existing student ID found{f' (confidence {best.confidence:.3f})' if best else ''}."


def potential_message(decision: Decision) -> str:
    shown = ", ".join(f"{c.student_id} ({c.confidence:.2f})" for c in decision.candidates) or "none listed"
    return (f"Possible matches: {shown}. No ID was issued: resolve this student in the web UI (pick a match or "
            f"create a new ID). Reason: {decision.reason}.")


# ---- messages ----

def problems_message(problems: Sequence[Problem], task: str) -> str:
    """Which fields are missing or invalid, then how to fix each (a REJECTED row's message)."""
    text = problems_summary(problems, _TASK_PHRASES.get(task, task))
    return text + "".join(f" {p.field} {p.message}." for p in problems) + " Correct the row and submit it again."


def layout_problems(row: Row, width: int) -> list[Problem]:
    """Problems of the layout's own columns (not the catalogue attributes)."""
    f = row.fields
    out: list[Problem] = []
    if row.width != width:
        out.append(Problem("(row)", "bad_format", f"has {row.width} fields; the header has {width}: a field with a "
                                                  "comma must be in double quotes, and every row needs every column "
                                                  "(empty fields are fine)"))
        return out
    if f["DateTimeCreated"].strip() and parse_datetime(f["DateTimeCreated"]) is None:
        out.append(Problem("DateTimeCreated", "bad_format", "is not a date and time: write MM/DD/YYYY HH:MM:SS or "
                                                            "YYYY-MM-DD HH:MM:SS, or leave it empty"))
    for col in ("Building_IRN", "District_IRN"):
        v = f[col].strip()
        if v and not (len(v) == 6 and v.isdigit()):
            out.append(Problem(col, "bad_format", "must be the 6-digit IRN (e.g. 000123), or empty"))
    if len(f["UserID"].strip()) > 64:
        out.append(Problem("UserID", "too_long", "is longer than 64 characters: shorten it"))
    if len(f["UserDefined"]) > MAX_USER_DEFINED:
        out.append(Problem("UserDefined", "too_long", f"is longer than {MAX_USER_DEFINED} characters: shorten it"))
    return out


def _differing(candidate) -> list[str]:
    """Column names of the fields on which a scored candidate does not agree exactly."""
    out = []
    for fs in candidate.fields:
        if fs.field in _COLUMN_OF and fs.level not in _AGREE:
            out.append(_COLUMN_OF[fs.field])
    return out


# ---- deciding one record (the poller's steps, as ResultCodes) ----

async def decide_record(store: SsidStore, conn: AsyncConnection, matcher: Matcher, fields: Mapping[str, str], *,
                        actor: Actor, group: str | None = None, key: str | None = None,
                        district: str | None = None, building: str | None = None,
                        source: str = "batch") -> RowResult:
    """Decide one submitted record inside the caller's write transaction ``conn``.

    With a StudentID: VALID / MISMATCH / INACTIVE (or REJECTED for an unknown ID). Without:
    validate ("retrieve") → match → MATCH (alias remembered) / POTENTIAL (nothing issued) /
    NO_MATCH → validate ("generate") → NEW (``create_student`` with ``request_key=key``).
    The SLF poller could call this with its own connection and map MATCH → 3, NEW → 4,
    POTENTIAL → 7 and REJECTED → 10.
    """
    given = clean_id(fields.get("StudentID") or "")
    checked = store.catalogue.check(fields, RETRIEVE, group)
    if given:
        return await check_given(store, conn, matcher, given, checked)
    if not checked.ok:
        return RowResult(REJECTED, None, problems_message(checked.problems, RETRIEVE))
    decision = await match(conn, matcher, match_record(checked.values, district, building))
    why = packed(explanation_json(decision))
    if decision.outcome == Outcome.MATCH and decision.student_id:
        sid = await store.active_id(decision.student_id, conn) or decision.student_id
        try:
            await store.add_alias(conn, sid, fields, actor, source=source, district_irn=district,
                                  building_irn=building)
        except InvalidRecord:  # an optional attribute in a bad format: the match stands
            pass
        return RowResult(MATCH, sid, match_message(decision), why)
    if decision.outcome == Outcome.POTENTIAL:
        return RowResult(POTENTIAL, None, potential_message(decision), why)
    generate = store.catalogue.check(fields, GENERATE, group)
    if not generate.ok:
        return RowResult(REJECTED, None, "No existing student matches. " +
                         problems_message(generate.problems, GENERATE), why)
    try:
        student = await store.create_student(conn, fields, actor, task=GENERATE, group=group, request_key=key,
                                             district_irn=district, building_irn=building, source=source)
    except InvalidRecord as exc:
        return RowResult(REJECTED, None, problems_message(exc.problems, GENERATE), why)
    except Refused as exc:  # an identical active record exists (e.g. a twin case the matcher held back)
        return RowResult(POTENTIAL, None, f"No ID was issued: {exc}. Resolve this student in the web UI.", why)
    return RowResult(NEW, student.student_id, "New student ID issued.", why)


async def check_given(store: SsidStore, conn: AsyncConnection, matcher: Matcher, given: str, checked) -> RowResult:
    student = await store.student(given, conn)
    if student is None:
        use = await store.id_use(given, conn)
        extra = f" (it is recorded as a {use} ID without a student)" if use else ""
        return RowResult(REJECTED, None, f"StudentID {given} is not a known student ID{extra}: check the ID, or "
                                         "leave StudentID empty to look the student up by the attributes.")
    if student.status != ACTIVE:
        active = await store.active_id(given, conn)
        if active is None:
            return RowResult(REJECTED, None, f"StudentID {given} is deactivated and has no active surviving ID: "
                                             "ask the state to review it.")
        return RowResult(INACTIVE, active, f"StudentID {given} is deactivated; use the active ID {active} from now "
                                           "on.")
    if not checked.ok:
        return RowResult(REJECTED, given, problems_message(checked.problems, RETRIEVE))
    query = matcher.standardize(match_record(checked.values))
    best = None
    for alias in await store.aliases(given, conn):
        try:
            rec = StudentRecord.from_dict(alias.record)
        except (TypeError, ValueError):
            continue
        scored = matcher.compare_records(query, rec, given)
        if best is None or scored.weight > best.weight:
            best = scored
    if best is not None:
        t = matcher.thresholds
        needed = t.match if best.level("birth_date") == str(Level.EXACT) else t.match_inexact_birth_date
        if best.weight >= needed and not best.conflicts:
            diff = _differing(best)
            note = f" (small differences in {', '.join(diff)})" if diff else ""
            return RowResult(VALID, given, f"StudentID and attributes agree{note}.")
    diff = _differing(best) if best is not None else []
    what = f"{', '.join(diff)} differ" if diff else "the attributes differ"
    conflicts = f" ({', '.join(best.conflicts)})" if best is not None and best.conflicts else ""
    return RowResult(MISMATCH, given, f"StudentID {given} and the attributes disagree: {what} from the stored "
                                      f"record{conflicts}. Check the ID and the attributes; correct the record with "
                                      "the state's maintenance tools, or leave StudentID empty to look the student "
                                      "up.")


__all__ = ["INACTIVE", "MATCH", "MISMATCH", "NEW", "POTENTIAL", "REJECTED", "RESULT_CODES", "RowResult", "VALID",
           "check_given", "decide_record", "layout_problems", "problems_message"]
