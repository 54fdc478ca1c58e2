"""Planner statistics after a bulk load (PostgreSQL).

Why: PostgreSQL plans every lookup from its tables' statistics, and right after a legacy
import or a restore the tables have none until autovacuum gets round to them (a minute on an
idle server, longer on a busy one). Without them it read a lookup's candidates by scanning
whole tables: against 200,000 freshly imported students a lookup took 45 ms at the median and
170 ms at p99, against 0.38 and 0.96 ms once analyzed (at ten million it would be seconds). So
a load analyzes the tables it filled before it reports done. SQLite needs nothing: its plans
for these statements come from the indexes alone, and no ``sqlite_stat1`` is kept.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

#: the tables a legacy import or a restore fills (the lookup reads the first four)
TABLES = ("ssid_block_keys", "ssid_aliases", "ssid_students", "ssid_name_counts", "ssid_ids", "ssid_audit")
ANALYZE = "ANALYZE " + ", ".join(TABLES)


async def refresh(conn: AsyncConnection) -> bool:
    """Gather the planner's statistics of the SSID tables (PostgreSQL; a few seconds at ten
    million students: it samples, and blocks neither readers nor writers). Whether it ran."""
    if conn.dialect.name != "postgresql":
        return False
    await conn.exec_driver_sql(ANALYZE)
    return True
