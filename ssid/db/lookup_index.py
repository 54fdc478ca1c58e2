"""The lookup index (``ssid_block_keys``) holds the versions of active students only.

Why: a lookup reads its candidates from this index. Were deactivated students' rows kept in
it, every candidate row would need its student's status checked (one more B-tree search per
row, a fifth of the lookup statement's time at ten million students) so that a deactivated
ID is never offered as a match. Keeping the index to active students answers that once, when
the status changes: deactivation takes a student's rows out, reactivation puts them back. The
rows are derived data (the versions themselves stay in ``ssid_aliases``, never deleted), so
taking them out deletes nothing the RFP keeps.

The rows are found from each version's own keys: the table is clustered by key, so a search
by student would read all of it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..records import block_keys, key_rows, standardized_from_json
from .engine import insert_ignore
from .schema import ACTIVE, aliases_t, block_keys_t, deactivations_t, reactivations_t, students_t


async def version_rows(conn: AsyncConnection, student_ids: list[str]) -> list[dict[str, Any]]:
    """The index rows of every stored version of these students."""
    rows = (await conn.execute(select(aliases_t.c.student_id, aliases_t.c.version, aliases_t.c.std)
                               .where(aliases_t.c.student_id.in_(student_ids)))).all()
    return [r for sid, version, std in rows for r in key_rows(sid, version, block_keys(standardized_from_json(std)))]


async def add_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Index these version rows (``records.key_rows``), those of active students only; the rows added.

    The students are share-locked first (PostgreSQL; a SQLite writer holds the whole database),
    so a deactivation running at the same moment either waits for this transaction and then
    takes these rows out with the rest, or has finished and the student is seen deactivated."""
    ids = sorted({r["student_id"] for r in rows})
    active: set[str] = set()
    s = students_t.c
    for n in range(0, len(ids), 500):
        q = select(s.student_id).where(s.student_id.in_(ids[n:n + 500]), s.status == ACTIVE).with_for_update(read=True)
        active.update((await conn.execute(q)).scalars())
    return await _apply(conn, [r for r in rows if r["student_id"] in active], True)


async def index_students(conn: AsyncConnection, student_ids: list[str], active: bool) -> int:
    """Put every stored version of these students into the index (``active``: reactivation) or
    take them out (deactivation, migration 10); the rows added or removed."""
    done = 0
    for n in range(0, len(student_ids), 500):
        done += await _apply(conn, await version_rows(conn, student_ids[n:n + 500]), active)
    return done


async def _apply(conn: AsyncConnection, rows: list[dict[str, Any]], active: bool) -> int:
    if not rows:
        return 0
    rows.sort(key=lambda r: r["key"])
    if active:
        await conn.execute(insert_ignore(conn, block_keys_t), rows)
        return len(rows)
    k = block_keys_t.c
    result = await conn.execute(
        delete(block_keys_t).where(k.key == bindparam("b_key"), k.student_id == bindparam("b_sid"),
                                   k.version == bindparam("b_version")),
        [{"b_key": r["key"], "b_sid": r["student_id"], "b_version": r["version"]} for r in rows])
    return max(result.rowcount, 0)


async def status_changed_since(conn: AsyncConnection, since: float) -> bool:
    """Whether a student was deactivated or reactivated at or after ``since`` (epoch seconds).

    Those are the only changes that take rows out of the index: a reader who counted the rows
    under a key before one cannot tell from the count alone that nothing changed (a row gone and
    another added leave it equal). Both tables are small (a person decides each row)."""
    d, r = deactivations_t.c, reactivations_t.c
    if (await conn.execute(select(d.id).where(d.at >= since).limit(1))).first() is not None:
        return True
    q = select(r.id).where(r.status == "approved", r.decided_at >= since).limit(1)
    return (await conn.execute(q)).first() is not None
