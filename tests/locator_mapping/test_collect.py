"""collect(): the Ohio and default mappings against realistic district objects."""

from __future__ import annotations

from messages.objects import Demographics, ExtendedElement, Language, Name, Race
from sif_agent.locator.mapping import collect, has_required_fields

from .conftest import BUILDING_IRN, DISTRICT_IRN, OTHER_SCHOOL, enrollment, personal, record, school

SETTINGS = {"district_irn": DISTRICT_IRN}


def test_ohio_collects_the_eleven_elements(ohio, schools):
    e = enrollment()
    got = collect(record(personal(), e), schools, ohio, enrollment=e, school=None, settings=SETTINGS)
    assert got.missing == [] and got.invalid == {} and got.complete
    assert got.fields == {
        'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]': "1",
        "Demographics/LanguageList/Language/Code": "eng",
        "Demographics/PlaceOfBirth": "Columbus",
        'Name[@Type="04"]/FirstName': "Amara",
        'Name[@Type="04"]/LastName': "Okafor",
        'Name[@Type="04"]/MiddleName': "Grace",
        "Demographics/RaceList/Race/Code": "1000",  # state table not applied by the locator
        "Demographics/BirthDate": "2017-04-12",
        "Demographics/Gender": "F",
        'RequestingAgencyId[@Type="School"]': BUILDING_IRN,
        'RequestingAgencyId[@Type="LEA"]': DISTRICT_IRN,
    }
    assert list(got.fields) == list(ohio.targets)  # mapping order
    assert got.entry_date == "2026-08-19"


def test_building_irn_follows_the_chosen_enrollment(ohio, schools):
    home = enrollment(ref_id="E2" * 16, school_info_ref_id=OTHER_SCHOOL)
    got = collect(record(personal(), enrollment(), home), schools, ohio, enrollment=home, settings=SETTINGS)
    assert got.fields['RequestingAgencyId[@Type="School"]'] == "099999"
    # an explicit school wins over the lookup
    got = collect(record(), schools, ohio, enrollment=home, school=school(state_province_id="055555"))
    assert got.fields['RequestingAgencyId[@Type="School"]'] == "055555"


def test_district_irn_falls_back_to_the_schoolinfo_extended_element(ohio, schools):
    s = school(extended_elements=(ExtendedElement(name="DistrictIRN", value="043999"),))
    got = collect(record(), schools, ohio, enrollment=enrollment(), school=s)
    assert got.fields['RequestingAgencyId[@Type="LEA"]'] == "043999"
    got = collect(record(), schools, ohio, enrollment=enrollment(), school=s, settings=SETTINGS)
    assert got.fields['RequestingAgencyId[@Type="LEA"]'] == DISTRICT_IRN  # the setting comes first
    got = collect(record(), schools, ohio, enrollment=enrollment())
    assert 'RequestingAgencyId[@Type="LEA"]' not in got.fields
    assert got.missing == []  # the IRNs are optional in Ohio


def test_missing_required_fields_are_reported_by_path(ohio, schools):
    sp = personal(
        name=Name(type="04", last_name="Okafor", first_name="Amara"),  # no middle name
        demographics=Demographics(gender="F", races=(Race(code="1000"),),
                                  languages=(Language(code="eng"),), place_of_birth="  "),  # blank = missing
        extended_elements=(ExtendedElement(name="HomeroomTeacher", value="Ms. Lee"),),
    )
    got = collect(record(sp), schools, ohio, enrollment=enrollment(), settings=SETTINGS)
    assert got.missing == [
        'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]',
        "Demographics/PlaceOfBirth",
        'Name[@Type="04"]/MiddleName',
        "Demographics/BirthDate",
    ]
    assert not got.complete
    assert not has_required_fields(record(sp), schools, ohio, enrollment=enrollment(), settings=SETTINGS)
    assert has_required_fields(record(), schools, ohio, enrollment=enrollment(), settings=SETTINGS)


def test_no_personal_yet_means_everything_required_is_missing(ohio, schools):
    r = record()
    r.personal = None
    got = collect(r, schools, ohio, enrollment=enrollment(), settings=SETTINGS)
    assert got.missing == list(ohio.required)
    assert got.fields == {'RequestingAgencyId[@Type="School"]': BUILDING_IRN,
                          'RequestingAgencyId[@Type="LEA"]': DISTRICT_IRN}


def test_default_mapping(default, schools):
    e = enrollment(grade_level=None)
    got = collect(record(personal(), e), schools, default, enrollment=e, settings=SETTINGS)
    assert got.complete
    assert got.fields["LocalId"] == "100234"
    assert got.fields["StudentPersonalRefId"] == "A1B2C3D4E5F60718293A4B5C6D7E8F90"
    assert got.fields["EffectiveDate"] == "2026-08-19"
    assert got.fields["Demographics/HispanicLatino"] == "No"
    assert "GradeLevel/Code" not in got.fields  # optional and absent: neither missing nor invalid
    # without the district setting nor a SchoolInfo DistrictIRN, the required LEA id is missing
    got = collect(record(), schools, default, enrollment=enrollment())
    assert got.missing == ['RequestingAgencyId[@Type="LEA"]']
    # without an enrollment there is no school either
    got = collect(record(), schools, default, settings=SETTINGS)
    assert got.missing == ['RequestingAgencyId[@Type="School"]'] and got.entry_date is None
