"""The matcher's candidate source over the database (``ssid.matching.CandidateSource``).

Why here: the matching engine is pure and synchronous (no database, no event loop); the
database only supplies candidates. ``DbCandidateSource`` answers the engine's block requests
from ``ssid_block_keys`` (clustered by key; it holds every version of every *active* student
only, ``ssid.db.lookup_index``, so a deactivated ID is never offered as a match) joined to the
alias history, and returns the stored
standardised records, so nothing is standardised again at lookup time. Those are read from the
index ``ix_ssid_aliases_std`` alone (one B-tree search per candidate, not an index and a table
row): a candidate's ``record.raw`` is therefore left blank, as the matcher never reads it;
``stored_records`` reads the raw records of the few students that need them. It works on a *sync*
connection: call the engine inside ``AsyncConnection.run_sync`` (``match`` below does), which
runs it on the async connection without a second thread or event loop.

Every request answers with the number of rows under the key and narrowing (``total``) as well
as the first ``limit`` rows in a stable order, so the engine can report what a cut left out:
candidates are never dropped silently.
"""

from __future__ import annotations

import copy
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

try:
    from sqlalchemy.util.concurrency import await_ as _await
except ImportError:  # SQLAlchemy 2.0
    from sqlalchemy.util import await_only as _await

from ..matching import Block, BlockRequest, CandidateRow, Matcher, StudentRecord
from ..matching.blocking import QueryKey, query_keys, rule_values, shares_month_or_day, tiers
from ..matching.standardize import Standardized
from ..matching.engine import Decision
from ..records import standardized_from_json
from .engine import placeholders
from .namecounts import DbTermFrequencies, lookup_names
from .schema import aliases_t, block_keys_t


class DbCandidateSource:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _where(self, req: BlockRequest) -> Any:
        k = block_keys_t.c
        cond = [k.key == req.key]
        if req.narrowing.gender:
            cond.append(or_(k.gender == req.narrowing.gender, k.gender == ""))
        if req.narrowing.first_initial:
            cond.append(or_(k.first_initial == req.narrowing.first_initial, k.first_initial == ""))
        if req.month_day:  # the YLF rule (ssid.matching.blocking.shares_month_or_day)
            months, days = rule_values(req.month_day)
            cond.append(or_(k.month_day.is_(None), *(k.month_day.between(m * 100, m * 100 + 99) for m in months),
                            (k.month_day % 100).in_(sorted(days))))
        return and_(*cond)

    def fetch(self, requests: Sequence[BlockRequest]) -> list[Block]:
        out = []
        k = block_keys_t.c
        for req in requests:
            where = self._where(req)
            total = self.conn.execute(select(func.count()).select_from(block_keys_t).where(where)).scalar() or 0
            if total == 0:
                out.append(Block((), 0))
                continue
            q = (select(k.student_id, k.version, aliases_t.c.std)
                 .select_from(block_keys_t.join(aliases_t, and_(aliases_t.c.student_id == k.student_id,
                                                                aliases_t.c.version == k.version)))
                 .where(where).order_by(k.student_id, k.version).limit(req.limit))
            rows = tuple(CandidateRow(sid, version, standardized_from_json(std))
                         for sid, version, std in self.conn.execute(q))
            out.append(Block(rows, total))
        return out


