"""Mapping files: the shipped ones load; malformed ones are refused naming file, key and line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from sif_agent.locator import mapping
from sif_agent.locator.mapping import MappingError

SEED_REQUIRED = {  # seed 3, "Required Data Elements" → StudentLocator paths
    "Admission Reason": 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]',
    "Native Language": "Demographics/LanguageList/Language/Code",
    "Birthplace City": "Demographics/PlaceOfBirth",
    "First Name": 'Name[@Type="04"]/FirstName',
    "Last Name": 'Name[@Type="04"]/LastName',
    "Middle Name": 'Name[@Type="04"]/MiddleName',
    "Ethnicity Code": "Demographics/RaceList/Race/Code",
    "Date of Birth": "Demographics/BirthDate",
    "Gender": "Demographics/Gender",
}
OHIO_OPTIONAL = {
    "IRN_CurrentBuilding": 'RequestingAgencyId[@Type="School"]',
    "IRN_CurrentDistrict": 'RequestingAgencyId[@Type="LEA"]',
}


def test_ohio_collects_exactly_the_seed_elements(ohio):
    assert set(ohio.targets) == set(SEED_REQUIRED.values()) | set(OHIO_OPTIONAL.values())
    assert len(ohio.fields) == 11
    assert set(ohio.required) == set(SEED_REQUIRED.values())
    assert {s.object for f in ohio.fields for s in f.sources if f.required} == {"StudentPersonal"}
    assert ohio.settings == ("district_irn",)


def test_default_mapping_loads(default):
    assert default.name == "default"
    assert "EffectiveDate" in default.targets
    assert default.tables["grade_level"].side == "district"


def test_every_shipped_mapping_loads():
    for path in sorted(mapping.MAPPINGS_DIR.glob("*.toml")):
        assert mapping.load(path).fields


GOOD_FIELD = """
[mapping]
name = "t"

[[field]]
target = "LocalId"
object = "StudentPersonal"
path = "LocalId"
"""


def write(tmp_path: Path, body: str, name: str = "m.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body), encoding="utf-8")
    return p


def refused(tmp_path: Path, body: str) -> str:
    p = write(tmp_path, body)
    with pytest.raises(MappingError) as e:
        mapping.load(p)
    msg = str(e.value)
    assert msg.startswith(str(p)), msg
    return msg


def line_of(msg: str) -> int:
    m = re.search(r"line (\d+)", msg)
    assert m, msg
    return int(m.group(1))


def test_malformed_source_path_names_file_line_and_key(tmp_path):
    msg = refused(tmp_path, GOOD_FIELD + """
[[field]]
target = 'Name[@Type="04"]/LastName'
object = "StudentPersonal"
path = 'Name[@Type="04"/LastName'
""")
    assert "field[1]" in msg and "Name[@Type=\"04\"]/LastName" in msg and ".path" in msg
    assert line_of(msg) == 13


def test_malformed_target_path(tmp_path):
    msg = refused(tmp_path, GOOD_FIELD + """
[[field]]
target = "Demographics//BirthDate"
object = "StudentPersonal"
path = "Demographics/BirthDate"
""")
    assert "field[1]" in msg and ".target" in msg and line_of(msg) == 11


@pytest.mark.parametrize("body,expected", [
    ('target = "Demographics/Shoesize"\nobject = "StudentPersonal"\npath = "LocalId"',
     "not an element or attribute the StudentLocator object carries"),
    ('target = "StateProvinceId"\nobject = "StudentPersonal"\npath = "StateProvinceId"',
     "set by the locator or the state"),
    ('target = "@IdStatus"\nobject = "StudentPersonal"\npath = "LocalId"', "set by the locator or the state"),
    ('target = "LocalId"\nobject = "StudentPersonal"\npath = "LocalId"', "target mapped twice"),
    ('target = "SSN"\nobject = "LEAInfo"\npath = "LocalId"', "object must be one of"),
    ('target = "SSN"\nobject = "StudentPersonal"', "path (a SIF element path inside StudentPersonal) is required"),
    ('target = "SSN"\nobject = "StudentPersonal"\npath = "LocalId"\nrequird = true', "unknown key(s) ['requird']"),
    ('target = "SSN"\nobject = "StudentPersonal"\npath = "LocalId"\nrequired = "yes"', "required must be true or false"),
    ('target = "SSN"\nobject = "StudentPersonal"\npath = "LocalId"\ncodes = ["nope"]',
     "code table 'nope' is not defined"),
    ('target = "SSN"\nsetting = "district irn"', "setting must be a name"),
    ('target = "SSN"\nsources = []', "sources must be a non-empty list"),
    ('target = "SSN"\nsources = [{ setting = "x", path = "LocalId" }]', "either a setting or an object path"),
])
def test_bad_fields_are_refused(tmp_path, body, expected):
    msg = refused(tmp_path, GOOD_FIELD + "\n[[field]]\n" + body + "\n")
    assert expected in msg
    assert "field[1]" in msg


def test_not_toml(tmp_path):
    msg = refused(tmp_path, '[mapping]\nname = "t"\n[[field]\n')
    assert "not valid TOML" in msg and "line 3" in msg


def test_no_fields_and_no_name(tmp_path):
    assert "at least one [[field]]" in refused(tmp_path, '[mapping]\nname = "t"\n')
    assert "[mapping] needs name" in refused(tmp_path, '[[field]]\ntarget = "LocalId"\n')
    assert "unknown section(s) ['feild']" in refused(tmp_path, GOOD_FIELD + '[[feild]]\ntarget = "x"\n')


@pytest.mark.parametrize("table,expected", [
    ('side = "both"\nmap = { A = "B" }', "side must be one of"),
    ('side = "state"\nunknown = "drop"\nmap = { A = "B" }', "unknown must be one of"),
    ('unknown = "pass"\nmap = { A = "B" }', "'side' is required"),
    ('side = "state"', "no codes"),
    ('side = "state"\nmap = { A = 1 }', "'map' must be a table of strings"),
    ('side = "state"\nfile = "missing.csv"', "cannot read"),
    ('side = "state"\nfile = "noheader.csv"', "must start with a 'from,to' header"),
    ('side = "state"\nfile = "dup.csv"', "code 'A' listed twice"),
    ('side = "state"\nfile = "ok.csv"\nmap = { A = "C" }', "in both 'file' and 'map'"),
    ('side = "state"\ncolumns = 2\nmap = { A = "B" }', "unknown key(s) ['columns']"),
])
def test_bad_code_tables_are_refused(tmp_path, table, expected):
    (tmp_path / "noheader.csv").write_text("A,B\n")
    (tmp_path / "dup.csv").write_text("from,to\nA,B\nA,C\n")
    (tmp_path / "ok.csv").write_text("# comment\nfrom,to\n\nA,B\n")
    msg = refused(tmp_path, GOOD_FIELD + "\n[codes.race]\n" + table + "\n")
    assert expected in msg and "[codes.race]" in msg


def test_missing_file(tmp_path):
    with pytest.raises(MappingError, match="cannot read mapping file"):
        mapping.load(tmp_path / "absent.toml")
    with pytest.raises(MappingError, match="bad mapping name"):
        mapping.load_named("../etc/passwd")
