"""Which answer a waiting request gets, for every row status and every kind of wait (pure)."""

from __future__ import annotations

import pytest

from messages import build, parse
from messages.model import Header, Response
from sif_agent.resolver import outbound
from sif_agent.resolver.status import SlfStatus as S
from sif_agent.resolver.tables import AWAIT_CANCEL, AWAIT_DECISION, AWAIT_OUTCOME

from tests import reference

from . import ssid_standin as db
from .conftest import TXN

#: (status, awaits) -> the IdStatus answered, or None (keeps waiting)
TABLE = {
    AWAIT_OUTCOME: {1: None, 2: None, 3: "Valid", 4: "Valid", 5: "Valid", 6: "Valid", 7: "Ambiguous",
                    8: "Ambiguous", 10: "Error", 11: None, 12: "Cancelled", 13: None},
    AWAIT_DECISION: {1: None, 2: None, 3: "Valid", 4: "Valid", 5: "Valid", 6: "Valid", 7: None, 8: None,
                     10: "Error", 11: None, 12: "Cancelled", 13: None},
    AWAIT_CANCEL: {1: None, 2: None, 3: "Error", 4: "Error", 5: "Error", 6: "Error", 7: None, 8: None,
                   10: "Error", 11: None, 12: "Cancelled", 13: None},
}


@pytest.mark.parametrize("awaits", list(TABLE))
@pytest.mark.parametrize("status", [s for s in S if s is not S.COMPLETE])
def test_answer_table(awaits, status):
    row = {"N_SLF_STATUS": int(status), "STATE_ID": "AB1234567", "LOCAL_ID": "100234", "SLF_REQUEST_TYPE": "Request"}
    a = outbound.for_row(TXN, awaits, row, db.CANDIDATES, ["Insufficient data"])
    assert (a.id_status if a else None) == TABLE[awaits][int(status)]
    # kept as 9 COMPLETE: answered as the status it completed
    kept = outbound.for_row(TXN, awaits, {**row, "N_SLF_STATUS": 9, "N_FINAL_STATUS": int(status)}, db.CANDIDATES,
                            ["Insufficient data"])
    if status in (S.SYSTEM_MATCH, S.SYSTEM_NEW, S.USER_MATCH, S.USER_NEW, S.ERROR, S.CANCELLED):
        assert kept.id_status == a.id_status


def test_final_answers_are_remembered_and_ambiguous_is_not():
    assert outbound.valid(TXN, "AB1234567", S.SYSTEM_MATCH).final
    assert outbound.error(TXN, "x").final and outbound.cancelled(TXN).final
    assert not outbound.ambiguous(TXN, db.CANDIDATES).final
    assert not outbound.too_late(TXN).final and not outbound.unknown(TXN, "cancel").final


def test_ambiguous_without_candidates_is_one_empty_object():
    a = outbound.ambiguous(TXN, [])
    [obj] = a.objects
    assert (obj.id_status, obj.state_province_id) == ("Ambiguous", "")


def test_replay():
    mem = {"ANSWER": "Valid", "ANSWER_STATE_ID": "NW0000001", "ANSWER_TEXT": "SYSTEM_NEW"}
    a = outbound.replay(TXN, AWAIT_OUTCOME, mem, "answer")
    assert (a.id_status, a.state_id, a.objects[0].extended_elements[0].value) == ("Valid", "NW0000001", "SYSTEM_NEW")
    assert outbound.replay(TXN, AWAIT_CANCEL, mem, "cancel").id_status == "Error"
    assert outbound.replay(TXN, AWAIT_CANCEL, {"ANSWER": "Cancelled"}, "cancel").id_status == "Cancelled"
    assert outbound.replay(TXN, AWAIT_OUTCOME, {"ANSWER": "Error", "ANSWER_TEXT": "bad"}, "answer").text == "bad"
    assert "no open transaction" in outbound.replay(TXN, AWAIT_DECISION, None, "resolve").text


@pytest.mark.parametrize("answer", [
    outbound.valid(TXN, "AB1234567", S.USER_MATCH, local_id="100234"),
    outbound.valid(TXN, "AB1234567", S.SYSTEM_MATCH, release=True),
    outbound.ambiguous(TXN, db.CANDIDATES),
    outbound.error(TXN, "Insufficient data: LEGAL_MIDDLE_NAME is required"),
    outbound.cancelled(TXN),
], ids=["valid", "release", "ambiguous", "error", "cancelled"])
@pytest.mark.parametrize("version", ["2.0r1", "2.1", "2.6"])
def test_answers_are_schema_valid_responses(answer, version):
    """Each answer in a SIF_Response passes the project's strict schemas (the zone's strict mode)."""
    resp = Response(header=Header.new("State-StudentResolver", "ITC01-StudentLocator"), version=version,
                    request_msg_id="F" * 32, packet_number=1, more_packets=False, objects=answer.objects)
    data = build(resp)
    again = parse(data)  # validates
    assert [o.typed().id_status for o in again.objects] == [o.id_status for o in answer.objects]
    if reference.available():  # and the official (strict OpenADK) schemas, where there is one
        for _label, directory, versions, _strict in reference.SCHEMAS:
            if version in versions:
                assert reference.errors(directory, data) == []
