"""Versioned migrations of the SSID tables (a small numbered runner, as the SLF tables have).

Why a runner of our own and not alembic yet: the schema must be created and changed the same
way on SQLite and PostgreSQL by whichever SSID process starts first, and part of it is not
tables but database-side guards that differ per dialect. Each migration is a numbered
function; ``ssid_schema_version`` records the ones applied. Everything runs in one transaction
holding a lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so two processes
starting together apply each migration once, and a crash half-way leaves the previous version
intact (DDL is transactional on both).

Migration 2 installs the guards that make the rules hold even for someone with a SQL prompt:
the audit, the ID registry, alias history and deactivations refuse UPDATE and DELETE
(append-only); students, reactivation requests and users refuse DELETE (nothing is ever
deleted, RFP 1.21.7.2); a student's ID can never be changed (RFP 1.21.7.3). On PostgreSQL
TRUNCATE is refused as well.

Migration 6 adds the name counts (``ssid.db.namecounts``) and counts into them every alias
stored before it, in SQL: a database with millions of students is ready in one step.
Migration 7 indexes each student's status by ID, so checking that a lookup's candidates are
active reads a small index instead of each student's row; migration 8 lets a lookup read its
candidates' standardised records from an index alone. Each takes seconds to a minute to build
once at ten million students. Migration 9 gives each year + names (YLF) key row the birth month
and day its rule compares (``ssid.matching.blocking``), read from the alias it indexes; a row
left without one (no birth date) is always read, as before. Migration 10 takes deactivated
students out of the lookup index, which from then on holds active students only
(``ssid.db.lookup_index``), so lookups no longer check each candidate's status. Migration 11
gives the decisions a column for explanations stored compressed (``ssid.decisions``); those
already stored stay as they are.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .lookup_index import index_students
from .namecounts import fill_from_aliases
from ..matching.blocking import YEAR_LAST_FIRST
from ..records import STD_BIRTH_AT
from .schema import (
    ACTIVE, NO_DELETE, NO_UPDATE, alias_std_index_ddl, block_keys_t, metadata, name_counts_t, students_t, version_t,
)

log = logging.getLogger(__name__)

_ADVISORY_KEY = 0x551D_DB01  # any constant shared by every SSID process


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[AsyncConnection], Awaitable[None]]


async def has_table(conn: AsyncConnection, name: str) -> bool:
    return await conn.run_sync(lambda c: inspect(c).has_table(name))


async def _v1(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda c: metadata.create_all(c, checkfirst=True))


async def _v2(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("""
            CREATE OR REPLACE FUNCTION ssid_refuse() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '%: % refused: %', TG_TABLE_NAME, TG_OP, TG_ARGV[0]
                    USING ERRCODE = 'integrity_constraint_violation';
            END $$ LANGUAGE plpgsql"""))
        await conn.execute(text("""
            CREATE OR REPLACE FUNCTION ssid_keep_student_id() RETURNS trigger AS $$
            BEGIN
                IF NEW.student_id IS DISTINCT FROM OLD.student_id THEN
                    RAISE EXCEPTION 'ssid_students: a student ID is never modified'
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql"""))
        for t in NO_DELETE:
            ops = "UPDATE OR DELETE" if t in NO_UPDATE else "DELETE"
            why = "append-only: rows are never changed or deleted" if t in NO_UPDATE else "rows are never deleted"
            await conn.execute(text(f"CREATE TRIGGER {t}_guard BEFORE {ops} ON {t} "
                                    f"FOR EACH ROW EXECUTE FUNCTION ssid_refuse('{why}')"))
            await conn.execute(text(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                                    f"FOR EACH STATEMENT EXECUTE FUNCTION ssid_refuse('{why}')"))
        await conn.execute(text("CREATE TRIGGER ssid_students_keep_id BEFORE UPDATE OF student_id ON ssid_students "
                                "FOR EACH ROW EXECUTE FUNCTION ssid_keep_student_id()"))
        return
    for t in NO_DELETE:
        await conn.execute(text(f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} "
                                f"BEGIN SELECT RAISE(ABORT, '{t}: DELETE refused: rows are never deleted'); END"))
    for t in NO_UPDATE:
        await conn.execute(text(f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} "
                                f"BEGIN SELECT RAISE(ABORT, '{t}: UPDATE refused: append-only, rows are never "
                                f"changed'); END"))
    await conn.execute(text("CREATE TRIGGER IF NOT EXISTS ssid_students_keep_id BEFORE UPDATE OF student_id "
                            "ON ssid_students WHEN NEW.student_id IS NOT OLD.student_id "
                            "BEGIN SELECT RAISE(ABORT, 'ssid_students: a student ID is never modified'); END"))


async def _v3(conn: AsyncConnection) -> None:
    from ..api.tables import API_TABLES  # imported here: the API package is optional for most processes

    await conn.run_sync(lambda c: metadata.create_all(c, tables=list(API_TABLES), checkfirst=True))


async def _v4(conn: AsyncConnection) -> None:
    from ..web.tables import WEB_TABLES  # imported here: only the web UI needs them

    await conn.run_sync(lambda c: metadata.create_all(c, tables=list(WEB_TABLES), checkfirst=True))


async def _v5(conn: AsyncConnection) -> None:
    """Decisions with their explanations and timings, and the server's heartbeats (reports).

    ``ssid_decisions`` is append-only like the audit (no UPDATE, DELETE or, on PostgreSQL,
    TRUNCATE); a heartbeat is never changed (old ones may be deleted)."""
    from ..decisions import decisions_t  # imported here: they register on the shared metadata
    from ..heartbeats import heartbeats_t

    await conn.run_sync(lambda c: metadata.create_all(c, tables=[decisions_t, heartbeats_t], checkfirst=True))
    d, h = decisions_t.name, heartbeats_t.name
    if conn.dialect.name == "postgresql":  # ssid_refuse() is migration 2's
        why = "append-only: rows are never changed or deleted"
        await conn.execute(text(f"CREATE TRIGGER {d}_guard BEFORE UPDATE OR DELETE ON {d} "
                                f"FOR EACH ROW EXECUTE FUNCTION ssid_refuse('{why}')"))
        await conn.execute(text(f"CREATE TRIGGER {d}_no_truncate BEFORE TRUNCATE ON {d} "
                                f"FOR EACH STATEMENT EXECUTE FUNCTION ssid_refuse('{why}')"))
        await conn.execute(text(f"CREATE TRIGGER {h}_guard BEFORE UPDATE ON {h} "
                                "FOR EACH ROW EXECUTE FUNCTION ssid_refuse('a heartbeat is never changed')"))
        return
    await conn.execute(text(f"CREATE TRIGGER IF NOT EXISTS {d}_no_delete BEFORE DELETE ON {d} "
                            f"BEGIN SELECT RAISE(ABORT, '{d}: DELETE refused: rows are never deleted'); END"))
    for t in (d, h):
        await conn.execute(text(f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} "
                                f"BEGIN SELECT RAISE(ABORT, '{t}: UPDATE refused: append-only, rows are never "
                                f"changed'); END"))


async def _v6(conn: AsyncConnection) -> None:
    """Name counts (term frequencies), filled from every alias already stored (``ssid.db.namecounts``)."""
    await conn.run_sync(lambda c: name_counts_t.create(c, checkfirst=True))
    counted = await fill_from_aliases(conn)
    log.info("SSID database: names of %d stored versions counted", counted)


async def _v7(conn: AsyncConnection) -> None:
    """The active check of every lookup candidate answered from an index (``ix_ssid_students_status``)."""
    index = next(i for i in students_t.indexes if i.name == "ix_ssid_students_status")
    await conn.run_sync(lambda c: index.create(c, checkfirst=True))


async def _v8(conn: AsyncConnection) -> None:
    """Each lookup candidate's standardised record read from an index alone (``ALIAS_STD_INDEX``)."""
    await conn.exec_driver_sql(alias_std_index_ddl(conn.dialect.name))


