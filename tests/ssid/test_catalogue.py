"""The attribute catalogue and the configuration file: rules, tasks, groups, SSN never mandatory."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from ssid.catalogue import (GENERATE, IMPORT, MAX_ATTRIBUTES, RETRIEVE, Attribute, Catalogue, CatalogueError,
                            ohio_catalogue)
from ssid.config import ConfigError, from_mapping, load

from .conftest import AMARA, EXAMPLE

TODAY = date(2027, 1, 15)


def test_the_example_configuration_is_the_ohio_catalogue_with_a_minimal_group():
    s = load(EXAMPLE)
    assert s.catalogue.attributes == ohio_catalogue().attributes
    assert s.catalogue.names == ("LegalFirstName", "LegalMiddleName", "LegalLastName", "BirthDate", "Gender",
                                 "BirthPlaceCity", "RaceEthnicity", "NativeLanguage", "AdmissionReason", "SSN",
                                 "MothersMaidenName")
    assert len(s.catalogue.required(RETRIEVE)) == 5
    assert len(s.catalogue.required(GENERATE)) == 9
    for task in (RETRIEVE, GENERATE):
        assert s.catalogue.required(task, "minimal") == ("LegalFirstName", "LegalLastName", "BirthDate")
    assert s.id_profile.name == "ohio"
    assert s.database.endswith("/var/ssid.db")


def test_a_minimal_group_user_gets_an_id_with_three_attributes_and_others_do_not():
    cat = load(EXAMPLE).catalogue
    three = {"LegalFirstName": "Amara", "LegalLastName": "Okafor", "BirthDate": "04/12/2017"}
    ok = cat.check(three, GENERATE, "minimal", today=TODAY)
    assert ok.ok and ok.values["BirthDate"] == "2017-04-12"
    refused = cat.check(three, GENERATE, None, today=TODAY)
    assert {p.field for p in refused.problems} == {"LegalMiddleName", "Gender", "BirthPlaceCity", "RaceEthnicity",
                                                  "NativeLanguage", "AdmissionReason"}
    assert all(p.code == "missing" for p in refused.problems)


def test_every_problem_is_reported_at_once_naming_the_field_and_the_fix():
    cat = ohio_catalogue()
    bad = {"LegalFirstName": "J0hn", "LegalLastName": "", "BirthDate": "13/45/2010", "Gender": "Q",
           "RaceEthnicity": "Z", "NativeLanguage": "english", "AdmissionReason": "1", "BirthPlaceCity": "Dayton",
           "LegalMiddleName": "NMN", "SSN": "12-34", "MothersMaidenName": "x" * 60}
    checked = cat.check(bad, GENERATE, today=TODAY)
    by_field = {p.field: p for p in checked.problems}
    assert set(by_field) == {"LegalFirstName", "LegalLastName", "BirthDate", "Gender", "RaceEthnicity",
                             "NativeLanguage", "SSN", "MothersMaidenName"}
    assert "letters, spaces, hyphens" in by_field["LegalFirstName"].message
    assert "required to generate a new student ID" in by_field["LegalLastName"].message
    assert "YYYY-MM-DD" in by_field["BirthDate"].message
    assert "use one of F, M, X" in by_field["Gender"].message
    assert "A, B, H, I, M, P, W" in by_field["RaceEthnicity"].message
    assert "three-letter language code" in by_field["NativeLanguage"].message
    assert "9 digits" in by_field["SSN"].message and "optional" in by_field["SSN"].message
    assert "at most 50" in by_field["MothersMaidenName"].message
    assert str(by_field["Gender"]).startswith("Gender: ")
    # the submitted values are never repeated in messages (they are a child's personal data)
    assert "J0hn" not in checked.message() and "13/45/2010" not in checked.message()


def test_values_are_cleaned_into_their_stored_form():
    cat = ohio_catalogue()
    c = cat.check({**AMARA, "Gender": "f", "BirthDate": "4/12/2017", "SSN": "123-45-6789",
                   "LegalFirstName": "  Zoë  ", "NativeLanguage": "eng"}, GENERATE, today=TODAY)
    assert c.ok, c.message()
    assert c.values["Gender"] == "F" and c.values["BirthDate"] == "2017-04-12" and c.values["SSN"] == "123456789"
    assert c.values["LegalFirstName"] == "Zoë" and c.values["NativeLanguage"] == "ENG"
    names = cat.check({**AMARA, "LegalLastName": "O'Brien-Smith", "LegalFirstName": "Mary Ann",
                       "LegalMiddleName": "St. John"}, GENERATE, today=TODAY)
    assert names.ok


def test_names_typed_in_a_word_processor_are_stored_with_plain_marks():
    """Curly apostrophes, en dashes and no-break spaces come from word processors and
    spreadsheets: the same name, stored with the plain character."""
    cat = ohio_catalogue()
    c = cat.check({**AMARA, "LegalLastName": "O’Brien–Smith", "LegalFirstName": "Mary\u00a0Ann",
                   "LegalMiddleName": "Ng\u02bceta"}, GENERATE, today=TODAY)
    assert c.ok, c.message()
    assert (c.values["LegalLastName"], c.values["LegalFirstName"], c.values["LegalMiddleName"]) == \
        ("O'Brien-Smith", "Mary Ann", "Ng'eta")


def test_a_name_with_other_characters_is_refused_naming_them():
    cat = ohio_catalogue()
    bad = cat.check({**AMARA, "LegalLastName": "O'Connor, 3rd"}, GENERATE, today=TODAY)
    assert not bad.ok and 'LegalLastName: may hold letters, spaces, hyphens (-), apostrophes (\') and periods only: ' \
        'remove "," "3"' in bad.message()
    dots = cat.check({**AMARA, "LegalFirstName": "..."}, GENERATE, today=TODAY)
    assert "LegalFirstName: must contain a letter" in dots.message()


def test_birth_dates_outside_the_range_are_refused_with_the_limit():
    cat = ohio_catalogue()
    future = cat.check({**AMARA, "BirthDate": "2027-02-01"}, GENERATE, today=TODAY)
    assert "on or before 2027-01-15" in future.message()
    old = cat.check({**AMARA, "BirthDate": "1900-01-01"}, GENERATE, today=TODAY)
    assert "on or after 1950-01-01" in old.message()
    assert "not a date" in cat.check({**AMARA, "BirthDate": "2017-02-30"}, GENERATE, today=TODAY).message()


def test_legacy_import_requires_nothing_but_checks_formats():
    cat = ohio_catalogue()
    assert cat.required(IMPORT) == ()
    assert cat.check({}, IMPORT).ok
    assert not cat.check({"Gender": "Q"}, IMPORT).ok


def test_ssn_can_never_be_mandatory():
    with pytest.raises(CatalogueError, match="SSN can never be a mandatory attribute"):
        Catalogue((*ohio_catalogue().attributes[:9], Attribute("SSN", "SSN", "ssn", required=True)))
    with pytest.raises(ConfigError, match=r"\[tasks.generate\]: SSN cannot be required"):
        from_mapping({"tasks": {"generate": {"required": ["LegalFirstName", "SSN"]}}})
    with pytest.raises(ConfigError, match=r"\[groups.strict.tasks.retrieve\]: SSN cannot be required"):
        from_mapping({"groups": {"strict": {"tasks": {"retrieve": {"required": ["SSN"]}}}}})
    data = tomllib.loads(Path(EXAMPLE).read_text())
    for a in data["attributes"]:
        if a["name"] == "SSN":
            a["required"] = True
    with pytest.raises(ConfigError, match="SSN can never be a mandatory attribute .RFP 1.4.: set required = false"):
        from_mapping(data)


def test_configuration_problems_are_all_reported_together():
    data = tomllib.loads(Path(EXAMPLE).read_text())
    data["attributes"].append({"name": "Gender", "label": "again"})
    data["attributes"].append({"name": "Shoe Size", "kind": "number"})
    data["tasks"]["retrieve"]["required"].append("EyeColour")
    data["ssid"]["id_profile"] = "texas"
    with pytest.raises(ConfigError) as err:
        from_mapping(data)
    text = str(err.value)
    for fragment in ("attribute Gender is configured twice", "'Shoe Size': use letters, digits and _",
                     "kind 'number' is unknown", "EyeColour is not an attribute", "unknown id_profile 'texas'"):
        assert fragment in text


def test_at_most_fifteen_attributes():
    extra = [Attribute(f"Extra{i}", f"Extra {i}") for i in range(MAX_ATTRIBUTES - len(ohio_catalogue().names) + 1)]
    with pytest.raises(CatalogueError, match="at most 15 are allowed: remove 1"):
        Catalogue((*ohio_catalogue().attributes, *extra))
    Catalogue((*ohio_catalogue().attributes, *extra[:-1]))  # exactly 15 is fine


def test_matching_needs_names_and_birth_date():
    attrs = tuple(a for a in ohio_catalogue().attributes if a.name != "BirthDate")
    with pytest.raises(CatalogueError, match="attribute BirthDate is missing"):
        Catalogue(attrs)


def test_attributes_and_requirements_change_without_code(tmp_path):
    """Add an attribute, make one optional, give a group its own list: configuration only."""
    text = Path(EXAMPLE).read_text().replace('name = "AdmissionReason"\nlabel = "Admission reason code"\nkind = '
                                             '"code"\nrequired = true', 'name = "AdmissionReason"\nlabel = '
                                             '"Admission reason code"\nkind = "code"\nrequired = false')
    text = text.replace('"RaceEthnicity", "NativeLanguage", "AdmissionReason"]', '"RaceEthnicity", "NativeLanguage"]')
    text += '\n[[attributes]]\nname = "CalledName"\nlabel = "Called name"\nkind = "name"\nmax_length = 60\n'
    text += '\n[groups.itc.tasks.generate]\nrequired = ["LegalFirstName", "LegalLastName", "BirthDate", "Gender"]\n'
    f = tmp_path / "ssid.toml"
    f.write_text(text)
    cat = load(f).catalogue
    assert "CalledName" in cat.names and len(cat.names) == 12
    assert "AdmissionReason" not in cat.required(GENERATE)
    assert cat.required(GENERATE, "itc") == ("LegalFirstName", "LegalLastName", "BirthDate", "Gender")
    assert cat.check({**AMARA, "CalledName": "Mara"}, GENERATE, today=TODAY).ok


def test_field_lengths_grow_by_configuration():
    long_name = {**AMARA, "LegalLastName": "Wolfeschlegelsteinhausenbergerdorff-Okafor-Abernathy"}
    assert "at most 50" in ohio_catalogue().check(long_name, GENERATE, today=TODAY).message()
    data = tomllib.loads(Path(EXAMPLE).read_text())
    for a in data["attributes"]:
        if a["name"] == "LegalLastName":
            a["max_length"] = 80
    assert from_mapping(data).catalogue.check(long_name, GENERATE, today=TODAY).ok


def test_unknown_group_is_a_problem_not_a_silent_default():
    c = ohio_catalogue().check(AMARA, GENERATE, "nosuchgroup", today=TODAY)
    assert not c.ok and "unknown user group 'nosuchgroup'" in c.message()


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[ssid\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)
    extra = tmp_path / "extra.toml"
    extra.write_text('[ssid]\ndatabse = "x.db"\n')
    with pytest.raises(ConfigError, match=r"unknown keys databse"):
        load(extra)
