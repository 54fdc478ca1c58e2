"""Model rules that the wire format alone does not show."""

from __future__ import annotations

import pytest

from messages import (
    Ack, ExtendedQuery, Header, Query, Request, Response, SIFError, Status, XmlObject, build, parse,
)
from messages.objects import IdStatus, StudentLocator
from tests.golden_cases import EXTENDED_QUERY

H = Header(msg_id="1" * 32, timestamp="2026-11-25T09:30:00Z", source_id="a")


def test_extended_query_is_read_then_refused_with_8_15():
    req = Request(header=H, versions=("2.1",), max_buffer_size=1000,
                  query=ExtendedQuery(xml=XmlObject.from_bytes(EXTENDED_QUERY)))
    again = parse(build(req))
    assert again.object_name == "StudentPersonal"
    with pytest.raises(SIFError) as info:
        again.simple_query()
    assert (info.value.category, info.value.code) == (8, 15)


@pytest.mark.parametrize("offered,answer", [(("2.*",), "2.6"), (("2.0r1",), "2.0r1"), (("1.5r1",), None)])
def test_response_version_is_negotiated_from_the_request(offered, answer):
    req = Request(header=H, version="2.0r1", versions=offered, max_buffer_size=1000,
                  query=Query(object_name="StudentLocator"))
    assert req.response_version() == answer


def test_ack_takes_status_or_error_not_both_or_neither():
    with pytest.raises(ValueError):
        Ack(header=H, original_source_id="a", original_msg_id="1" * 32)


def test_response_takes_exactly_one_payload():
    with pytest.raises(ValueError):
        Response(header=H, request_msg_id="2" * 32)


def test_studentlocator_always_writes_state_province_id():
    loc = StudentLocator(id_status=IdStatus.REQUEST, transaction_id="A" * 32)
    el = loc.to_element()
    assert el[0].tag.endswith("StateProvinceId") and (el[0].text or "") == ""
    assert loc.status is IdStatus.REQUEST


def test_typed_payloads_become_comparable_xml():
    loc = StudentLocator(id_status="Valid", transaction_id="A" * 32, state_province_id="AB1234567")
    r1 = Response(header=H, request_msg_id="2" * 32, objects=(loc,))
    r2 = Response(header=H, request_msg_id="2" * 32, objects=(XmlObject.of(loc),))
    assert r1 == r2 and hash(r1.objects[0]) == hash(r2.objects[0])
    assert r1.objects[0].typed() == loc


def test_pulled_message_is_available_from_the_ack():
    inner = Request(header=H, versions=("2.1",), max_buffer_size=1000, query=Query(object_name="StudentLocator"))
    ack = Ack(header=H, original_source_id="a", original_msg_id="1" * 32, status=Status(code=0, data=inner))
    assert parse(build(ack)).message == inner
