"""Every maintenance rule: modify without duplicates, deactivate, reactivation approval, nothing deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ssid import maintenance as m
from ssid.config import MaintenancePolicy
from ssid.db.schema import NO_DELETE, metadata
from ssid.store import InvalidRecord, NotFound, Refused

from .conftest import AMARA, create

GOOD_REASON = "same student as the surviving ID: same name, birth date and birth city, entered twice"


async def _do(store, fn, *args, **kw):
    async with store.write() as conn:
        return await fn(store, conn, *args, **kw)


async def row_counts(store) -> dict[str, int]:
    async with store.read() as conn:
        return {t: (await conn.execute(select(func.count()).select_from(metadata.tables[t]))).scalar()
                for t in NO_DELETE}


# ---- modify ----

async def test_modify_changes_attributes_and_audits_old_and_new(store, users):
    s = await create(store)
    after = await _do(store, m.modify, s.student_id, {"LegalLastName": "Okafor-Bello", "RaceEthnicity": "M"},
                      users["ann"])
    assert after.values["LegalLastName"] == "Okafor-Bello" and after.values["RaceEthnicity"] == "M"
    assert after.student_id == s.student_id and after.row_version == s.row_version + 1
    row = (await store.audit(s.student_id))[-1]
    assert row.change_type == "MODIFY"
    assert row.old_values == {"LegalLastName": "Okafor", "RaceEthnicity": "B"}
    assert row.new_values == {"LegalLastName": "Okafor-Bello", "RaceEthnicity": "M"}
    assert row.user_id == "ann" and row.user_district == "043802"
    # the old name stays on record as an alias: the student is still found under it
    aliases = await store.aliases(s.student_id)
    assert [a.record["last_name"] for a in aliases] == ["Okafor", "Okafor-Bello"]


async def test_modify_refuses_to_make_a_duplicate_and_names_the_other_id(store, users):
    amara = await create(store)
    twin = await create(store, {**AMARA, "LegalFirstName": "Adaeze"})
    with pytest.raises(Refused, match=f"identical in name, birth date and gender to active student "
                                      f"{amara.student_id}"):
        await _do(store, m.modify, twin.student_id, {"LegalFirstName": "AMARA"}, users["ann"])
    assert (await store.student(twin.student_id)).values["LegalFirstName"] == "Adaeze"
    assert [r.change_type for r in await store.audit(twin.student_id)] == ["CREATE"]


async def test_modify_checks_values_and_lists_every_problem(store, users):
    s = await create(store)
    with pytest.raises(InvalidRecord) as err:
        await _do(store, m.modify, s.student_id, {"BirthDate": "31/12/2017", "Gender": "Q", "LegalFirstName": ""},
                  users["ann"])
    assert {p.field for p in err.value.problems} == {"BirthDate", "Gender", "LegalFirstName"}
    with pytest.raises(InvalidRecord, match="ShoeSize: is not an attribute of the catalogue"):
        await _do(store, m.modify, s.student_id, {"ShoeSize": "9"}, users["ann"])
    with pytest.raises(Refused, match="nothing to change"):
        await _do(store, m.modify, s.student_id, {"LegalLastName": "Okafor"}, users["ann"])


async def test_only_authorised_users_maintain_records(store, users):
    s = await create(store)
    with pytest.raises(Refused, match="'viv' may not modify student records: it needs one of the roles"):
        await _do(store, m.modify, s.student_id, {"LegalLastName": "X"}, users["viv"])
    with pytest.raises(Refused, match="'sue' may not deactivate"):
        await _do(store, m.deactivate, s.student_id, s.student_id, GOOD_REASON, users["sue"])
    async with store.write() as conn:
        await store.set_user_status(conn, "ann", "suspended", reason="test")
    with pytest.raises(Refused, match="suspended"):
        await _do(store, m.modify, s.student_id, {"LegalLastName": "X"}, users["ann"])


async def test_an_id_itself_cannot_be_modified(store, users):
    s = await create(store)
    with pytest.raises(InvalidRecord, match="StudentID: is not an attribute"):
        await _do(store, m.modify, s.student_id, {"StudentID": "ZZ0000000"}, users["ann"])


# ---- deactivate ----

async def test_deactivate_needs_the_surviving_id_and_records_who_where_when(store, users):
    keep = await create(store)
    dup = await create(store, {**AMARA, "LegalMiddleName": "G"})
    d = await _do(store, m.deactivate, dup.student_id, keep.student_id, GOOD_REASON, users["ann"])
    assert (d.student_id, d.surviving_id, d.user_id, d.district_irn) == (dup.student_id, keep.student_id, "ann",
                                                                         "043802")
    [shown] = await store.deactivations(dup.student_id)
    assert shown.reason == GOOD_REASON and shown.at == d.at
    assert (await store.student(dup.student_id)).status == "deactivated"
    assert await store.active_id(dup.student_id) == keep.student_id
    row = (await store.audit(dup.student_id))[-1]
    assert row.change_type == "DEACTIVATE" and row.old_values == {"status": "active"}
    assert row.new_values == {"status": "deactivated", "surviving_id": keep.student_id}
    assert row.detail["reason"] == GOOD_REASON


@pytest.mark.parametrize("surviving, error, fragment", [
    ("", Refused, "name the surviving ID"),
    ("SELF", Refused, "must be another ID"),
    ("ZZ9999999", NotFound, "no surviving student with ID 'ZZ9999999'"),
])
async def test_deactivate_refuses_a_missing_or_wrong_surviving_id(store, users, surviving, error, fragment):
    s = await create(store)
    with pytest.raises(error, match=fragment):
        await _do(store, m.deactivate, s.student_id, s.student_id if surviving == "SELF" else surviving,
                  GOOD_REASON, users["ann"])
    assert (await store.student(s.student_id)).active


async def test_the_surviving_id_must_be_active_and_the_message_names_the_active_one(store, users):
    a = await create(store)
    b = await create(store, {**AMARA, "LegalMiddleName": "G"})
    c = await create(store, {**AMARA, "LegalMiddleName": "Gr"})
    await _do(store, m.deactivate, b.student_id, a.student_id, GOOD_REASON, users["ann"])
    with pytest.raises(Refused, match=f"{b.student_id} is itself deactivated; the active ID for it is "
                                      f"{a.student_id}"):
        await _do(store, m.deactivate, c.student_id, b.student_id, GOOD_REASON, users["ann"])
    with pytest.raises(Refused, match=f"{b.student_id} is already deactivated on .* by ann; its surviving ID is "
                                      f"{a.student_id}"):
        await _do(store, m.deactivate, b.student_id, c.student_id, GOOD_REASON, users["ann"])


@pytest.mark.parametrize("reason", ["", "   ", "duplicate", "Duplicate!", "n/a", "N/A", "test", "dup",
                                    "aaaaaaaaaaaaaaaaaaaa", "wrong id", "see notes", "duplicate record entered"[:12]])
async def test_deactivation_reasons_must_be_meaningful(store, users, reason):
    a = await create(store)
    b = await create(store, {**AMARA, "LegalMiddleName": "G"})
    with pytest.raises(Refused, match="reason"):
        await _do(store, m.deactivate, b.student_id, a.student_id, reason, users["ann"])
    assert (await store.student(b.student_id)).active
    assert [r.change_type for r in await store.audit(b.student_id)] == ["CREATE"]


def test_reason_rules_are_configurable_and_explain_the_fix():
    assert m.reason_problems(GOOD_REASON) == []
    problems = m.reason_problems("dup of AB")
    assert any("at least 15" in p for p in problems) and any("e.g." in p for p in problems)
    assert m.reason_problems("twins mixed up", MaintenancePolicy(min_reason_length=5, min_reason_words=2)) == []
    assert m.reason_problems("typo", MaintenancePolicy(min_reason_length=1, min_reason_words=1,
                                                       placeholder_reasons=frozenset({"typo"})))


# ---- reactivation ----

async def test_reactivation_needs_a_request_and_a_different_approver(store, users):
    a = await create(store)
    b = await create(store, {**AMARA, "LegalFirstName": "Adaeze"})
    await _do(store, m.deactivate, b.student_id, a.student_id, GOOD_REASON, users["ann"])
    req = await _do(store, m.request_reactivation, b.student_id, "not a duplicate: Adaeze is Amara's twin sister",
                    users["ann"])
    assert req.status == "pending" and (await store.student(b.student_id)).status == "deactivated"
    with pytest.raises(Refused, match="already waiting for the state's approval"):
        await _do(store, m.request_reactivation, b.student_id, "asking twice for the same twin sister", users["dan"])
    with pytest.raises(Refused, match="'ann' may not approve reactivations"):
        await _do(store, m.approve_reactivation, req.id, users["ann"])
    async with store.write() as conn:
        await store.add_user(conn, "sal", roles=["state_approver", "district_admin"])
    sal = await store.user("sal")
    rejected = await _do(store, m.reject_reactivation, req.id, users["sue"], "ask again with the school's evidence")
    assert rejected.status == "rejected" and rejected.decided_by == "sue"
    # the requester cannot approve their own request, even holding the approver role
    req2 = await _do(store, m.request_reactivation, b.student_id, "twin sister of Amara, confirmed by the school",
                     sal)
    with pytest.raises(Refused, match="asked for this reactivation and cannot also approve it"):
        await _do(store, m.approve_reactivation, req2.id, sal)
    again = await _do(store, m.approve_reactivation, req2.id, users["sam"], "confirmed with the district")
    assert again.active
    types = [r.change_type for r in await store.audit(b.student_id)]
    assert types == ["CREATE", "DEACTIVATE", "REACTIVATION_REQUEST", "REACTIVATION_REJECT", "REACTIVATION_REQUEST",
                     "REACTIVATE"]
    last = (await store.audit(b.student_id))[-1]
    assert last.user_id == "sam" and last.old_values == {"status": "deactivated"} and last.new_values == {
        "status": "active"}
    with pytest.raises(Refused, match="was already approved by sam"):
        await _do(store, m.approve_reactivation, req2.id, users["sue"])


async def test_reactivation_refuses_to_recreate_a_duplicate(store, users):
    a = await create(store)
    b = await create(store, {**AMARA, "LegalMiddleName": "G"})
    await _do(store, m.deactivate, b.student_id, a.student_id, GOOD_REASON, users["ann"])
    # make the deactivated record identical to the active one, then ask to reactivate it
    await _do(store, m.modify, b.student_id, {"LegalMiddleName": "Grace"}, users["ann"])
    req = await _do(store, m.request_reactivation, b.student_id, "reactivate it please, it was a mistake", users["ann"])
    with pytest.raises(Refused, match=f"identical in name, birth date and gender to active student {a.student_id}"):
        await _do(store, m.approve_reactivation, req.id, users["sam"])
    assert (await store.student(b.student_id)).status == "deactivated"


async def test_only_deactivated_ids_can_be_reactivated(store, users):
    a = await create(store)
    with pytest.raises(Refused, match="is active: there is nothing to reactivate"):
        await _do(store, m.request_reactivation, a.student_id, "please reactivate this active ID now", users["ann"])
    with pytest.raises(NotFound, match="no reactivation request 999"):
        await _do(store, m.approve_reactivation, 999, users["sam"])


# ---- nothing is deleted ----

async def test_maintenance_never_removes_a_row(store, users):
    a = await create(store)
    b = await create(store, {**AMARA, "LegalMiddleName": "G"})
    counts = [await row_counts(store)]
    await _do(store, m.modify, b.student_id, {"BirthPlaceCity": "Dayton"}, users["ann"])
    counts.append(await row_counts(store))
    await _do(store, m.deactivate, b.student_id, a.student_id, GOOD_REASON, users["ann"])
    counts.append(await row_counts(store))
    req = await _do(store, m.request_reactivation, b.student_id, "not a duplicate after all, checked", users["ann"])
    counts.append(await row_counts(store))
    await _do(store, m.approve_reactivation, req.id, users["sam"])
    counts.append(await row_counts(store))
    for before, after in zip(counts, counts[1:]):
        assert all(after[t] >= before[t] for t in before), (before, after)
    assert counts[-1]["ssid_students"] == 2 and counts[-1]["ssid_deactivations"] == 1
