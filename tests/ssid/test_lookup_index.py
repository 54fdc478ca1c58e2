"""The lookup index holds active students only: deactivation takes a student out, reactivation puts it back."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from ssid import maintenance as m
from ssid.db.candidates import match
from ssid.db.engine import insert_ignore
from ssid.db.lookup_index import version_rows
from ssid.db.schema import block_keys_t, version_t
from ssid.matching import Matcher, Outcome
from ssid.records import match_record

from .conftest import AMARA, create

REASON = "same student as the surviving ID: same name, birth date and birth city, entered twice"
TWIN = {**AMARA, "LegalFirstName": "Adaeze"}


async def _do(store, fn, *args, **kw):
    async with store.write() as conn:
        return await fn(store, conn, *args, **kw)


async def indexed_rows(store, student_id: str) -> tuple[int, int]:
    """(rows of this student in the lookup index, rows its stored versions have)."""
    async with store.read() as conn:
        expected = await version_rows(conn, [student_id])
        k = block_keys_t.c
        found = (await conn.execute(select(func.count()).select_from(block_keys_t).where(
            k.key.in_(sorted({r["key"] for r in expected})), k.student_id == student_id))).scalar()
    return found, len(expected)


async def lookup(store, values):
    async with store.read() as conn:
        return await match(conn, Matcher(), match_record(values))


async def test_deactivation_takes_the_student_out_and_reactivation_puts_every_version_back(store, users):
    amara = await create(store)
    twin = await create(store, TWIN)
    await _do(store, m.modify, twin.student_id, {"LegalLastName": "Okafor-Bello"}, users["ann"])  # a second version
    before = await indexed_rows(store, twin.student_id)
    assert before[0] == before[1] > 0
    assert (await lookup(store, TWIN)).student_id == twin.student_id

    await _do(store, m.deactivate, twin.student_id, amara.student_id, REASON, users["ann"])
    assert await indexed_rows(store, twin.student_id) == (0, before[1])
    d = await lookup(store, TWIN)
    assert twin.student_id not in {c.student_id for c in d.explanation.candidates}
    kept, all_rows = await indexed_rows(store, amara.student_id)
    assert kept == all_rows > 0  # the surviving student keeps all its rows

    req = await _do(store, m.request_reactivation, twin.student_id, "Adaeze is Amara's twin sister, not a duplicate",
                    users["ann"])
    await _do(store, m.approve_reactivation, req.id, users["sam"], "confirmed with the school")
    assert await indexed_rows(store, twin.student_id) == before
    d = await lookup(store, TWIN)
    assert d.outcome == Outcome.MATCH and d.student_id == twin.student_id


async def test_a_version_added_to_a_deactivated_student_stays_out_of_the_index(store, users):
    amara = await create(store)
    twin = await create(store, TWIN)
    await _do(store, m.deactivate, twin.student_id, amara.student_id, REASON, users["ann"])
    await _do(store, m.modify, twin.student_id, {"BirthPlaceCity": "Dayton", "LegalMiddleName": "Chioma"},
              users["ann"])
    found, expected = await indexed_rows(store, twin.student_id)
    assert found == 0 and expected > 0
    req = await _do(store, m.request_reactivation, twin.student_id, "Adaeze is Amara's twin sister, not a duplicate",
                    users["ann"])
    await _do(store, m.approve_reactivation, req.id, users["sam"])
    assert await indexed_rows(store, twin.student_id) == (expected, expected)


async def test_migration_10_takes_out_students_deactivated_before_it(store, users):
    """A database from before migration 10 kept deactivated students' rows in the index."""
    amara = await create(store)
    twin = await create(store, TWIN)
    await _do(store, m.deactivate, twin.student_id, amara.student_id, REASON, users["ann"])
    async with store.write() as conn:  # the index as the earlier version left it
        await conn.execute(insert_ignore(conn, block_keys_t), await version_rows(conn, [twin.student_id]))
        await conn.execute(delete(version_t).where(version_t.c.version >= 10))
    found, expected = await indexed_rows(store, twin.student_id)
    assert found == expected > 0
    applied = await store.migrate()
    assert [a.split(":")[0] for a in applied] == ["10", "11"]  # 11 finds its column there already
    assert await indexed_rows(store, twin.student_id) == (0, expected)
    assert (await indexed_rows(store, amara.student_id))[0] > 0
    d = await lookup(store, TWIN)
    assert twin.student_id not in {c.student_id for c in d.explanation.candidates}


async def test_rows_of_a_deactivated_student_are_never_added(store, users):
    """``add_rows`` (every writer's way into the index) re-checks each student's status under a lock."""
    from ssid.db.lookup_index import add_rows

    amara = await create(store)
    twin = await create(store, TWIN)
    await _do(store, m.deactivate, twin.student_id, amara.student_id, REASON, users["ann"])
    async with store.write() as conn:
        rows = await version_rows(conn, [amara.student_id, twin.student_id])
        k = block_keys_t.c
        await conn.execute(delete(block_keys_t).where(k.student_id == amara.student_id))
        added = await add_rows(conn, rows)
    assert added == len([r for r in rows if r["student_id"] == amara.student_id]) > 0
    assert (await indexed_rows(store, amara.student_id))[0] == added
    assert (await indexed_rows(store, twin.student_id))[0] == 0
