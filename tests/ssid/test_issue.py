"""Issuing new IDs against the database: never reused, unique by constraint, one per request."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ssid.audit import Actor
from ssid.db.schema import ids_t, students_t
from ssid.ids import CALPADS
from ssid.store import InvalidRecord, Refused

from .conftest import AMARA, create
from .test_ids import replay

LEGACY, RESERVED, RETIRED, DEACTIVATED = "AA0000001", "AA0000002", "AA0000003", "AA0000004"


async def test_a_new_id_has_the_ohio_format_and_everything_is_stored(store, users):
    s = await create(store)
    assert re.fullmatch(r"[A-Z]{2}[0-9]{7}", s.student_id)
    assert s.active and s.values == AMARA and s.origin == "issued" and s.created_by == "ann"
    assert s.district_irn == "043802"
    assert await store.id_use(s.student_id) == "issued"
    assert [a.version for a in await store.aliases(s.student_id)] == [0]
    [row] = await store.audit(s.student_id)
    assert row.change_type == "CREATE" and row.new_values == AMARA and row.old_values is None
    assert row.user_id == "ann" and row.user_district == "043802" and not row.via_slf and not row.forced_new


async def test_new_ids_never_equal_any_id_ever_used(make_store, users):
    """Legacy, reserved, retired and deactivated IDs are all skipped by the issuer."""
    store = await make_store()
    await create_legacy(store, LEGACY)
    async with store.write() as conn:
        await store.reserve_ids(conn, [RESERVED], "reserved", Actor("cli"))
        await store.reserve_ids(conn, [RETIRED], "retired", Actor("cli"))
    store.issuer.randbelow = replay(DEACTIVATED)
    await create(store, {**AMARA, "LegalFirstName": "Zed"})
    from ssid import maintenance

    async with store.write() as conn:
        await maintenance.deactivate(store, conn, DEACTIVATED, LEGACY, "same child as the legacy record, entered "
                                     "twice by the building", users["ann"])
    store.issuer.randbelow = replay(LEGACY, RESERVED, RETIRED, DEACTIVATED, "QQ7654321")
    collisions = store.issuer.collisions
    s = await create(store)
    assert s.student_id == "QQ7654321"
    assert store.issuer.collisions - collisions == 4
    assert (await store.student(DEACTIVATED)).status == "deactivated"


async def create_legacy(store, sid, values=None):
    """A legacy student loaded the way the importer loads it (through the CSV path)."""
    from ssid.legacy import LegacyImporter

    import tempfile
    from pathlib import Path

    from ssid.csvlayout import header

    values = values or {**AMARA, "LegalFirstName": "Legacy"}
    cols = header(store.catalogue)
    row = {"UserID": "old", "DateTimeCreated": "02/13/2002 04:18:31", "Building_IRN": "000001",
           "District_IRN": "000002", "StudentID": sid, **values, "UserDefined": ""}
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "legacy.csv"
        f.write_text(",".join(cols) + "\n" + ",".join(row.get(c, "") for c in cols) + "\n")
        report = await LegacyImporter(store).run(f)
    assert report.loaded == 1, report.problems


async def test_the_database_refuses_a_second_row_for_an_id(store, users):
    s = await create(store)
    with pytest.raises(IntegrityError):
        async with store.write() as conn:
            await conn.execute(insert(ids_t).values(student_id=s.student_id, kind="issued", at=0.0))
    with pytest.raises(IntegrityError):
        async with store.write() as conn:
            await conn.execute(insert(students_t).values(
                student_id=s.student_id, status="active", attributes={}, identity_key="x", created_at=0.0,
                updated_at=0.0, origin="issued", row_version=1))
    with pytest.raises(IntegrityError):  # a student needs its ID in the registry first
        async with store.write() as conn:
            await conn.execute(insert(students_t).values(
                student_id="ZZ0000000", status="active", attributes={}, identity_key="x", created_at=0.0,
                updated_at=0.0, origin="issued", row_version=1))


async def test_a_retried_request_gets_the_first_id_never_a_second(store, users):
    first = await create(store, request_key="TXN-5A4B3C2D")
    again = await create(store, request_key="TXN-5A4B3C2D")
    assert again.student_id == first.student_id
    async with store.read() as conn:
        assert (await conn.execute(select(students_t.c.student_id))).scalars().all() == [first.student_id]
    assert len(await store.audit(first.student_id)) == 1


async def test_an_exact_duplicate_of_an_active_student_is_refused_naming_it(store, users):
    s = await create(store)
    same_person = {**AMARA, "LegalFirstName": "AMARA", "LegalLastName": "okafor ", "BirthDate": "04/12/2017"}
    with pytest.raises(Refused, match=f"exists: {s.student_id}; use that ID"):
        await create(store, same_person)
    twin = await create(store, {**AMARA, "LegalFirstName": "Adaeze"})  # a twin: another first name
    assert twin.student_id != s.student_id


async def test_invalid_values_issue_nothing_and_list_every_problem(store, users):
    with pytest.raises(InvalidRecord) as err:
        await create(store, {"LegalFirstName": "Amara", "BirthDate": "2017-13-01"})
    fields = {p.field for p in err.value.problems}
    assert {"LegalLastName", "BirthDate", "Gender", "BirthPlaceCity"} <= fields
    assert await store.counts() == {"active": 0, "deactivated": 0}


async def test_a_minimal_group_user_needs_only_names_and_birth_date(store, users):
    three = {"LegalFirstName": "Amara", "LegalLastName": "Okafor", "BirthDate": "2017-04-12"}
    s = await create(store, three, user="min", group="minimal")
    assert s.values == three


async def test_forcing_new_ids_is_tracked_and_can_be_limited(store, users):
    await create(store, {**AMARA, "LegalFirstName": "One"}, forced_new=True)
    async with store.write() as conn:
        await store.set_user_status(conn, "ann", "limited", forced_new_limit=2, reason="forced 1 new ID past "
                                    "offered matches", by=Actor("sam"))
    await create(store, {**AMARA, "LegalFirstName": "Two"}, forced_new=True)
    with pytest.raises(Refused, match="may force at most 2 new IDs past offered matches per day and has forced 2"):
        await create(store, {**AMARA, "LegalFirstName": "Three"}, forced_new=True)
    await create(store, {**AMARA, "LegalFirstName": "Four"})  # an ordinary new ID is still fine
    assert await store.forced_new_metrics() == [("ann", "043802", 2)]
    async with store.write() as conn:
        await store.set_user_status(conn, "ann", "suspended", reason="kept forcing new IDs")
    with pytest.raises(Refused, match="suspended"):
        await create(store, {**AMARA, "LegalFirstName": "Five"})
    forced = [r for r in await store.audit() if r.forced_new]
    assert len(forced) == 2 and {r.change_type for r in forced} == {"CREATE"}
    users_rows = [r for r in await store.audit(change_type="USER") if r.detail["user_id"] == "ann"]
    assert [r.new_values.get("status") for r in users_rows[1:]] == ["limited", "suspended"]


async def test_the_calpads_profile_issues_ten_digit_ids(make_store, settings, users):
    from dataclasses import replace

    store = await make_store(settings=replace(settings, id_profile=CALPADS))
    async with store.write() as conn:
        await store.add_user(conn, "cal", roles=["district_admin"])
    s = await create(store, user="cal")
    assert re.fullmatch(r"[1-9][0-9]{9}", s.student_id)


async def test_ids_come_from_the_random_source_alone(store, users):
    """Whoever the student is, the ID is exactly what the random source drew: attributes play no part."""
    for values, drawn in (({**AMARA}, "KM3141592"),
                          ({**AMARA, "LegalFirstName": "Zebulon", "BirthDate": "2001-01-01", "Gender": "M"},
                           "KM3141593")):
        store.issuer.randbelow = replay(drawn)
        assert (await create(store, values)).student_id == drawn


async def test_reserving_ids_reports_which_were_already_used(store, users):
    s = await create(store)
    async with store.write() as conn:
        added, already = await store.reserve_ids(conn, ["BB1234567", s.student_id, "OH-OLD-1"], "retired",
                                                 Actor("cli"), "district 9 spreadsheet")
    assert added == ["BB1234567", "OH-OLD-1"] and already == [s.student_id]
    assert await store.id_use("BB1234567") == "retired"
    with pytest.raises(Refused, match="only letters, digits"):
        async with store.write() as conn:
            await store.reserve_ids(conn, ["BAD ID"], "reserved", Actor("cli"))
