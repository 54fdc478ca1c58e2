"""Both query forms read into the same SLF column values; what cannot be read or stored."""

from __future__ import annotations

import pytest

from messages import (
    Condition, ConditionGroup, Conditions, ExtendedQuery, Header, Query, Request, SIFError, XmlObject, build, parse,
)
from messages.objects import Name
from sif_agent.codetables import CodeTable
from sif_agent.resolver import inbound
from sif_agent.resolver.config import from_mapping
from sif_agent.sifpath import PathError, first, parse_path, put
from sif_agent.resolver.tables import CORE_ATTRIBUTES, AttributeColumn

from .conftest import TXN, request

EXTRA = (AttributeColumn("BIRTHPLACE_CITY", "Demographics/PlaceOfBirth", 60),
         AttributeColumn("ADMISSION_REASON", 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]', 4),
         AttributeColumn("NATIVE_LANGUAGE", "Demographics/LanguageList/Language/Code", 3))
COLUMNS = CORE_ATTRIBUTES + EXTRA

EXPECTED_PARMS = {
    "SIF_REFID": None, "STATE_ID": None, "LOCAL_ID": "100234", "HOME_SCHOOL_CODE": "012345",
    "LEGAL_FIRST_NAME": "Amara", "LEGAL_LAST_NAME": "Okafor", "LEGAL_MIDDLE_NAME": "Grace", "ETHNICITY_CODE": "1000",
    "GENDER_CODE": "F", "BIRTH_DATE": "20170412", "GRADE_LEVEL": "03",
    "BIRTHPLACE_CITY": "Columbus", "ADMISSION_REASON": "1", "NATIVE_LANGUAGE": "eng",
}
EXPECTED_BATCH = {"SCHOOL_YR": "2027", "DISTRICT_CODE": "043802", "SCHOOL_CODE": "012345"}


def roundtrip(req: Request) -> Request:
    """Through the wire format and back, as the resolver receives it."""
    return parse(build(req))


@pytest.mark.parametrize("form", ["example", "conditions"])
def test_both_forms_give_the_same_values(form):
    inc = inbound.read(roundtrip(request(form=form)), COLUMNS)
    assert inc.id_status.value == "Request" and inc.transaction_id == TXN
    assert dict(inc.parms) == EXPECTED_PARMS
    assert dict(inc.batch) == EXPECTED_BATCH
    assert inc.problems == () and inc.request_type == "Request"


def test_conditions_with_single_quotes_and_group_types():
    conds = (Condition(element="@IdStatus", value="Resolve"), Condition(element="@TransactionId", value=TXN),
             Condition(element="StateProvinceId", value="AB1234567"),
             Condition(element="Name[@Type='04']/LastName", value="Okafor"),
             Condition(element="Name[@Type='04']/FirstName", value="Amara"))
    q = Query(object_name="StudentLocator", condition_group=ConditionGroup(
        type="And", conditions=(Conditions(type="And", conditions=conds[:3]), Conditions(type="And",
                                                                                          conditions=conds[3:]))))
    req = Request(header=Header.new("X"), version="2.1", versions=("2.1",), max_buffer_size=100000, query=q)
    inc = inbound.read(roundtrip(req), COLUMNS)
    assert inc.id_status.value == "Resolve" and inc.state_province_id == "AB1234567"
    assert inc.parms["LEGAL_LAST_NAME"] == "Okafor" and inc.parms["LEGAL_FIRST_NAME"] == "Amara"


def test_release_is_its_own_row_family():
    inc = inbound.read(request(id_status="Release"), COLUMNS)
    assert inc.request_type == "Release"


def _refused(req: Request, match: str, code=9):
    with pytest.raises(SIFError) as info:
        inbound.read(req, COLUMNS)
    assert (info.value.category, info.value.code) == (8, code)
    assert match in str(info.value)


def _conds(*pairs, operator="EQ", group="None", inner="And"):
    return Request(header=Header.new("X"), version="2.1", versions=("2.1",), max_buffer_size=100000,
                   query=Query(object_name="StudentLocator", condition_group=ConditionGroup(type=group, conditions=(
                       Conditions(type=inner, conditions=tuple(Condition(element=e, value=v, operator=operator)
                                                               for e, v in pairs)),))))


def test_unreadable_requests_are_refused_with_8_9():
    _refused(_conds(("@IdStatus", "Request"), ("@TransactionId", TXN), ("LocalId", "1"), operator="NE"), "EQ only")
    _refused(_conds(("@IdStatus", "Request"), ("@TransactionId", TXN), inner="Or"), "joined by And")
    _refused(_conds(("@IdStatus", "Valid"), ("@TransactionId", TXN)), "is an answer")
    _refused(_conds(("@IdStatus", "Matched"), ("@TransactionId", TXN)), "not a SIF 2.x value")
    _refused(_conds(("@IdStatus", "Request"), ("@TransactionId", TXN.lower())), "32 uppercase")
    _refused(_conds(("@IdStatus", "Request"),), "32 uppercase")
    _refused(_conds(("@IdStatus", "Request"), ("@TransactionId", TXN), ("Name[@Type=04]/LastName", "x")),
             "malformed path")
    no_query = Request(header=Header.new("X"), version="2.1", versions=("2.1",), max_buffer_size=100000,
                       query=Query(object_name="StudentLocator"))
    _refused(no_query, "SIF_Example or SIF_ConditionGroup")
    other = Request(header=Header.new("X"), version="2.1", versions=("2.1",), max_buffer_size=100000,
                    query=Query(object_name="StudentPersonal"))
    _refused(other, "StudentLocator requests, not StudentPersonal", code=3)


