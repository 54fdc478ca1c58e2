"""The column mapping: configurable, and a column the SLF table lacks is simply not read."""

from __future__ import annotations

import pytest

from sif_agent.resolver.migrations import migrate as slf_migrate
from ssid.poller import SlfPoller
from ssid.slf import ColumnMap, SlfConfigError, SlfMapping, load_mapping, mapping_from_config

from .conftest import AMARA_ROW, Slf


def test_ohio_defaults_convert_the_birth_date_both_ways():
    m = SlfMapping()
    values = m.values(AMARA_ROW)
    assert values["BirthDate"] == "2017-04-12" and values["LegalFirstName"] == "Amara"
    assert m.candidate_columns({"BirthDate": "2017-04-12", "Gender": "F", "NativeLanguage": "ENG"}) == \
        {"BIRTH_DATE": "20170412", "GENDER_CODE": "F"}  # NATIVE_LANGUAGE is no SLF_POTENTIAL_MATCH column
    assert m.district(AMARA_ROW) == "043802" and m.building(AMARA_ROW) == "012345"
    assert m.district({"DISTRICT_CODE": "044000"}) == "044000"


def test_a_configured_mapping(tmp_path):
    path = tmp_path / "slf.toml"
    path.write_text('[slf]\ngroup = "minimal"\nuser = "ode-slf"\n[slf.columns]\nFIRST = "LegalFirstName"\n'
                    'LAST = "LegalLastName"\nDOB = { attribute = "BirthDate", format = "yyyymmdd" }\n')
    m = load_mapping(path)
    assert (m.group, m.user) == ("minimal", "ode-slf")
    assert m.columns == (ColumnMap("FIRST", "LegalFirstName"), ColumnMap("LAST", "LegalLastName"),
                         ColumnMap("DOB", "BirthDate", "yyyymmdd"))
    assert load_mapping(None) == SlfMapping()
    with pytest.raises(SlfConfigError, match="unknown keys"):
        mapping_from_config({"colums": {}})
    with pytest.raises(SlfConfigError, match="format"):
        mapping_from_config({"columns": {"X": {"attribute": "BirthDate", "format": "ddmmyyyy"}}})


async def test_columns_the_resolver_did_not_configure_are_not_read(tmp_path, store):
    slf = Slf(f"sqlite+aiosqlite:///{tmp_path}/bare-slf.db", ())
    await slf_migrate(slf.engine, ())  # only the seed's columns: no BIRTHPLACE_CITY, NATIVE_LANGUAGE...
    seed_only = {k: v for k, v in AMARA_ROW.items() if k.startswith(("LEGAL_", "BIRTH_DATE", "GENDER", "ETHNICITY",
                                                                      "HOME_"))}
    txn = await slf.request(seed_only)
    strict = SlfPoller(store, slf.url)
    minimal = SlfPoller(store, slf.url, mapping=SlfMapping(group="minimal"))
    try:
        await strict.poll_once()
        row = await slf.row(txn)
        assert row["N_SLF_STATUS"] == 10
        assert "BIRTHPLACE_CITY" in (await slf.errors(txn))[0]
        txn2 = await slf.request(seed_only)
        await minimal.poll_once()
        assert (await slf.row(txn2))["N_SLF_STATUS"] == 4
    finally:
        await strict.close()
        await minimal.close()
        await slf.engine.dispose()


async def test_a_release_row_is_answered_with_the_active_id(slf, store, poller):
    from ssid.audit import Actor

    from .conftest import AMARA
    async with store.write() as conn:
        sid = (await store.create_student(conn, AMARA, Actor("seed"))).student_id
    ok = await slf.request({**AMARA_ROW, "STATE_ID": sid, "SLF_REQUEST_TYPE": "Release"})
    bad = await slf.request({**AMARA_ROW, "STATE_ID": "ZZ9999999", "SLF_REQUEST_TYPE": "Release"})
    await poller.poll_once()
    assert ((await slf.row(ok))["N_SLF_STATUS"], (await slf.row(ok))["STATE_ID"]) == (3, sid)
    assert (await slf.row(bad))["N_SLF_STATUS"] == 10
