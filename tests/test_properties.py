"""Property tests: random valid StudentLocator objects survive build → parse → build."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messages import Header, Request, Query, Response, build, parse
from messages.objects import (
    Address, Code, Contact, Demographics, ExtendedElement, IdStatus, Language, Name, OtherCode,
    OtherId, Race, RequestingAgencyId, Street, StudentLocator,
)
from tests import reference

# Text a district SIS could really hold: letters (accented too), digits, punctuation that
# needs escaping in XML, inner spaces; never leading/trailing blanks (SIF normalises them).
_alphabet = st.characters(
    whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" '-.&<>\"é ñÜ",
    max_codepoint=0x2FF,
)
text = st.text(_alphabet, min_size=1, max_size=24).map(lambda s: " ".join(s.split())).filter(bool)
maybe = lambda s: st.none() | s  # noqa: E731
guid = st.text("0123456789ABCDEF", min_size=32, max_size=32)
date = st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat)
grade = st.sampled_from(["PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "PG", "UN"])

names = st.builds(
    Name, type=st.sampled_from(["01", "02", "03", "04", "05", "07", "08"]), prefix=maybe(text),
    last_name=text, first_name=text, middle_name=maybe(text), suffix=maybe(text),
    preferred_name=maybe(text), sort_name=maybe(text), full_name=maybe(text),
)
other_codes = st.lists(st.builds(OtherCode, codeset=st.sampled_from(["StateProvince", "Local", "Other", "Text"]),
                                 value=text.map(lambda s: s.replace(" ", "_"))), max_size=2).map(tuple)
demographics = st.builds(
    Demographics,
    races=st.lists(st.builds(Race, code=st.sampled_from(["0998", "0999", "1000", "1001", "1002"]),
                             other_codes=other_codes), max_size=3).map(tuple),
    hispanic_latino=maybe(st.sampled_from(["Yes", "No"])),
    gender=maybe(st.sampled_from(["M", "F", "U"])),
    birth_date=maybe(date),
    place_of_birth=maybe(text),
    county_of_birth=maybe(text),
    languages=st.lists(st.builds(Language, code=st.sampled_from(["eng", "spa", "som", "ara"])), max_size=2).map(tuple),
)
addresses = st.builds(
    Address, type=st.sampled_from(["0123", "0124", "0765"]), street=st.builds(Street, line1=text, line2=maybe(text)),
    city=text, state_province=st.sampled_from(["OH", "CA", "MI"]), country=st.just("US"),
    postal_code=st.from_regex(r"\A[0-9]{5}\Z"),
)
locators = st.builds(
    StudentLocator,
    id_status=st.sampled_from([s.value for s in IdStatus]),
    transaction_id=guid,
    state_province_id=st.just("") | st.from_regex(r"\A[A-Z]{2}[0-9]{7}\Z"),
    confidence=maybe(st.integers(0, 100).map(str)),
    local_id=maybe(text),
    student_personal_ref_id=maybe(guid),
    requesting_agency_ids=st.lists(st.builds(RequestingAgencyId, type=st.sampled_from(["ESA", "LEA", "School"]),
                                             value=st.from_regex(r"\A[0-9]{6}\Z")), max_size=3).map(tuple),
    grade_level=maybe(st.builds(Code, code=grade)),
    ssn=maybe(st.from_regex(r"\A[0-9]{9}\Z")),
    names=st.lists(names, max_size=3).map(tuple),
    addresses=st.lists(addresses, max_size=2).map(tuple),
    demographics=maybe(demographics),
    contacts=st.lists(st.builds(Contact, relationship=st.builds(Code, code=st.sampled_from(["1735", "1741"])),
                                names=st.lists(names, max_size=1).map(tuple)), max_size=2).map(tuple),
    effective_date=maybe(date),
    start_date=maybe(date),
    end_date=maybe(date),
    graduation_date=maybe(date),
    school_attended_name=maybe(text),
    school_attended_location=maybe(text),
    other_id=maybe(st.builds(OtherId, type=st.just("0004"), value=text)),
    extended_elements=st.lists(st.builds(ExtendedElement, name=st.sampled_from(["AdmissionReason", "BirthPlaceCity"]),
                                         value=text), max_size=2, unique_by=lambda e: e.name).map(tuple),
)

HEADER = Header(msg_id="0" * 31 + "1", timestamp="2026-11-25T09:30:00Z", source_id="State-StudentResolver",
                destination_id="ITC01-StudentLocator")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(locators, min_size=1, max_size=4))
def test_studentlocator_response_round_trip(objects):
    message = Response(header=HEADER, version="2.2", request_msg_id="A" * 32, objects=tuple(objects))
    first = build(message)
    again = parse(first)
    assert again == message
    assert [o.typed() for o in again.objects] == list(objects)
    assert build(again) == first


@settings(max_examples=150, deadline=None)
@given(locators)
def test_studentlocator_example_query_round_trip(locator):
    message = Request(header=HEADER, version="2.1", versions=("2.1",), max_buffer_size=65536,
                      query=Query(object_name="StudentLocator", example=locator))
    first = build(message)
    assert parse(first).query.example.typed() == locator
    assert build(parse(first)) == first


@settings(max_examples=100, deadline=None)
@given(locators)
def test_generated_studentlocators_are_valid_per_official_strict_schema(locator):
    """The generator only makes valid objects, so the round trip above means something."""
    if not reference.available():
        return
    message = Response(header=HEADER, version="2.2", request_msg_id="A" * 32, objects=(locator,))
    assert reference.errors("2.2/openadk-csharp", build(message)) == []
