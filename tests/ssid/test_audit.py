"""The audit trail: one row per change with old and new values, written atomically, append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from ssid import maintenance as m
from ssid.audit import Actor
from ssid.db.schema import audit_t
from ssid.store import Refused

from .conftest import AMARA, create
from .test_maintenance import GOOD_REASON, _do

SEED_FIELDS = {"at", "old_values", "new_values", "batch_job_id", "user_id", "user_district", "change_type", "via_slf"}


async def test_every_change_has_exactly_one_audit_row_with_old_and_new_values(store, users):
    a = await create(store)
    b = await create(store, {**AMARA, "LegalFirstName": "Adaeze"}, forced_new=True)
    await _do(store, m.modify, b.student_id, {"NativeLanguage": "IBO"}, users["ann"])
    await _do(store, m.deactivate, b.student_id, a.student_id, GOOD_REASON, users["ann"])
    req = await _do(store, m.request_reactivation, b.student_id, "Adaeze is Amara's twin, not a duplicate",
                    users["ann"])
    await _do(store, m.approve_reactivation, req.id, users["sam"], "checked")
    async with store.write() as conn:
        await store.add_alias(conn, a.student_id, {**AMARA, "LegalFirstName": "Amarah"},
                              Actor("slf-poller", "043802", via_slf=True), source="slf")
    rows = await store.audit(b.student_id)
    assert [r.change_type for r in rows] == ["CREATE", "MODIFY", "DEACTIVATE", "REACTIVATION_REQUEST", "REACTIVATE"]
    create_row, modify_row, deactivate_row, _, reactivate_row = rows
    assert create_row.old_values is None and create_row.new_values["LegalFirstName"] == "Adaeze"
    assert create_row.forced_new
    assert modify_row.old_values == {"NativeLanguage": "ENG"} and modify_row.new_values == {"NativeLanguage": "IBO"}
    assert deactivate_row.old_values == {"status": "active"}
    assert reactivate_row.new_values == {"status": "active"} and reactivate_row.user_id == "sam"
    [alias_row] = [r for r in await store.audit(a.student_id) if r.change_type == "ALIAS"]
    assert alias_row.via_slf and alias_row.user_id == "slf-poller" and alias_row.new_values["LegalFirstName"] == "Amarah"
    for r in await store.audit():
        assert SEED_FIELDS <= set(vars(r)) and r.at > 0 and r.change_type
    assert len({r.id for r in await store.audit()}) == len(await store.audit())


async def test_a_refused_change_leaves_no_audit_row_and_no_change(store, users):
    a = await create(store)
    before = len(await store.audit())
    with pytest.raises(Refused):
        await _do(store, m.deactivate, a.student_id, "", GOOD_REASON, users["ann"])
    with pytest.raises(ZeroDivisionError):  # a failure after the writes rolls all of them back
        async with store.write() as conn:
            await m.modify(store, conn, a.student_id, {"LegalLastName": "Changed"}, users["ann"])
            1 / 0
    assert len(await store.audit()) == before
    assert (await store.student(a.student_id)).values["LegalLastName"] == "Okafor"


async def test_ssn_is_masked_in_the_audit(store, users):
    s = await create(store, {**AMARA, "SSN": "123-45-6789"})
    [row] = await store.audit(s.student_id)
    assert row.new_values["SSN"] == "*****6789"
    assert (await store.student(s.student_id)).values["SSN"] == "123456789"


@pytest.mark.parametrize("sql", [
    "UPDATE ssid_audit SET user_id = 'someone-else'",
    "DELETE FROM ssid_audit",
    "UPDATE ssid_ids SET kind = 'reserved'",
    "DELETE FROM ssid_ids",
    "DELETE FROM ssid_students",
    "UPDATE ssid_students SET student_id = 'ZZ0000000'",
    "UPDATE ssid_aliases SET source = 'x'",
    "DELETE FROM ssid_aliases",
    "DELETE FROM ssid_deactivations",
    "DELETE FROM ssid_users",
])
async def test_the_database_refuses_to_change_or_delete_history(store, users, sql):
    a = await create(store)
    b = await create(store, {**AMARA, "LegalMiddleName": "G"})
    await _do(store, m.deactivate, b.student_id, a.student_id, GOOD_REASON, users["ann"])
    with pytest.raises(DBAPIError, match="refused|never modified"):
        async with store.write() as conn:
            await conn.execute(text(sql))
    assert len(await store.audit()) >= 8


async def test_the_audit_module_offers_no_way_to_change_rows(store, users):
    import ssid.audit as audit_module

    assert not [n for n in dir(audit_module) if n.startswith(("update", "delete", "remove", "purge"))]
    await create(store)
    with pytest.raises(DBAPIError):
        async with store.write() as conn:
            await conn.execute(update(audit_t).values(new_values={"forged": True}))
    async with store.read() as conn:
        assert all(r.new_values != {"forged": True} for r in (await conn.execute(select(audit_t))).all())


async def test_postgresql_also_refuses_truncate(pg_url, settings):
    from ssid.store import SsidStore

    store = SsidStore.from_url(pg_url, settings)
    await store.migrate()
    try:
        for table in ("ssid_audit", "ssid_students", "ssid_ids"):
            with pytest.raises(DBAPIError, match="refused"):
                async with store.write() as conn:
                    await conn.execute(text(f"TRUNCATE {table} CASCADE"))
    finally:
        await store.close()


async def test_status_changes_of_a_student_remain_possible(store, users):
    """The guards stop history being rewritten, not the normal updates maintenance makes."""
    a = await create(store)
    async with store.write() as conn:
        await conn.execute(text("UPDATE ssid_students SET updated_at = updated_at + 1 WHERE student_id = :s"),
                           {"s": a.student_id})