async def _v9(conn: AsyncConnection) -> None:
    """``ssid_block_keys.month_day`` on every YLF row, from the birth date of the alias it indexes."""
    await _add_column(conn, block_keys_t.name, "month_day", "SMALLINT")  # created with it from migration 1 on
    started = time.perf_counter()
    done = await conn.exec_driver_sql(_MONTH_DAY_SQL[conn.dialect.name].format(at=STD_BIRTH_AT, ylf=YEAR_LAST_FIRST))
    log.info("SSID database: %d year + names keys given their birth month and day in %.0f s", done.rowcount,
             time.perf_counter() - started)


async def _v10(conn: AsyncConnection) -> None:
    """The lookup index (``ssid_block_keys``) keeps active students only (``ssid.db.lookup_index``)."""
    s = students_t.c
    gone = list((await conn.execute(select(s.student_id).where(s.status != ACTIVE).order_by(s.student_id))).scalars())
    removed = await index_students(conn, gone, active=False)
    log.info("SSID database: %d lookup-index rows of %d deactivated students removed", removed, len(gone))


async def _v11(conn: AsyncConnection) -> None:
    """``ssid_decisions.explanation_z``: a long explanation stored compressed (``ssid.decisions``)."""
    from ..decisions import decisions_t

    binary = "BYTEA" if conn.dialect.name == "postgresql" else "BLOB"
    await _add_column(conn, decisions_t.name, "explanation_z", binary)  # created with it from migration 5 on


