"""Student ID maintenance: modify attributes, deactivate, request and approve reactivation.

The rules (RFP 1.21.7, 1.21.8) and why each is enforced here rather than left to the screens:

* **Only authorised users** (roles from configuration) act, and a suspended user not at all.
* **Modifying never creates a duplicate**: a change that makes an active record identical in
  its key attributes (normalised last, first and middle name, birth date, gender) to another
  active record is refused, naming the other ID, because two active IDs for one child is the
  very problem the system exists to prevent. The changed values must pass the catalogue
  (all problems at once). An ID itself is never modified.
* **Deactivate only by naming the surviving ID and a meaningful reason** (1.21.7.5.1,
  1.21.7.5.3): the surviving ID must exist, be active and differ; the reason must say why
  (configurable minimum length and words; placeholders such as "duplicate" or "n/a" refused).
  Who, their district and the time are recorded and shown (1.21.7.5.4).
* **Reactivation needs state approval** (1.21.7.5.5): a request, then an approval by a
  *different* user holding the approver role.
* **Nothing is ever deleted** (1.21.7.2): deactivation is a status and a row in
  ``ssid_deactivations``; old values stay in the audit and the alias history.
* **Every action writes its audit row in the same transaction** as the change.

Each function takes the caller's write transaction (``async with store.write() as conn``), so a
refusal rolls everything back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from . import audit
from .audit import ChangeType
from .catalogue import MODIFY, Problem
from .config import MaintenancePolicy
from .db.schema import ACTIVE, DEACTIVATED, deactivations_t, reactivations_t
from .ids import clean_id
from .records import index, matching_changed, split_values
from .store import Deactivation, InvalidRecord, NotFound, Reactivation, Refused, SsidStore, Student, User

_EXAMPLE_REASON = ("e.g. \"same student as the surviving ID: same name, birth date and birth city; "
                   "a second ID was issued by another building\"")


def reason_problems(reason: str | None, policy: MaintenancePolicy = MaintenancePolicy()) -> list[str]:
    """Why a deactivation or reactivation reason is not meaningful (empty when it is). Pure."""
    text = " ".join((reason or "").split())
    if not text:
        return [f"give a reason that says why, {_EXAMPLE_REASON}"]
    norm = " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())
    out = []
    if norm in policy.placeholder_reasons or not norm:
        out.append(f"the reason does not say why; describe what is wrong with the ID, {_EXAMPLE_REASON}")
    if len(set(text.replace(" ", "").lower())) <= 2:
        out.append("the reason repeats one or two characters; write a sentence that says why")
    if len(text) < policy.min_reason_length:
        out.append(f"the reason has {len(text)} characters; write at least {policy.min_reason_length}, "
                   f"{_EXAMPLE_REASON}")
    words = {w for w in norm.split() if any(ch.isalpha() for ch in w)}
    if len(words) < policy.min_reason_words:
        out.append(f"the reason has {len(words)} different word(s); use at least {policy.min_reason_words}")
    return out


def _require_role(user: User, allowed: frozenset[str], action: str) -> None:
    if not user.roles & allowed:
        raise Refused(f"user {user.user_id!r} may not {action}: it needs one of the roles "
                      f"{', '.join(sorted(allowed))} (the user has {', '.join(sorted(user.roles)) or 'none'})")


def _require_reason(store: SsidStore, reason: str | None) -> str:
    problems = reason_problems(reason, store.settings.maintenance)
    if problems:
        raise Refused("; ".join(problems))
    return " ".join((reason or "").split())


async def modify(store: SsidStore, conn: AsyncConnection, student_id: str, changes: Mapping[str, str | None],
                 user: User, *, batch_job_id: str | None = None, via_slf: bool = False,
                 correlation_id: str | None = None) -> Student:
    """Change attributes of a student (an empty value clears an attribute)."""
    user = await store.require_user(conn, user.user_id)
    _require_role(user, store.settings.roles.modify, "modify student records")
    cat = store.catalogue
    unknown = [Problem(k, "not_allowed", f"is not an attribute of the catalogue; the attributes are "
                                         f"{', '.join(cat.names)}") for k in changes if k not in cat]
    if unknown:
        raise InvalidRecord(unknown)
    before = await store.require_student(conn, student_id, lock=True)
    merged = dict(before.values)
    for k, v in changes.items():
        if v is None or not str(v).strip():
            merged.pop(k, None)
        else:
            merged[k] = str(v)
    checked = cat.check(merged, MODIFY, user.group)
    if not checked.ok:
        raise InvalidRecord(checked.problems)
    after = checked.values
    changed = sorted(k for k in set(before.values) | set(after) if before.values.get(k) != after.get(k))
    if not changed:
        raise Refused(f"nothing to change: the values given for {before.student_id} equal the stored ones")
    indexed = index(after, before.district_irn, before.building_irn)
    if before.active:
        same = await store.identical_active(conn, indexed.identity, exclude=before.student_id)
        if same:
            raise Refused(f"the change would make {before.student_id} identical in name, birth date and gender to "
                          f"active student {same[0]}: if they are the same student, deactivate one of them naming the "
                          "other as surviving ID; otherwise check the values")
    core, extra = split_values(after)
    await store.update_student(conn, before, **core, attributes=extra, identity_key=indexed.identity)
    if matching_changed(before.values, after):
        version = await store._next_version(conn, before.student_id)
        await store._add_version(conn, before.student_id, version, indexed, "modify", store.clock())
    actor = user.actor(batch_job_id, via_slf, correlation_id)
    await audit.record(conn, audit.entry(store.clock(), ChangeType.MODIFY, actor, before.student_id,
                                         {k: before.values.get(k) for k in changed},
                                         {k: after.get(k) for k in changed}))
    result = await store.student(before.student_id, conn)
    assert result is not None
    return result


async def deactivate(store: SsidStore, conn: AsyncConnection, student_id: str, surviving_id: str, reason: str,
                     user: User, *, batch_job_id: str | None = None, via_slf: bool = False,
                     correlation_id: str | None = None) -> Deactivation:
    """Deactivate ``student_id`` in favour of ``surviving_id`` (the ID believed correct)."""
    user = await store.require_user(conn, user.user_id)
    _require_role(user, store.settings.roles.deactivate, "deactivate student IDs")
    if not (surviving_id or "").strip():
        raise Refused("name the surviving ID: the ID believed correct for this student (--surviving)")
    sid, keep = clean_id(student_id), clean_id(surviving_id)
    if sid == keep:
        raise Refused("the surviving ID must be another ID than the one deactivated")
    text = _require_reason(store, reason)
    first, second = sorted((sid, keep))  # lock in a fixed order: two opposite requests never deadlock
    rows = {first: await store.require_student(conn, first, lock=True,
                                               role="student" if first == sid else "surviving student"),
            second: await store.require_student(conn, second, lock=True,
                                                role="student" if second == sid else "surviving student")}
    target, survivor = rows[sid], rows[keep]
    if not target.active:
        last = (await store.deactivations(sid, conn))[-1:]
        where = f" on {_when(last[0].at)} by {last[0].user_id}; its surviving ID is {last[0].surviving_id}" if last else ""
        raise Refused(f"{sid} is already deactivated{where}")
    if not survivor.active:
        active = await store.active_id(keep, conn)
        hint = f"; the active ID for it is {active}: name that one" if active and active != sid else ""
        raise Refused(f"the surviving ID {keep} is itself deactivated{hint}")
    now = store.clock()
    await store.update_student(conn, target, status=DEACTIVATED)
    result = await conn.execute(insert(deactivations_t).values(
        student_id=sid, surviving_id=keep, reason=text, user_id=user.user_id, district_irn=user.district_irn, at=now,
        batch_job_id=batch_job_id, via_slf=via_slf))
    actor = user.actor(batch_job_id, via_slf, correlation_id)
    await audit.record(conn, audit.entry(now, ChangeType.DEACTIVATE, actor, sid, {"status": ACTIVE},
                                         {"status": DEACTIVATED, "surviving_id": keep},
                                         detail={"reason": text, "surviving_id": keep}))
    return Deactivation(result.inserted_primary_key[0], sid, keep, text, user.user_id, user.district_irn, now,
                        batch_job_id, via_slf)


async def request_reactivation(store: SsidStore, conn: AsyncConnection, student_id: str, reason: str, user: User, *,
                               correlation_id: str | None = None) -> Reactivation:
    """Ask the state to reactivate a deactivated ID; nothing changes until it is approved."""
    user = await store.require_user(conn, user.user_id)
    _require_role(user, store.settings.roles.request_reactivation, "request a reactivation")
    text = _require_reason(store, reason)
    student = await store.require_student(conn, student_id, lock=True)
    if student.active:
        raise Refused(f"{student.student_id} is active: there is nothing to reactivate")
    pending = await store.reactivations(student.student_id, "pending", conn)
    if pending:
        raise Refused(f"reactivation request {pending[0].id} for {student.student_id} is already waiting for the "
                      f"state's approval (asked by {pending[0].requested_by})")
    now = store.clock()
    result = await conn.execute(insert(reactivations_t).values(
        student_id=student.student_id, reason=text, requested_by=user.user_id, requester_district=user.district_irn,
        requested_at=now, status="pending"))
    request_id = result.inserted_primary_key[0]
    await audit.record(conn, audit.entry(now, ChangeType.REACTIVATION_REQUEST, user.actor(correlation_id=correlation_id),
                                         student.student_id, None, None,
                                         detail={"request_id": request_id, "reason": text}))
    return Reactivation(request_id, student.student_id, text, user.user_id, user.district_irn, now, "pending",
                        None, None, None)


async def _pending(store: SsidStore, conn: AsyncConnection, request_id: int, approver: User, action: str
                   ) -> tuple[Reactivation, User]:
    approver = await store.require_user(conn, approver.user_id)
    _require_role(approver, store.settings.roles.approve_reactivation, f"{action} reactivations (state approval)")
    q = select(reactivations_t).where(reactivations_t.c.id == request_id).with_for_update()
    row = (await conn.execute(q)).first()
    if row is None:
        raise NotFound(f"no reactivation request {request_id}: list them with `slf ssid reactivate list`")
    req = Reactivation.from_row(row)
    if req.status != "pending":
        raise Refused(f"reactivation request {request_id} was already {req.status} by {req.decided_by}")
    if req.requested_by == approver.user_id:
        raise Refused(f"user {approver.user_id!r} asked for this reactivation and cannot also {action} it: another "
                      "user with the approver role must decide")
    return req, approver


async def approve_reactivation(store: SsidStore, conn: AsyncConnection, request_id: int, approver: User,
                               note: str = "", *, correlation_id: str | None = None) -> Student:
    """The state's approval: the ID becomes active again."""
    req, approver = await _pending(store, conn, request_id, approver, "approve")
    student = await store.require_student(conn, req.student_id, lock=True)
    if student.active:
        raise Refused(f"{student.student_id} is already active")
    same = await store.identical_active(conn, student.identity_key, exclude=student.student_id)
    if same:
        raise Refused(f"{student.student_id} is identical in name, birth date and gender to active student {same[0]}: "
                      "reactivating it would create a duplicate; correct its attributes first (slf ssid modify) "
                      "or leave it deactivated")
    now = store.clock()
    await store.update_student(conn, student, status=ACTIVE)
    await conn.execute(update(reactivations_t).where(reactivations_t.c.id == req.id).values(
        status="approved", decided_by=approver.user_id, decided_at=now, decision_note=note or None))
    await audit.record(conn, audit.entry(now, ChangeType.REACTIVATE, approver.actor(correlation_id=correlation_id),
                                         student.student_id, {"status": DEACTIVATED}, {"status": ACTIVE},
                                         detail={"request_id": req.id, "requested_by": req.requested_by,
                                                 "reason": req.reason, "note": note or None}))
    result = await store.student(student.student_id, conn)
    assert result is not None
    return result


async def reject_reactivation(store: SsidStore, conn: AsyncConnection, request_id: int, approver: User,
                              note: str, *, correlation_id: str | None = None) -> Reactivation:
    """The state declines: the ID stays deactivated; the note says why."""
    req, approver = await _pending(store, conn, request_id, approver, "reject")
    if not (note or "").strip():
        raise Refused("say why the reactivation is rejected (--note)")
    now = store.clock()
    await conn.execute(update(reactivations_t).where(reactivations_t.c.id == req.id).values(
        status="rejected", decided_by=approver.user_id, decided_at=now, decision_note=note))
    await audit.record(conn, audit.entry(now, ChangeType.REACTIVATION_REJECT,
                                         approver.actor(correlation_id=correlation_id), req.student_id, None, None,
                                         detail={"request_id": req.id, "requested_by": req.requested_by,
                                                 "note": note}))
    return Reactivation(req.id, req.student_id, req.reason, req.requested_by, req.requester_district,
                        req.requested_at, "rejected", approver.user_id, now, note)


def _when(at: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
