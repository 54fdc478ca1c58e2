"""The SIF element path subset: parsing, selecting, creating."""

from __future__ import annotations

import pytest
from lxml import etree

from sif_agent.locator.mapping import PathError, first, parse_path, put, select

from .conftest import personal


@pytest.mark.parametrize("text", [
    "LocalId",
    "@RefId",
    'Name[@Type="04"]/LastName',
    "Name[@Type='04']/LastName",
    "Demographics/RaceList/Race/OtherCodeList/OtherCode[@Codeset=\"StateProvince\"]",
    'Demographics/RaceList/Race[Code="1000"]/Proportion',
    'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]',
    'Contact[Relationship/Code="1735"]/Name[@Type="04"]/FirstName',
    "Name/@Type",
])
def test_valid_paths_parse(text):
    assert parse_path(text).text == text


@pytest.mark.parametrize("text,where", [
    ("", 0),
    ("Name[@Type=04]/LastName", 11),          # unquoted value
    ('Name[@Type="04"/LastName', 15),         # unclosed predicate
    ('Name[@Type="04]', 11),                  # unterminated string
    ("Name//LastName", 5),                    # empty step
    ("Name/", 5),                             # trailing slash
    ("@Type/Name", 5),                        # attribute not last
    ("Name[1]", 5),                           # positions are not supported
    ('__import__("os").system("x")', 10),     # not a path, never evaluated
    ("Demographics/BirthDate | //*", 22),     # no XPath unions or descendants
    ("Name[@Type!=\"04\"]", 10),
])
def test_malformed_paths_are_refused_with_a_position(text, where):
    with pytest.raises(PathError) as e:
        parse_path(text)
    assert e.value.pos == where
    assert "malformed path" in str(e.value)


def test_select_reads_text_attributes_predicates_and_other_codes():
    el = personal().to_element()
    assert first(el, parse_path('Name[@Type="04"]/FirstName')) == "Amara"
    assert first(el, parse_path('Name[@Type="05"]/FirstName')) is None  # 05 lives under OtherNames
    assert first(el, parse_path('OtherNames/Name[@Type="05"]/FirstName')) == "Amy"
    assert first(el, parse_path("@RefId")) == "A1B2C3D4E5F60718293A4B5C6D7E8F90"
    assert first(el, parse_path(
        'Demographics/RaceList/Race/OtherCodeList/OtherCode[@Codeset="Local"]')) == "B"
    assert first(el, parse_path('Demographics/LanguageList/Language[LanguageType="Native"]/Code')) == "eng"
    assert select(el, parse_path("Demographics/LanguageList/Language/Code")) == ["eng", "ibo"]
    assert first(el, parse_path('SIF_ExtendedElements/SIF_ExtendedElement[@Name="HomeroomTeacher"]')) == "Ms. Lee"
    assert first(el, parse_path('SIF_ExtendedElements/SIF_ExtendedElement[@Name="Nope"]')) is None


def test_put_creates_predicates_and_reuses_parents():
    root = etree.Element("{http://www.sifinfo.org/infrastructure/2.x}StudentLocator")
    put(root, parse_path('Name[@Type="04"]/LastName'), "Okafor")
    put(root, parse_path('Name[@Type="04"]/FirstName'), "Amara")
    put(root, parse_path('RequestingAgencyId[@Type="LEA"]'), "043802")
    put(root, parse_path('Demographics/RaceList/Race[Code="1000"]/Proportion'), "0.5")
    assert len(root.findall("{*}Name")) == 1
    assert first(root, parse_path('Name[@Type="04"]/FirstName')) == "Amara"
    assert first(root, parse_path('RequestingAgencyId[@Type="LEA"]')) == "043802"
    assert first(root, parse_path("Demographics/RaceList/Race/Code")) == "1000"
