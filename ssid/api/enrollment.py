"""Verification of enrollment: a college tells the state that a student it looked up enrolled.

Why the rules:

* A client may verify only an SSID that a lookup **confirmed to that same client for that
  same CCCID** (the disclosure log). Otherwise any client could probe which SSIDs exist, or
  attach its students to IDs it was never given.
* Every verification is stored (``ssid_api_enrollments``). The first record of an enrollment
  (student, CCCID, college, term, date) is a new fact about the student and is written to
  the audit trail in the same transaction, with the client as the user and the request's
  correlation id; a repeat of a known enrollment changes nothing and is only stored.
* A deactivated SSID is recorded against its surviving (active) ID, which the answer names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import audit
from ..audit import Actor
from ..store import SsidStore
from .lookup import CONFIRMED
from .problems import ApiProblem
from .tables import enrollments_t, lookups_t
from .validation import VerificationRequest

#: the audit change type of a newly verified enrollment
ENROLLMENT_VERIFIED = "ENROLLMENT_VERIFIED"


def api_actor(client_id: str, correlation_id: str | None) -> Actor:
    return Actor(f"api:{client_id}", None, None, False, correlation_id)


async def record_verification(store: SsidStore, conn: AsyncConnection, client_id: str, req: VerificationRequest, *,
                              key: str, now: float, correlation_id: str | None) -> dict[str, Any]:
    """Store (and, when new, audit) one verification inside the caller's write transaction."""
    linked = (await conn.execute(select(lookups_t.c.id).where(
        lookups_t.c.client_id == client_id, lookups_t.c.student_id == req.ssid, lookups_t.c.cccid == req.cccid,
        lookups_t.c.outcome == CONFIRMED).limit(1))).first()
    if linked is None:
        raise ApiProblem("not-linked", "No lookup by this client confirmed this SSID for this CCCID. Post a lookup "
                                       "(POST /api/v1/ssid-lookups) first and verify the SSID it returns, with the "
                                       "same CCCID.")
    active = await store.active_id(req.ssid, conn) or req.ssid
    e = enrollments_t.c
    known = (await conn.execute(select(e.id).where(
        e.active_student_id == active, e.cccid == req.cccid, e.enrolled_on == req.enrolled_on,
        e.college_code.is_(None) if req.college_code is None else e.college_code == req.college_code,
        e.term.is_(None) if req.term is None else e.term == req.term).limit(1))).first()
    new_fact = known is None
    result = await conn.execute(insert(enrollments_t).values(
        client_id=client_id, student_id=req.ssid, active_student_id=active, cccid=req.cccid,
        college_code=req.college_code, term=req.term, enrolled_on=req.enrolled_on, recorded_at=now,
        correlation_id=correlation_id, idempotency_key=key, new_fact=new_fact))
    verification_id = result.inserted_primary_key[0]
    if new_fact:
        new = {"CCCID": req.cccid, "EnrolledOn": req.enrolled_on,
               **({"CollegeCode": req.college_code} if req.college_code else {}),
               **({"Term": req.term} if req.term else {})}
        await audit.record(conn, audit.entry(now, ENROLLMENT_VERIFIED, api_actor(client_id, correlation_id),
                                             active, None, new,
                                             detail={"verification_id": verification_id, "client_id": client_id,
                                                     **({"ssid_posted": req.ssid} if req.ssid != active else {})}))
    body: dict[str, Any] = {"id": str(verification_id), "ssid": active, "cccid": req.cccid,
                            "enrolledOn": req.enrolled_on, "alreadyRecorded": not new_fact,
                            "recordedAt": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if req.college_code:
        body["collegeCode"] = req.college_code
    if req.term:
        body["term"] = req.term
    return body