def test_extended_query_is_8_15():
    from lxml import etree

    from messages import NS

    xq = etree.Element(f"{{{NS}}}SIF_ExtendedQuery")
    etree.SubElement(etree.SubElement(xq, f"{{{NS}}}SIF_From"), f"{{{NS}}}x").getparent().set("ObjectName",
                                                                                            "StudentLocator")
    req = Request(header=Header.new("X"), version="2.1", versions=("2.1",), max_buffer_size=100000,
                  query=ExtendedQuery(xml=XmlObject(xq)))
    _refused(req, "SIF_ExtendedQuery", code=15)


def test_values_that_cannot_be_stored_are_problems_not_rows():
    long_name = Name(type="04", last_name="O" * 61, first_name="Amara")
    inc = inbound.read(request(names=(long_name,), local_id="1" * 21), COLUMNS)
    assert inc.parms["LEGAL_LAST_NAME"] is None and inc.parms["LOCAL_ID"] is None
    assert any("61 characters, the state stores at most 60 (LEGAL_LAST_NAME)" in p for p in inc.problems)
    assert any("LocalId" in p and "LOCAL_ID" in p for p in inc.problems)
    from messages.objects import Demographics

    bad = inbound.read(request(demographics=Demographics(birth_date="12/04/2017")), COLUMNS)
    assert bad.problems == ("Demographics/BirthDate: '12/04/2017' is not a date (YYYY-MM-DD)",)


def test_state_side_code_tables():
    table = CodeTable("ohio_ethnicity", "state", {"1000": "B"}, unknown="error")
    cols = tuple(c if c.name != "ETHNICITY_CODE" else AttributeColumn(c.name, c.path, c.length,
                                                                     codes=("ohio_ethnicity",))
                 for c in CORE_ATTRIBUTES)
    inc = inbound.read(request(), cols, tables={"ohio_ethnicity": table})
    assert inc.parms["ETHNICITY_CODE"] == "B"
    from messages.objects import Demographics, Race

    other = inbound.read(request(demographics=Demographics(races=(Race(code="1002"),))), cols,
                         tables={"ohio_ethnicity": table})
    assert other.parms["ETHNICITY_CODE"] is None
    assert other.problems == ("Demographics/RaceList/Race/Code: code '1002' is not in code table 'ohio_ethnicity'",)


def test_school_year_and_batch_num():
    inc = inbound.read(request(effective_date="2027-03-01"), COLUMNS, batch_num_path=None)
    assert inc.batch["SCHOOL_YR"] == "2027" and inc.batch_num is None
    from messages.objects import ExtendedElement

    inc = inbound.read(request(effective_date="2026-07-01",
                               extended_elements=(ExtendedElement(name="BatchNum", value="B-17"),)),
                       COLUMNS, batch_num_path='SIF_ExtendedElements/SIF_ExtendedElement[@Name="BatchNum"]',
                       school_year_start_month=8)
    assert inc.batch["SCHOOL_YR"] == "2026" and inc.batch_num == "B-17"


def test_example_config_columns_read_ohio_requests():
    settings = from_mapping({
        "agent": {"source_id": "R"}, "zones": [{"id": "s", "url": "https://s.invalid/z", "provide": ["StudentLocator"]}],
        "resolver": {"columns": [{"name": "ETHNICITY_CODE", "codes": ["eth"]},
                                 {"name": "BIRTHPLACE_CITY", "path": "Demographics/PlaceOfBirth", "length": 60}],
                     "codes": {"eth": {"side": "state", "map": {"1000": "B"}}}}})
    inc = inbound.read(request(), settings.columns, tables=settings.code_tables)
    assert inc.parms["ETHNICITY_CODE"] == "B" and inc.parms["BIRTHPLACE_CITY"] == "Columbus"


def test_paths():
    from lxml import etree

    from messages import NS

    root = etree.Element(f"{{{NS}}}StudentLocator")
    put(root, 'Name[@Type="04"]/LastName', "Okafor")
    put(root, "Name[@Type='04']/FirstName", "Amara")
    put(root, 'Contact[Relationship/Code="1735"]/Name[@Type="04"]/FirstName', "Ngozi")
    put(root, "@IdStatus", "Request")
    assert first(root, 'Name[@Type="04"]/FirstName') == "Amara"
    assert len(root.findall(f"{{{NS}}}Name")) == 1
    assert first(root, 'Contact[Relationship/Code="1735"]/Name[@Type="04"]/FirstName') == "Ngozi"
    assert first(root, "@IdStatus") == "Request" and first(root, "LocalId") is None
    for bad in ("", "Name[", "Name/", "@A/B", "Name[@Type=04]", "1abc"):
        with pytest.raises(PathError):
            parse_path(bad)
