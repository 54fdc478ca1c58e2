"""Realistic district objects for the mapping tests (built with messages.objects)."""

from __future__ import annotations

import itertools

import pytest

from messages.objects import (
    Address,
    Code,
    Demographics,
    ExtendedElement,
    Language,
    Name,
    OtherCode,
    OtherId,
    Race,
    SchoolInfo,
    Street,
    StudentPersonal,
    StudentSchoolEnrollment,
)
from sif_agent.locator import mapping
from sif_agent.locator.student import StudentRecord

STUDENT = "A1B2C3D4E5F60718293A4B5C6D7E8F90"
SCHOOL = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
OTHER_SCHOOL = "11112222333344445555666677778888"
ENROLLMENT = "99990000AAAABBBBCCCCDDDDEEEEFFFF"
TX = "5A4B3C2D1E0F11223344556677889900"
DISTRICT_IRN = "043802"
BUILDING_IRN = "012345"


def personal(**changes) -> StudentPersonal:
    name = changes.pop("name", Name(type="04", last_name="Okafor", first_name="Amara", middle_name="Grace"))
    demo = changes.pop("demographics", Demographics(
        races=(Race(code="1000", other_codes=(OtherCode(codeset="Local", value="B"),
                                              OtherCode(codeset="StateProvince", value="B"))),),
        hispanic_latino="No",
        gender="F",
        birth_date="2017-04-12",
        place_of_birth="Columbus",
        state_of_birth="OH",
        languages=(Language(code="eng", language_type="Native"), Language(code="ibo")),
    ))
    ext = changes.pop("extended_elements", (
        ExtendedElement(name="AdmissionReason", value="1"),
        ExtendedElement(name="HomeroomTeacher", value="Ms. Lee"),
    ))
    return StudentPersonal(
        ref_id=STUDENT, local_id="100234",
        other_ids=(OtherId(type="0004", value="998-1234"),),
        name=name,
        other_names=(Name(type="05", last_name="Okafor", first_name="Amy"),),
        demographics=demo,
        addresses=(Address(type="0765", street=Street(line1="411 Elm Street"), city="Columbus",
                           state_province="OH", country="US", postal_code="43215"),),
        extended_elements=ext,
        **changes,
    )


def enrollment(**changes) -> StudentSchoolEnrollment:
    values = dict(ref_id=ENROLLMENT, student_personal_ref_id=STUDENT, school_info_ref_id=SCHOOL,
                  membership_type="Home", time_frame="Current", school_year="2027",
                  entry_date="2026-08-19", entry_type=Code(code="1821"), grade_level=Code(code="03"))
    values.update(changes)
    return StudentSchoolEnrollment(**values)


def school(**changes) -> SchoolInfo:
    values = dict(ref_id=SCHOOL, local_id="12", state_province_id=BUILDING_IRN,
                  school_name="Maple Grove Elementary", lea_info_ref_id="ABCDEFABCDEFABCDEFABCDEFABCDEF12")
    values.update(changes)
    return SchoolInfo(**values)


def record(sp: StudentPersonal | None = None, *enrollments: StudentSchoolEnrollment) -> StudentRecord:
    sp = sp if sp is not None else personal()
    enrollments = enrollments or (enrollment(),)
    return StudentRecord(zone_id="district-043802", student_ref=STUDENT, personal=sp,
                         enrollments={e.ref_id: e for e in enrollments},
                         events=[("StudentPersonal", "Add"), ("StudentSchoolEnrollment", "Add")])


@pytest.fixture(scope="session")
def ohio() -> mapping.Mapping:
    return mapping.load_named("ohio")


@pytest.fixture(scope="session")
def default() -> mapping.Mapping:
    return mapping.load_named("default")


@pytest.fixture
def schools() -> dict[str, SchoolInfo]:
    return {SCHOOL: school(), OTHER_SCHOOL: school(ref_id=OTHER_SCHOOL, state_province_id="099999")}


def fixed_ids():
    counter = itertools.count(1)
    return lambda: f"{next(counter):032X}"
