"""Versioned migrations of the SLF tables (a small runner; no alembic dependency yet).

Why a runner of our own: the schema is shared with the SSID database and must be created
and changed the same way on SQLite and PostgreSQL, by whichever resolver worker starts
first, and it carries state-configured attribute columns that no static migration script
can know. Each migration is a numbered function; ``SLF_RESOLVER_SCHEMA`` records the ones
applied. Everything runs in one transaction holding a lock (PostgreSQL: an advisory lock;
SQLite: BEGIN IMMEDIATE), so two workers starting together apply each migration once, and
a crash half-way leaves the previous version intact (DDL is transactional on both).

After the numbered migrations, :func:`sync_columns` adds configured attribute columns that
SLF_TRANSACTION_PARMS lacks (ALTER TABLE ... ADD COLUMN; never drops or narrows).

Migration 2 (PostgreSQL only) installs a trigger that NOTIFYs ``slf_status`` whenever a row
is inserted or N_SLF_STATUS changes, so resolver workers (and the SSID database) wake at
once whoever made the change, even a vendor database that knows nothing of LISTEN.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .tables import AttributeColumn, Schema, schema

log = logging.getLogger(__name__)

#: the LISTEN/NOTIFY channel of migration 2
CHANNEL = "slf_status"
_ADVISORY_KEY = 0x51F_7AB1E5  # any constant shared by every worker


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[AsyncConnection, Schema], Awaitable[None]]


def _db_name(dialect_name: str, name: str) -> str:
    """How the database reports an unquoted name: PostgreSQL folds it to lower case."""
    return name.lower() if dialect_name == "postgresql" else name


async def has_table(conn: AsyncConnection, name: str) -> bool:
    return await conn.run_sync(lambda c: inspect(c).has_table(_db_name(c.dialect.name, name)))


async def _create_missing(conn: AsyncConnection, tables) -> None:
    """CREATE the tables that do not exist (a vendor may have created some by hand)."""
    for table in tables:
        if not await has_table(conn, table.name):
            await conn.run_sync(lambda c, t=table: t.create(c, checkfirst=False))


async def _v1(conn: AsyncConnection, s: Schema) -> None:
    base = schema()  # the seed's tables as of version 1 (extra columns come from sync_columns)
    await _create_missing(conn, [base.batch, base.parms, base.match, base.error_log, base.request])


async def _v2(conn: AsyncConnection, s: Schema) -> None:
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(text(f"""
        CREATE OR REPLACE FUNCTION slf_status_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.N_TRANSACTION_PARMS_ID::text || ':' || NEW.N_SLF_STATUS::text);
            RETURN NEW;
        END $$ LANGUAGE plpgsql"""))
    await conn.execute(text("DROP TRIGGER IF EXISTS slf_status_notify ON SLF_TRANSACTION_PARMS"))
    await conn.execute(text("""
        CREATE TRIGGER slf_status_notify AFTER INSERT OR UPDATE OF N_SLF_STATUS ON SLF_TRANSACTION_PARMS
        FOR EACH ROW EXECUTE FUNCTION slf_status_notify()"""))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "SLF tables (Supplement Four ch. 2) and the resolver's request log", _v1),
    Migration(2, "PostgreSQL: NOTIFY slf_status on new rows and N_SLF_STATUS changes", _v2),
)
LATEST = MIGRATIONS[-1].version


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    # SQLite: the transaction began with BEGIN IMMEDIATE (db.py): it already holds the write lock


async def current_version(conn: AsyncConnection) -> int:
    s = schema()
    if not await has_table(conn, s.version.name):
        return 0
    return (await conn.execute(select(s.version.c.VERSION).order_by(s.version.c.VERSION.desc()).limit(1))
            ).scalar() or 0


async def sync_columns(conn: AsyncConnection, extra: Iterable[AttributeColumn]) -> list[str]:
    """Add the configured attribute columns SLF_TRANSACTION_PARMS does not have yet."""
    s = schema()
    have = {c["name"].upper() for c in await conn.run_sync(
        lambda c: inspect(c).get_columns(_db_name(c.dialect.name, s.parms.name)))}
    added = []
    for col in extra:
        if col.name.upper() in have:
            continue
        await conn.execute(text(f"ALTER TABLE SLF_TRANSACTION_PARMS ADD COLUMN {col.name} VARCHAR({int(col.length)})"))
        added.append(col.name)
        log.info("SLF_TRANSACTION_PARMS: added attribute column %s VARCHAR(%d)", col.name, col.length)
    return added


async def migrate(engine: AsyncEngine, extra: Iterable[AttributeColumn] = (),
                  clock: Callable[[], float] = time.time) -> list[str]:
    """Bring the database to the latest version and add configured columns; what was done."""
    extra = tuple(extra)
    done: list[str] = []
    s = schema()
    async with engine.begin() as conn:
        await _lock(conn)
        await _create_missing(conn, [s.version])
        version = await current_version(conn)
        for m in MIGRATIONS:
            if m.version <= version:
                continue
            await m.apply(conn, s)
            await conn.execute(s.version.insert().values(VERSION=m.version, DESCRIPTION=m.description,
                                                         APPLIED_AT=clock()))
            log.info("SLF tables: migration %d applied (%s)", m.version, m.description)
            done.append(f"{m.version}: {m.description}")
        done += [f"column {c}" for c in await sync_columns(conn, extra)]
    return done