class PrefetchedSource:
    """Every candidate of many lookups read in one statement per 500 keys (batch chunks, single lookups).

    Same contract as ``DbCandidateSource``. Built from the block keys the lookups will ask for,
    with one statement (``_PREFETCH``) answering three questions: the rows under every key
    (the figure ``sizes`` a writer re-counts to see whether anything arrived or left since),
    the rows of the keys small enough to be scored whole (``<= prefetch_limit``, the
    block size above which the engine narrows) and the stored versions of those students. One
    statement, not three: a single lookup's statements are quick, and each round trip through
    the driver (a thread hop on aiosqlite, a network one on PostgreSQL) cost as much as the
    query. A larger key is answered by ``DbCandidateSource`` (which counts and cuts in SQL), so
    a hot block is never read whole. ``versions[student]`` is the number of stored versions of
    each prefetched student. A key asked for that was not prefetched (a lookup's variant keys,
    read only when its keys as given settle nothing: ``ssid.matching.blocking.tiers``) is
    prefetched when first asked for, with the others of that request, by the same statement; a
    batch's lookups name theirs in advance (``prepare``), all in one statement.
    """

    def __init__(self, conn: Connection, keys: Iterable[str], *, prefetch_limit: int = 500,
                 names: Iterable[tuple[str, str]] = (), month_days: Mapping[str, Iterable[int]] | None = None
                 ) -> None:
        self.conn = conn
        self.fallback = DbCandidateSource(conn)
        self.prefetch_limit = prefetch_limit
        self.sizes: dict[str, int] = {}
        #: YLF keys -> the birth month_days their lookups will ask with: only rows sharing the month
        #: or the day of one of them are read (the rule of ``ssid.matching.blocking``)
        self.month_days: dict[str, frozenset[int]] = {}
        self._rows: dict[str, list[tuple[str, int, str, str, int | None]]] = {}
        self._stored: dict[tuple[str, int], Any] = {}
        #: (field, value) -> stored versions carrying it, for every name asked for (0: none)
        self.name_counts: dict[tuple[str, str], int] = dict.fromkeys(names, 0)
        self._read: set[str] = set()  # the keys prefetched (with rows or without)
        self._small: set[str] = set()
        self.versions: dict[str, int] = {}
        self._decoded: dict[tuple[str, int], CandidateRow] = {}
        self.load(keys, month_days or {}, self.name_counts)

    def load(self, keys: Iterable[str], month_days: Mapping[str, Iterable[int]],
             names: Iterable[tuple[str, str]] = ()) -> None:
        """Prefetch these keys too (those not read yet), in one statement per 500 keys: the
        variants a lookup reads only when the keys as given settle nothing (``blocking.tiers``)."""
        new = set(keys) - self._read
        self._read.update(new)
        self.month_days.update((key, frozenset(mds)) for key, mds in month_days.items() if key in new)
        keys = sorted(new)
        before = set(self._rows)
        name_parts = _name_slices(names)
        for part in slices(keys):
            values = name_parts.pop(0) if name_parts else {}
            ruled, months, days = self._rule_values(part)
            for row in _rows(self.conn, _prefetch(values),
                             [part, (self.prefetch_limit,), ruled, months, days, *values.values()]):
                self._take(row)
        for values in name_parts:  # more names than one statement carries (or no keys at all)
            for row in _rows(self.conn, _names_sql(values, first=True), list(values.values())):
                self._take(row)
        self._small.update(key for key in keys if 0 < self.sizes.get(key, 0) <= self.prefetch_limit)
        for key in set(self._rows) - before:
            self._rows[key].sort()
        self.versions = {}
        for sid, _ in self._stored:
            self.versions[sid] = self.versions.get(sid, 0) + 1

    def prepare(self, keys: Sequence[QueryKey]) -> None:
        """Prefetch the keys the lookups of a batch are about to read (``Matcher.match_many``: the
        variant keys of those that need them), all in one statement rather than one per lookup."""
        month_days: dict[str, set[int]] = {}
        for k in keys:
            if k.month_day:
                month_days.setdefault(k.key, set()).add(k.month_day)
        self.load([k.key for k in keys], month_days)

    def _rule_values(self, keys: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """The YLF rule as the prefetch tests it: the keys read by the rule, and the ``key/m<month>``
        and ``key/d<day>`` strings a row of one of them must make with its own month_day (never
        empty lists: SQL has no empty IN list; no key is blank)."""
        ruled, months, days = {""}, {""}, {""}
        for key in keys:
            for md in self.month_days.get(key, ()):
                ms, ds = rule_values(md)
                ruled.add(key)
                months.update(f"{key}/m{m}" for m in ms)
                days.update(f"{key}/d{d}" for d in ds)
        return sorted(ruled), sorted(months), sorted(days)

    def _take(self, row: tuple[Any, ...]) -> None:
        kind, key, sid, number, gender, initial, month_day, std = row
        if kind == _VERSION:
            self._stored[(sid, number)] = std
        elif kind == _BLOCK_ROW:
            self._rows.setdefault(key, []).append((sid, number, gender or "", initial or "", month_day))
        elif kind == _KEY_COUNT:
            self.sizes[key] = number
        else:
            self.name_counts[(key, sid)] = number

    @staticmethod
    def count(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
        """Rows under each key; keys without rows are left out."""
        out: dict[str, int] = {}
        for part in slices(sorted(keys)):
            out.update(_rows(conn, _KEY_COUNTS, [part]))
        return out

    def _row(self, sid: str, version: int) -> CandidateRow:
        got = self._decoded.get((sid, version))
        if got is None:
            std = standardized_from_json(_json(self._stored[(sid, version)]))
            got = self._decoded[(sid, version)] = CandidateRow(sid, version, std)
        return got

    def fetch(self, requests: Sequence[BlockRequest]) -> list[Block]:
        unread = [req for req in requests if req.key not in self._read]
        if unread:
            month_days: dict[str, set[int]] = {}
            for req in unread:
                if req.month_day:
                    month_days.setdefault(req.key, set()).add(req.month_day)
            self.load([req.key for req in unread], month_days)
        out: list[Block | None] = []
        hot: list[int] = []
        for i, req in enumerate(requests):
            ruled = self.month_days.get(req.key)
            if ruled is not None and req.month_day not in ruled:
                hot.append(i)  # the prefetch read this key for other birth months and days: SQL answers
                out.append(None)
                continue
            if req.key not in self._small:
                if self.sizes.get(req.key, 0) == 0:
                    out.append(Block((), 0))
                else:
                    hot.append(i)
                    out.append(None)
                continue
            g, fi = req.narrowing.gender, req.narrowing.first_initial
            stored = self._rows.get(req.key, ())
            if req.month_day:
                stored = [r for r in stored if shares_month_or_day(r[4], req.month_day)]
            if g or fi:
                stored = [r for r in stored if (not g or r[2] in (g, "")) and (not fi or r[3] in (fi, ""))]
            out.append(Block(tuple([self._row(r[0], r[1]) for r in stored[:req.limit]]), len(stored)))
        if hot:
            for i, block in zip(hot, self.fallback.fetch([requests[i] for i in hot])):
                out[i] = block
        return [b if b is not None else Block((), 0) for b in out]


#: the prefetch, sent to the driver as it is: it runs for every lookup, and building, caching and
#: expanding SQLAlchemy constructs cost more than the query itself. Each row is tagged with its
#: kind: a key's row count (in the version column), a row of a small key, a stored version of a
#: student with such a row (the index holds active students only). The versions come first so that
#: PostgreSQL types the JSON columns from them (it resolves a UNION's NULLs branch by branch).
#: Both subqueries are ``MATERIALIZED`` (SQLite 3.35+, PostgreSQL 12+): SQLite 3.50 no longer
#: materialises ``r``, named twice, on its own, and answered its second use by scanning every key row.
_NAME_COUNT, _VERSION, _BLOCK_ROW, _KEY_COUNT = 3, 2, 1, 0
_PREFETCH = (
    "WITH c AS MATERIALIZED (SELECT key, count(*) AS n FROM ssid_block_keys WHERE key IN ({}) GROUP BY key), "
    "r AS MATERIALIZED (SELECT k.key, k.student_id, k.version, k.gender, k.first_initial, k.month_day "
    "FROM ssid_block_keys k JOIN c ON c.key = k.key "
    "WHERE c.n <= {} AND (k.month_day IS NULL OR k.key NOT IN ({}) "
    "OR k.key || '/m' || (k.month_day / 100) IN ({}) OR k.key || '/d' || (k.month_day % 100) IN ({}))) "
    "SELECT 2, NULL, a.student_id, a.version, NULL, NULL, NULL, a.std FROM ssid_aliases a "
    "WHERE a.student_id IN (SELECT student_id FROM r) "
    "UNION ALL SELECT 1, key, student_id, version, gender, first_initial, month_day, NULL FROM r "
    "UNION ALL SELECT 0, key, NULL, n, NULL, NULL, NULL, NULL FROM c")
_KEY_COUNTS = "SELECT key, count(*) FROM ssid_block_keys WHERE key IN ({}) GROUP BY key"
#: the name counts (``ssid_name_counts``) of one field's values, as rows of the prefetch
_NAME_COUNTS = ("SELECT 3, field, value, n, NULL, NULL, NULL, NULL FROM ssid_name_counts "
                "WHERE field = '{}' AND value IN ({{}})")


def _names_sql(values: Mapping[str, Sequence[str]], first: bool = False) -> str:
    """The name-count branches for these values by field (``first``: the statement's only part)."""
    parts = []
    for field in values:
        if not field.isidentifier():  # a literal in the statement: the matcher's own field names only
            raise ValueError(f"not a name-count field: {field!r}")
        parts.append(_NAME_COUNTS.format(field))
    return " UNION ALL ".join(parts) if first else "".join(" UNION ALL " + p for p in parts)


def _prefetch(values: Mapping[str, Sequence[str]]) -> str:
    return _PREFETCH + _names_sql(values)


def _name_slices(names: Iterable[tuple[str, str]], size: int = 500) -> list[dict[str, list[str]]]:
    """The names by field, in parts of at most ``size`` values per field."""
    by_field: dict[str, list[str]] = {}
    for field, value in sorted(names):
        if value:
            by_field.setdefault(field, []).append(value)
    out: list[dict[str, list[str]]] = []
    for field, values in by_field.items():
        for i, part in enumerate(slices(values, size)):
            if i == len(out):
                out.append({})
            out[i][field] = list(part)
    return out


def stored_records(conn: Connection, student_ids: Iterable[str]) -> dict[str, list[Any]]:
    """The stored matcher records (``ssid_aliases.record``, every version in order) of these students."""
    out: dict[str, list[Any]] = {}
    for part in slices(sorted(set(student_ids))):
        for sid, _, record in _rows(conn, _RECORDS, [part]):
            out.setdefault(sid, []).append(_json(record))
    return out


_RECORDS = "SELECT student_id, version, record FROM ssid_aliases WHERE student_id IN ({}) ORDER BY student_id, version"


def _rows(conn: Connection, sql: str, groups: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """``sql`` with its ``{}``s filled in order, each by one placeholder per value of its group."""
    params = tuple(v for group in groups for v in group)
    marks = iter(placeholders(conn, len(params)))
    text = sql.format(*(", ".join(next(marks) for _ in group) for group in groups))
    if conn.dialect.driver == "aiosqlite":
        return _aiosqlite_rows(conn, text, params)
    return list(conn.exec_driver_sql(text, params))


def _aiosqlite_rows(conn: Connection, text: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The rows of a read on aiosqlite, run on its sqlite3 connection from this thread.

    SQLAlchemy's adapter makes four trips to aiosqlite's thread (cursor, execute, fetch,
    close), and even one (``execute_fetchall``) cost more than a lookup's statement: about
    0.2 ms, a seventh of the slowest lookups at ten million students. The connection is this
    caller's alone while it runs (checked out of the pool, aiosqlite's thread idle: SQLAlchemy
    opens it with ``check_same_thread`` off), so the statement runs here, in the transaction
    the connection is in. What it gives up: while SQLite reads, this thread's event loop waits
    (as it already does while the candidates are scored); a page not in the OS cache is a disk
    read it waits for too. Without that attribute of aiosqlite, one ``execute_fetchall`` trip.
    The transaction starts first, as the first statement through SQLAlchemy would start it (the
    read's ``BEGIN``), so a lookup and what its caller reads next on the connection see one
    snapshot. A failure is run again through SQLAlchemy, so errors surface as they always did."""
    if not conn.in_transaction():
        conn.begin()
    driver = conn.connection.driver_connection
    try:
        if DIRECT_READS:
            direct = getattr(driver, "_conn", None)
            if isinstance(direct, sqlite3.Connection):
                return direct.execute(text, params).fetchall()
        return list(_await(driver.execute_fetchall(text, params)))
    except (sqlite3.Error, ValueError):  # ValueError: aiosqlite's "Connection closed"
        return list(conn.exec_driver_sql(text, params))


#: read on aiosqlite's sqlite3 connection from the calling thread (see ``_aiosqlite_rows``)
DIRECT_READS = True


def _json(value: Any) -> Any:
    """A JSON column read through the driver: text on SQLite and asyncpg, decoded here (orjson:
    the same values as ``json.loads`` gives for what we store, at a third of the cost)."""
    return orjson.loads(value) if isinstance(value, str) else value


def slices(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """Bound parameter lists (SQLite allows 32,766 per statement; PostgreSQL 65,535)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def match_sync(conn: Connection, matcher: Matcher, record: StudentRecord | Standardized) -> Decision:
    """``matcher.match(record)`` with candidates from this (sync) connection, in one query."""
    std = matcher.standardize(record)
    return prefetched(conn, matcher, [std]).match(std)


def prefetched(conn: Connection, matcher: Matcher, queries: Sequence[Standardized], variants: bool = False
               ) -> Matcher:
    """``for_database(conn, matcher)`` with a ``PrefetchedSource`` holding everything the lookups of
    ``queries`` will read: their blocks and, when the name counts come from the database, the
    counts of their names (one statement for a single lookup: each read apart is a trip).
    ``variants``: their variant keys too; without, a lookup that needs them reads them when it does
    (one more statement: most lookups never do, ``blocking.tiers``)."""
    m = for_database(conn, matcher)
    tf = m.frequencies if isinstance(m.frequencies, DbTermFrequencies) else None
    names = {pair for q in queries for pair in lookup_names(q)} if tf is not None else ()
    keys: set[str] = set()
    month_days: dict[str, set[int]] = {}
    for q in queries:
        as_given, rest = tiers(query_keys(q))
        for k in (*as_given, *rest) if variants else as_given:
            keys.add(k.key)
            if k.month_day:
                month_days.setdefault(k.key, set()).add(k.month_day)
    m.source = source = PrefetchedSource(conn, keys, prefetch_limit=matcher.blocking.max_block, names=names,
                                         month_days=month_days)
    if tf is not None:
        tf.prime(source.name_counts)
    return m


def for_database(conn: Connection, matcher: Matcher) -> Matcher:
    """A copy of ``matcher`` with the thresholds for the size of this database's student table, and
    the database's name counts as its term frequencies unless it was given its own."""
    m = copy.copy(matcher)
    m.thresholds = matcher.thresholds.for_population(population(conn))
    if m.frequencies is None:  # a name's share counts once a single occurrence reaches the tf_min_u cap
        m.frequencies = DbTermFrequencies(conn, min_total=round(1 / matcher.params.tf_min_u))
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
