"""The matcher's candidate source over the database (``ssid.matching.CandidateSource``).

Why here: the matching engine is pure and synchronous (no database, no event loop); the
database only supplies candidates. ``DbCandidateSource`` answers the engine's block requests
from ``ssid_block_keys`` (clustered by key) joined to the alias history (every version of
every *active* student; a deactivated ID is never offered as a match) and returns the stored
standardised records, so nothing is standardised again at lookup time. It works on a *sync*
connection: call the engine inside ``AsyncConnection.run_sync`` (``match`` below does), which
runs it on the async connection without a second thread or event loop.

Every request answers with the number of rows under the key and narrowing (``total``) as well
as the first ``limit`` rows in a stable order, so the engine can report what a cut left out:
candidates are never dropped silently.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from ..matching import Block, BlockRequest, CandidateRow, Matcher, StudentRecord
from ..matching.blocking import query_keys
from ..matching.standardize import Standardized
from ..matching.engine import Decision
from ..records import standardized_from_json
from .schema import ACTIVE, aliases_t, block_keys_t, students_t


class DbCandidateSource:
    def __init__(self, conn: Connection, *, include_deactivated: bool = False) -> None:
        self.conn = conn
        self.include_deactivated = include_deactivated

    def _where(self, req: BlockRequest) -> Any:
        k = block_keys_t.c
        cond = [k.key == req.key]
        if req.narrowing.gender:
            cond.append(or_(k.gender == req.narrowing.gender, k.gender == ""))
        if req.narrowing.first_initial:
            cond.append(or_(k.first_initial == req.narrowing.first_initial, k.first_initial == ""))
        if not self.include_deactivated:
            cond.append(students_t.c.status == ACTIVE)
        return and_(*cond)

    def fetch(self, requests: Sequence[BlockRequest]) -> list[Block]:
        out = []
        k = block_keys_t.c
        joined = block_keys_t.join(students_t, students_t.c.student_id == k.student_id)
        for req in requests:
            where = self._where(req)
            total = self.conn.execute(select(func.count()).select_from(joined).where(where)).scalar() or 0
            if total == 0:
                out.append(Block((), 0))
                continue
            q = (select(k.student_id, k.version, aliases_t.c.std, aliases_t.c.record)
                 .select_from(joined.join(aliases_t, and_(aliases_t.c.student_id == k.student_id,
                                                          aliases_t.c.version == k.version)))
                 .where(where).order_by(k.student_id, k.version).limit(req.limit))
            rows = tuple(CandidateRow(sid, version, standardized_from_json(std, record))
                         for sid, version, std, record in self.conn.execute(q))
            out.append(Block(rows, total))
        return out


class PrefetchedSource:
    """Every candidate of many lookups read with a handful of queries (batch chunks, single lookups).

    Same contract as ``DbCandidateSource``. Built from the block keys the lookups will ask for:
    one query counts the rows under every key (every status: the figure ``sizes`` a writer
    re-counts to see whether anything arrived since), one reads the rows of the keys small
    enough to be scored whole (``<= prefetch_limit``, the block size above which the engine
    narrows), one reads the stored versions of those students. A larger key is answered by
    ``DbCandidateSource`` (which counts and cuts in SQL), so a hot block is never read whole.
    ``versions[student]`` is the number of stored versions of each prefetched student.
    """

    def __init__(self, conn: Connection, keys: Iterable[str], *, prefetch_limit: int = 500) -> None:
        self.conn = conn
        self.fallback = DbCandidateSource(conn)
        wanted_keys = sorted(set(keys))
        self.sizes = self.count(conn, wanted_keys)
        small = [key for key in wanted_keys if 0 < self.sizes.get(key, 0) <= prefetch_limit]
        self._small = set(small)
        self._rows: dict[str, list[tuple[str, int, str, str]]] = {}
        for part in slices(small):
            for key, sid, version, gender, initial in _rows(conn, _BLOCK_ROWS, part, (ACTIVE,)):
                self._rows.setdefault(key, []).append((sid, version, gender or "", initial or ""))
        for rows in self._rows.values():
            rows.sort()
        students = sorted({row[0] for rows in self._rows.values() for row in rows})
        self._stored: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.versions: dict[str, int] = {}
        for part in slices(students):
            for sid, version, std, record in _rows(conn, _VERSIONS, part):
                self._stored[(sid, version)] = (std, record)
                self.versions[sid] = self.versions.get(sid, 0) + 1
        self._decoded: dict[tuple[str, int], CandidateRow] = {}

    @staticmethod
    def count(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
        """Rows under each key (every status); keys without rows are left out."""
        out: dict[str, int] = {}
        for part in slices(sorted(keys)):
            out.update(_rows(conn, _KEY_COUNTS, part))
        return out

    def stored(self, student_id: str) -> list[dict[str, Any]] | None:
        """The stored matcher records of a prefetched student (every version), or None."""
        if student_id not in self.versions:
            return None
        return [_json(self._stored[(student_id, v)][1]) for v in range(self.versions[student_id])
                if (student_id, v) in self._stored]

    def _row(self, sid: str, version: int) -> CandidateRow:
        got = self._decoded.get((sid, version))
        if got is None:
            std, record = self._stored[(sid, version)]
            got = self._decoded[(sid, version)] = CandidateRow(sid, version,
                                                               standardized_from_json(_json(std), _json(record)))
        return got

    def fetch(self, requests: Sequence[BlockRequest]) -> list[Block]:
        out: list[Block | None] = []
        hot: list[int] = []
        for i, req in enumerate(requests):
            if req.key not in self._small:
                if self.sizes.get(req.key, 0) == 0:
                    out.append(Block((), 0))
                else:
                    hot.append(i)
                    out.append(None)
                continue
            g, fi = req.narrowing.gender, req.narrowing.first_initial
            rows = [(sid, v) for sid, v, gender, initial in self._rows.get(req.key, ())
                    if (not g or gender in (g, "")) and (not fi or initial in (fi, ""))]
            out.append(Block(tuple(self._row(sid, v) for sid, v in rows[:req.limit]), len(rows)))
        if hot:
            for i, block in zip(hot, self.fallback.fetch([requests[i] for i in hot])):
                out[i] = block
        return [b if b is not None else Block((), 0) for b in out]


#: the prefetch's three statements, sent to the driver as they are: they run for every lookup, and
#: building, caching and expanding SQLAlchemy constructs cost more than the queries themselves
_KEY_COUNTS = "SELECT key, count(*) FROM ssid_block_keys WHERE key IN ({}) GROUP BY key"
_BLOCK_ROWS = ("SELECT k.key, k.student_id, k.version, k.gender, k.first_initial FROM ssid_block_keys k "
               "JOIN ssid_students s ON s.student_id = k.student_id WHERE k.key IN ({}) AND s.status = {}")
_VERSIONS = "SELECT student_id, version, std, record FROM ssid_aliases WHERE student_id IN ({})"


def _rows(conn: Connection, sql: str, values: Sequence[Any], extra: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """``sql`` with ``{}`` filled by one placeholder per value (then one per extra value)."""
    numbered = conn.dialect.paramstyle == "numeric_dollar"
    marks = [f"${i + 1}" if numbered else "?" for i in range(len(values) + len(extra))]
    text = sql.format(", ".join(marks[:len(values)]), *marks[len(values):])
    return list(conn.exec_driver_sql(text, (*values, *extra)))


def _json(value: Any) -> Any:
    """A JSON column read through the driver: text on SQLite and asyncpg, decoded here."""
    return json.loads(value) if isinstance(value, str) else value


def slices(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """Bound parameter lists (SQLite allows 32,766 per statement; PostgreSQL 65,535)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def match_sync(conn: Connection, matcher: Matcher, record: StudentRecord | Standardized) -> Decision:
    """``matcher.match(record)`` with candidates from this (sync) connection, in three queries."""
    std = matcher.standardize(record)
    m = for_database(conn, matcher)
    m.source = PrefetchedSource(conn, (k.key for k in query_keys(std)), prefetch_limit=matcher.blocking.max_block)
    return m.match(std)