async def _add_column(conn: AsyncConnection, table: str, column: str, sql_type: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` unless the table has it already (a database created after
    the column joined the table's definition)."""
    columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns(table)})
    if column not in columns:
        await conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")


#: the birth date is element ``at`` of the alias's ``std`` list (``ssid.records.std_json``), "YYYY-MM-DD"
_MONTH_DAY_SQL = {
    "sqlite": "UPDATE ssid_block_keys SET month_day = (SELECT CAST(substr(d, 6, 2) AS INTEGER) * 100 "
              "+ CAST(substr(d, 9, 2) AS INTEGER) FROM (SELECT json_extract(a.std, '$[{at}]') AS d "
              "FROM ssid_aliases a WHERE a.student_id = ssid_block_keys.student_id "
              "AND a.version = ssid_block_keys.version)) "
              "WHERE substr(key, 1, 4) = '{ylf}|' AND month_day IS NULL",
    "postgresql": "UPDATE ssid_block_keys k SET month_day = (substr(a.std->>{at}, 6, 2)::int * 100 "
                  "+ substr(a.std->>{at}, 9, 2)::int) FROM ssid_aliases a "
                  "WHERE a.student_id = k.student_id AND a.version = k.version AND substr(k.key, 1, 4) = '{ylf}|' "
                  "AND k.month_day IS NULL AND a.std->>{at} IS NOT NULL",
}


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "SSID tables: ID registry, students, aliases, blocking keys, deactivations, "
                 "reactivations, audit, users", _v1),
    Migration(2, "guards: append-only audit/registry/aliases/deactivations, no deletes, IDs never modified", _v2),
    Migration(3, "REST lookup API: clients, tokens, rate counters, idempotency keys, lookup log, "
                 "enrollment verifications", _v3),
    Migration(4, "web UI: password hashes, sessions, sign-in attempts, user districts/buildings, activity", _v4),
    Migration(5, "decisions with explanations and timings (append-only), server heartbeats", _v5),
    Migration(6, "name counts (term frequencies) of every stored version, counted from the aliases", _v6),
    Migration(7, "index of each student's status by ID, read for every lookup candidate", _v7),
    Migration(8, "index of each alias's standardised record by student, read for every lookup candidate", _v8),
    Migration(9, "birth month and day on each year + names blocking key, which lookups read only for the same "
                 "month or day", _v9),
    Migration(10, "the lookup index holds active students only: deactivated students' blocking keys taken out, "
                  "so lookups read candidates without checking each one's status", _v10),
    Migration(11, "decisions: long explanations stored compressed", _v11),
)
LATEST = MIGRATIONS[-1].version


async def current_version(conn: AsyncConnection) -> int:
    if not await has_table(conn, version_t.name):
        return 0
    return (await conn.execute(select(version_t.c.version).order_by(version_t.c.version.desc()).limit(1))
            ).scalar() or 0


async def migrate(engine: AsyncEngine, clock: Callable[[], float] = time.time) -> list[str]:
    """Bring the database to the latest version; the migrations applied (empty when current)."""
    done: list[str] = []
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
        # SQLite: engine.begin() opened with BEGIN IMMEDIATE, the write lock is already held
        await conn.run_sync(lambda c: version_t.create(c, checkfirst=True))
        version = await current_version(conn)
        for m in MIGRATIONS:
            if m.version <= version:
                continue
            await m.apply(conn)
            await conn.execute(version_t.insert().values(version=m.version, description=m.description,
                                                         applied_at=clock()))
            log.info("SSID database: migration %d applied (%s)", m.version, m.description)
            done.append(f"{m.version}: {m.description}")
    return done
