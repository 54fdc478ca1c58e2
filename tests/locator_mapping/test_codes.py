"""Code translation: district tables by the locator, state tables by the resolver only."""

from __future__ import annotations

import textwrap

import pytest

from messages.objects import Code, Demographics, OtherCode, Race
from sif_agent import codetables as codes
from sif_agent.locator import mapping
from sif_agent.codetables import CodeTable, UnknownCode, UnknownCodes
from sif_agent.locator.mapping import collect

from .conftest import enrollment, personal, record

SETTINGS = {"district_irn": "043802"}


def test_district_table_is_applied_by_the_locator(default, schools):
    e = enrollment(grade_level=Code(code="0K"))  # the seed's example
    got = collect(record(personal(), e), schools, default, enrollment=e, settings=SETTINGS)
    assert got.fields["GradeLevel/Code"] == "KG"
    assert got.to_studentlocator("A" * 32).grade_level == Code(code="KG")


def test_state_table_is_not_applied_by_the_locator_but_by_apply_state(ohio, schools):
    got = collect(record(), schools, ohio, enrollment=enrollment(), settings=SETTINGS)
    assert got.fields["Demographics/RaceList/Race/Code"] == "1000"
    # the locator's side leaves it alone ...
    assert codes.apply("district", got.fields, ohio.tables_by_field()) == got.fields
    # ... the resolver's side translates it, from the request's condition values
    received = {c.element: c.value for c in got.conditions("A" * 32)}
    state = codes.apply("state", received, ohio.tables_by_field())
    assert state["Demographics/RaceList/Race/Code"] == "B"
    assert state['Name[@Type="04"]/LastName'] == "Okafor"


def test_unknown_code_error_policy_on_the_state_side(ohio):
    with pytest.raises(UnknownCodes) as e:
        codes.apply("state", {"Demographics/RaceList/Race/Code": "9999", "Demographics/Gender": "F"},
                    ohio.tables_by_field())
    assert e.value.errors == {"Demographics/RaceList/Race/Code": "code '9999' is not in code table 'ohio_ethnicity'"}


def test_unknown_code_error_policy_on_the_district_side(default, schools):
    e = enrollment(grade_level=Code(code="13"))
    got = collect(record(personal(), e), schools, default, enrollment=e, settings=SETTINGS)
    assert "GradeLevel/Code" not in got.fields
    assert got.invalid == {"GradeLevel/Code": "code '13' is not in code table 'grade_level'"}
    assert got.complete  # grade is optional in the default mapping
    assert got.to_studentlocator("A" * 32).grade_level is None


def test_unknown_code_pass_policy_and_table_order():
    local = CodeTable(name="local", side="district", codes={"B": "1000"}, unknown="pass")
    state = CodeTable(name="st", side="state", codes={"1000": "B"}, unknown="error")
    assert codes.translate("district", (local, state), "B") == "1000"
    assert codes.translate("district", (local, state), "1002") == "1002"  # passes through
    assert codes.translate("state", (local, state), "1000") == "B"
    with pytest.raises(UnknownCode):
        codes.translate("state", (local, state), "1002")
    with pytest.raises(ValueError):
        codes.translate("county", (local,), "B")
    assert dict(local.codes) == {"B": "1000"}
    with pytest.raises(TypeError):
        local.codes["X"] = "Y"  # read-only


def test_local_race_codes_from_othercodelist_required_and_rejected(tmp_path, schools):
    """A district whose SIS keeps its own letters in OtherCode[@Codeset="Local"]."""
    (tmp_path / "m.toml").write_text(textwrap.dedent(f"""
        [mapping]
        name = "district-local-race"

        [[field]]
        target = "Demographics/RaceList/Race/Code"
        object = "StudentPersonal"
        path = 'Demographics/RaceList/Race/OtherCodeList/OtherCode[@Codeset="Local"]'
        required = true
        codes = ["local_race", "ohio_ethnicity"]

        [[field]]
        target = 'Name[@Type="04"]/LastName'
        object = "StudentPersonal"
        path = 'Name[@Type="04"]/LastName'
        required = true

        [codes.local_race]
        side = "district"
        unknown = "error"
        file = "{mapping.MAPPINGS_DIR / 'codes' / 'local_race.csv'}"

        [codes.ohio_ethnicity]
        side = "state"
        unknown = "error"
        map = {{ "1000" = "B" }}
    """))
    m = mapping.load(tmp_path / "m.toml")
    got = collect(record(), schools, m, enrollment=enrollment())
    assert got.fields["Demographics/RaceList/Race/Code"] == "1000"  # B → 1000, state table untouched
    sp = personal(demographics=Demographics(
        races=(Race(code="1002", other_codes=(OtherCode(codeset="Local", value="Z"),)),)))
    got = collect(record(sp), schools, m, enrollment=enrollment())
    assert got.invalid == {"Demographics/RaceList/Race/Code": "code 'Z' is not in code table 'local_race'"}
    assert got.missing == [] and not got.complete  # required and invalid: not complete
    assert not mapping.has_required_fields(record(sp), schools, m, enrollment=enrollment())
