"""Planner statistics and the visibility map after a bulk load (PostgreSQL).

Why: PostgreSQL plans every lookup from its tables' statistics, and reads a lookup's candidates
from indexes alone (``ix_ssid_aliases_std`` carries the standardised record) only where the
visibility map says the table pages are all-visible. Right after a legacy import or a restore
the tables have neither, until autovacuum gets round to them (a minute on an idle server,
much longer on a busy one, and longer still for the visibility map). Measured:

* against 200,000 freshly imported students, without statistics a lookup took 45 ms at the
  median and 170 ms at p99 (whole-table scans), 0.38 and 0.96 ms once analyzed;
* against 10,000,000, analyzed but not vacuumed, p50 1.68 and p99 8.73 ms (every candidate a
  heap page as well as an index page), 1.20 and 4.73 ms after ``VACUUM (ANALYZE)`` (20 s).

So a load vacuums and analyzes the tables it filled before it reports done. SQLite needs
nothing: its plans for these statements come from the indexes alone, no ``sqlite_stat1`` is
kept, and its covering indexes need no visibility map.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

#: the tables a legacy import fills (a lookup reads the first four)
TABLES = ("ssid_block_keys", "ssid_aliases", "ssid_students", "ssid_name_counts", "ssid_ids", "ssid_audit")
VACUUM_ANALYZE = "VACUUM (ANALYZE) " + ", ".join(TABLES)


async def refresh(engine: AsyncEngine) -> bool:
    """Vacuum and analyze the SSID tables (PostgreSQL; it blocks neither readers nor writers, and
    cannot run inside a transaction, hence a connection of its own). Whether it ran."""
    if engine.dialect.name != "postgresql":
        return False
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(VACUUM_ANALYZE)
    return True
