"""Golden round trips: build equals the golden file (C14N), parse equals the model.

The golden files were produced once by tests/golden_cases.py and reviewed; each also
validates against the official SIF XSDs (see test_conformance.py), which is what makes
them trustworthy rather than merely self-consistent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from messages import Ack, Event, Request, Response, codec, parse, parse_xml
from messages.objects import StudentLocator, StudentPersonal
from tests.golden_cases import GOLDEN, cases

CASES = cases()


def c14n(data: bytes) -> bytes:
    return etree.tostring(parse_xml(data), method="c14n", exclusive=True)


def test_every_golden_file_has_a_case_and_every_case_a_file():
    on_disk = {p.name for p in GOLDEN.glob("*.xml")}
    assert on_disk == {name for name, _ in CASES}


@pytest.mark.parametrize("name,message", CASES, ids=[n for n, _ in CASES])
def test_build_equals_golden(name, message):
    assert c14n(codec.build(message)) == c14n((GOLDEN / name).read_bytes())


@pytest.mark.parametrize("name,message", CASES, ids=[n for n, _ in CASES])
def test_parse_equals_model(name, message):
    assert parse((GOLDEN / name).read_bytes()) == message


PEERS = Path(GOLDEN, "peers")


def test_openadk_condition_request_with_single_quotes_and_apos():
    m = parse((PEERS / "openadk_request_conditions.xml").read_bytes())
    assert isinstance(m, Request)
    assert m.version == "2.0r1" and m.versions == ("2.*",)
    assert m.header.security is not None and m.header.security.authentication_level == 0
    assert m.header.contexts == ("SIF_Default",)
    conds = {c.element: c.value for c in m.query.condition_group.flat()}
    assert conds["Name[@Type='04']/LastName"] == "O'Brien"
    assert conds["@TransactionId"] == "A731E63562984A00B02543E87DC5906D"
    assert conds["RequestingAgencyId[@Type='LEA']"] == "98"


def test_openzis_ack_with_twelve_hour_timestamp_and_embedded_response():
    m = parse((PEERS / "openzis_ack_with_response.xml").read_bytes())
    assert isinstance(m, Ack) and m.status.code == 0
    assert m.header.source_id == "locator"
    assert m.header.time is not None and m.header.time.tzinfo is None  # no offset: kept naive
    inner = m.message
    assert isinstance(inner, Response) and inner.request_msg_id == "800D4C5F9E6A4B2B8A4E0D3C2B1A1C18"
    loc = inner.objects[0].typed()
    assert isinstance(loc, StudentLocator)
    assert (loc.id_status, loc.state_province_id, loc.confidence, loc.local_id) == ("Valid", "98765", "100", "123456")
    assert loc.agency("LEA") == "98"


def test_event_from_sis_keeps_unmodelled_children_when_rewritten():
    m = parse((PEERS / "openadk_event_add.xml").read_bytes())
    assert isinstance(m, Event) and (m.object_name, m.action) == ("StudentPersonal", "Add")
    sp = m.objects[0].typed()
    assert isinstance(sp, StudentPersonal)
    assert sp.name.last_name == "O'Brien" and sp.demographics.birth_date == "2016-09-30"
    assert [o.name for o in sp.other] == ["PhoneNumberList", "MostRecent"]
    # Adding the state id and writing the object back keeps everything, in schema order.
    from dataclasses import replace

    again = replace(sp, state_province_id="AB1234567").to_element()
    names = [etree.QName(c).localname for c in again]
    assert names == ["LocalId", "StateProvinceId", "Name", "Demographics", "PhoneNumberList", "MostRecent"]
    assert StudentPersonal.from_element(again).other == sp.other
