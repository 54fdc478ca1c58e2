"""An initial load into an empty SQLite database builds its indexes once, at the end.

Why: loading millions of legacy students row by row spends most of its time on index inserts
at random keys. Each row lands in about a dozen B-tree leaves (its blocking keys, its identity,
its audit trail), every dirtied leaf is written to the WAL at each commit and again at the
checkpoint: measured at 8 million students, 45 KB written per row. An initial load instead
appends the blocking keys to a plain staging table and drops four secondary indexes;
``finish`` sorts the keys into ``ssid_block_keys`` in one pass and builds the indexes again.

Until ``finish`` has run, the loaded students cannot be found by the matcher. So it runs at
the end of the import, at the start of the next import (after an interrupted one) and at every
``SsidStore.migrate`` (each process that serves lookups migrates when it starts). PostgreSQL
loads are not staged: other workers may be serving from the same database meanwhile.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import ALIAS_STD_INDEX, alias_std_index_ddl, audit_t, students_t

log = logging.getLogger(__name__)

STAGE = "ssid_block_keys_load"
KEY_COLUMNS = ("key", "student_id", "version", "gender", "first_initial", "month_day")
#: secondary indexes an initial load builds at the end instead of row by row
DEFERRED = ("ix_ssid_students_identity", "ix_ssid_students_status", "ix_ssid_audit_student", ALIAS_STD_INDEX)
SORT_THREADS = 2  # helper threads SQLite's sorter may use while finishing (it sorts alone otherwise)


def _deferred_indexes():
    return [i for t in (students_t, audit_t) for i in t.indexes if i.name in DEFERRED]


def stages(conn: AsyncConnection) -> bool:
    """Whether a load into this database is staged (SQLite only)."""
    return conn.dialect.name == "sqlite"


async def begin(conn: AsyncConnection) -> None:
    """Start staging an initial load: the staging table, without the deferred indexes."""
    await conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {STAGE} "
                               "(key TEXT NOT NULL, student_id TEXT NOT NULL, version INTEGER NOT NULL, "
                               "gender TEXT NOT NULL, first_initial TEXT NOT NULL, month_day INTEGER)")
    for name in DEFERRED:
        await conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


async def pending(conn: AsyncConnection) -> bool:
    """Whether a staged load still waits for ``finish``."""
    if conn.dialect.name != "sqlite":
        return False
    found = await conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (STAGE,))
    return found.first() is not None


async def finish(conn: AsyncConnection) -> int:
    """Move the staged keys into ``ssid_block_keys`` (sorted: each leaf is written once) and
    build the deferred indexes; the number of keys moved (0 when nothing was staged)."""
    if not await pending(conn):
        return 0
    staged = {row[1] for row in await conn.exec_driver_sql(f"PRAGMA table_info({STAGE})")}
    # (a load interrupted before migration 9 staged no month_day: such rows are always read)
    cols = ", ".join(f'"{c}"' for c in KEY_COLUMNS if c in staged)
    await conn.exec_driver_sql(f"PRAGMA threads={SORT_THREADS}")  # sorting 17 M keys: 17 s alone, 11 s with help
    moved = await conn.exec_driver_sql(f"INSERT INTO ssid_block_keys ({cols}) SELECT {cols} FROM {STAGE} "
                                       "ORDER BY key, student_id, version")
    await conn.exec_driver_sql(f"DROP TABLE {STAGE}")
    await conn.run_sync(lambda c: [i.create(c, checkfirst=True) for i in _deferred_indexes()])
    await conn.exec_driver_sql(alias_std_index_ddl(conn.dialect.name))
    log.info("initial load finished: %d blocking keys indexed, %s built", moved.rowcount, ", ".join(DEFERRED))
    return moved.rowcount
