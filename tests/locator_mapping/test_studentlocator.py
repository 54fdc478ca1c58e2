"""The produced StudentLocator is a complete, schema-valid object, and both query forms agree."""

from __future__ import annotations

import pytest

from messages import Condition, ConditionGroup, Conditions, Query, Request, Response, build, parse
from messages.objects import (
    Code,
    Demographics,
    ExtendedElement,
    Language,
    Name,
    Race,
    RequestingAgencyId,
    StudentLocator,
)
from messages.samples import LOCATOR_ID, RESOLVER_ID, Samples
from sif_agent.locator.mapping import collect, first, parse_path

from .conftest import BUILDING_IRN, DISTRICT_IRN, STUDENT, TX, enrollment, fixed_ids, personal, record

SETTINGS = {"district_irn": DISTRICT_IRN}


def example_request(loc: StudentLocator) -> Request:
    s = Samples(ids=fixed_ids(), clock=lambda: "2026-11-26T01:00:00-05:00")
    return Request(header=s.header(LOCATOR_ID), version=s.version, versions=(s.version,),
                   max_buffer_size=1_048_576, query=Query(object_name="StudentLocator", example=loc))


def conditions_request(conds: list[Condition]) -> Request:
    s = Samples(ids=fixed_ids(), clock=lambda: "2026-11-26T01:00:00-05:00")
    group = ConditionGroup(type="None", conditions=(Conditions(type="And", conditions=tuple(conds)),))
    return Request(header=s.header(LOCATOR_ID), version=s.version, versions=(s.version,),
                   max_buffer_size=1_048_576, query=Query(object_name="StudentLocator", condition_group=group))


def response(loc: StudentLocator) -> Response:
    s = Samples(ids=fixed_ids(), clock=lambda: "2026-11-26T01:00:00-05:00")
    return Response(header=s.header(RESOLVER_ID, LOCATOR_ID), version=s.version,
                    request_msg_id="F" * 32, objects=(loc,))


def roundtrip(msg):
    again = parse(build(msg))  # strict schema validation
    assert again == msg
    return again


def test_ohio_studentlocator_is_complete(ohio, schools):
    got = collect(record(), schools, ohio, enrollment=enrollment(), settings=SETTINGS)
    loc = got.to_studentlocator(TX)
    assert loc == StudentLocator(
        id_status="Request", transaction_id=TX, state_province_id="",
        requesting_agency_ids=(RequestingAgencyId(type="School", value=BUILDING_IRN),
                               RequestingAgencyId(type="LEA", value=DISTRICT_IRN)),
        names=(Name(type="04", last_name="Okafor", first_name="Amara", middle_name="Grace"),),
        demographics=Demographics(races=(Race(code="1000"),), gender="F", birth_date="2017-04-12",
                                  place_of_birth="Columbus", languages=(Language(code="eng"),)),
        effective_date="2026-08-19",  # the enrollment's EntryDate (not an Ohio data element)
        extended_elements=(ExtendedElement(name="AdmissionReason", value="1"),),
    )
    assert loc.local_id is None and loc.grade_level is None  # Ohio collects only its 11 elements


@pytest.mark.parametrize("which", ["ohio", "default"])
def test_studentlocator_validates_in_request_and_response(which, request, schools):
    m = request.getfixturevalue(which)
    e = enrollment(grade_level=Code(code="0K"))
    loc = collect(record(personal(), e), schools, m, enrollment=e, settings=SETTINGS).to_studentlocator(TX)
    req = roundtrip(example_request(loc))
    assert req.query.example.typed() == loc
    roundtrip(response(loc))


@pytest.mark.parametrize("which", ["ohio", "default"])
def test_conditions_carry_the_same_values_as_the_example(which, request, schools):
    m = request.getfixturevalue(which)
    got = collect(record(), schools, m, enrollment=enrollment(), settings=SETTINGS)
    loc = got.to_studentlocator(TX)
    conds = got.conditions(TX)
    assert conds[:2] == [Condition(element="@IdStatus", value="Request"),
                         Condition(element="@TransactionId", value=TX)]
    el = loc.to_element()
    for c in conds[2:]:
        assert first(el, parse_path(c.element)) == c.value, c.element
    assert {c.element: c.value for c in conds[2:]} == {
        **got.fields, "EffectiveDate": "2026-08-19"}
    roundtrip(conditions_request(conds))
    assert [c.element for c in got.conditions()][:1] != ["@IdStatus"]  # no transaction id: fields only


def test_default_mapping_studentlocator(default, schools):
    got = collect(record(), schools, default, enrollment=enrollment(), settings=SETTINGS)
    loc = got.to_studentlocator(TX, id_status="Resolve")
    assert loc.id_status == "Resolve"
    assert loc.local_id == "100234" and loc.student_personal_ref_id == STUDENT
    assert loc.grade_level == Code(code="03")
    assert loc.demographics.hispanic_latino == "No"
    assert [a.type for a in loc.requesting_agency_ids] == ["LEA", "School"]


def test_incomplete_name_is_left_out_but_stays_valid(ohio, schools):
    sp = personal(name=Name(type="04", first_name="Amara"))  # no LastName: schema needs both
    got = collect(record(sp), schools, ohio, enrollment=enrollment(), settings=SETTINGS)
    assert 'Name[@Type="04"]/LastName' in got.missing
    loc = got.to_studentlocator(TX)
    assert loc.names == ()
    roundtrip(example_request(loc))
    assert all(not c.element.startswith("Name") for c in got.conditions(TX))
    roundtrip(conditions_request(got.conditions(TX)))
