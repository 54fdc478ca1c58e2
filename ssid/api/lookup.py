"""The SSID lookup: a college's applicant record → confirmed (with the SSID), ambiguous, not found.

Why the answer is so narrow: a false "confirmed" hands one child's state ID to another
child's college record, and the API's users see nothing else the SSID database knows. So the
SSID is returned only when the matcher itself would link the record automatically
(``Outcome.MATCH``: above the match threshold, a clear margin over the next student, no hard
conflict). Potential matches are ``ambiguous`` (a person at the state resolves them; no
candidates are shown), anything else ``not_found``. A collected SSID that disagrees with the
automatic match turns it into ``ambiguous``: two pieces of evidence disagree. Demographics
are never returned.

The first name, last name and birth date go through the catalogue's attributes and the same
matcher record builder as every other channel (``ssid.records.match_record``); the CDS code
supplies the district (county + district digits) and building (school digits), which the
matcher uses as a weak signal. Gender, middle name and birth city are not in the seed's
request, so students who agree on names and birth date cannot be told apart: ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..db.candidates import match
from ..matching import Matcher, Outcome
from ..records import match_record
from ..store import SsidStore
from .validation import LookupRequest

CONFIRMED, AMBIGUOUS, NOT_FOUND = "confirmed", "ambiguous", "not_found"


@dataclass(frozen=True)
class LookupResult:
    status: str
    ssid: str | None
    cccid: str

    def body(self) -> dict[str, str]:
        out = {"status": self.status, "cccid": self.cccid}
        if self.ssid is not None:
            out["ssid"] = self.ssid
        return out


def outcome_of(outcome: Outcome, matched: str | None, collected: str | None, collected_active: str | None
               ) -> tuple[str, str | None]:
    """(status, SSID to disclose) from the matcher's outcome. Pure.

    ``matched`` is the active ID of the automatic match; ``collected`` the SSID the client sent,
    ``collected_active`` that ID's active ID (itself, or the surviving ID of a deactivated one).
    """
    if outcome == Outcome.MATCH and matched:
        if collected is not None and matched not in (collected, collected_active):
            return AMBIGUOUS, None
        return CONFIRMED, matched
    if outcome == Outcome.POTENTIAL:
        return AMBIGUOUS, None
    return NOT_FOUND, None


async def look_up(store: SsidStore, matcher: Matcher, req: LookupRequest) -> LookupResult:
    record = match_record(req.attributes(), req.district, req.building)
    async with store.read() as conn:
        decision = await match(conn, matcher, record)
        matched = None
        if decision.outcome == Outcome.MATCH and decision.student_id:
            matched = await store.active_id(decision.student_id, conn) or decision.student_id
        collected_active = await store.active_id(req.ssid, conn) if req.ssid and matched else None
    status, ssid = outcome_of(decision.outcome, matched, req.ssid, collected_active)
    return LookupResult(status, ssid, req.cccid)