def for_database(conn: Connection, matcher: Matcher) -> Matcher:
    """A copy of ``matcher`` with the thresholds for the size of this database's student table."""
    m = copy.copy(matcher)
    m.thresholds = matcher.thresholds.for_population(population(conn))
    return m


_POPULATION: dict[str, tuple[float, int]] = {}
POPULATION_TTL = 300.0  # seconds a database's student count is reused


def population(conn: Connection) -> int:
    """How many students the table holds (every status), counted cheaply and reused for a while.

    SQLite: the largest rowid (students are never deleted, so it is the count). PostgreSQL: the
    planner's estimate (``pg_class.reltuples``), counted exactly while the table is small."""
    key = str(conn.engine.url)
    now = time.monotonic()
    got = _POPULATION.get(key)
    if got is not None and now - got[0] < POPULATION_TTL:
        return got[1]
    if conn.dialect.name == "postgresql":
        n = conn.exec_driver_sql("SELECT reltuples::bigint FROM pg_class WHERE relname = 'ssid_students'").scalar()
        if n is None or n < 100_000:
            n = conn.exec_driver_sql("SELECT count(*) FROM ssid_students").scalar()
    else:
        n = conn.exec_driver_sql("SELECT max(rowid) FROM ssid_students").scalar()
    _POPULATION[key] = (now, int(n or 0))
    return int(n or 0)


async def match(conn: AsyncConnection, matcher: Matcher, record: StudentRecord) -> Decision:
    """``matcher.match(record)`` with candidates from this database connection."""
    return await conn.run_sync(match_sync, matcher, record)
