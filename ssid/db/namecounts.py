"""Name counts (the matcher's term frequencies) kept in the database: written with each version, read by lookups.

Why: agreeing on a rare surname is stronger evidence than agreeing on SMITH, and a misspelt first
name no child carries is told from a twin's real one by counting (``ssid.matching.weights``,
``ssid.matching.decide``). Production lookups cannot count millions of aliases each time, so
``ssid_name_counts`` keeps a running count per (field, value), added in the transaction that
stores the version it counts.

What is counted: every stored version (alias) of every student, active or deactivated, by the
standardised value the matcher compares (``TF_VALUE``: ``first_key``, ``last_key``); empty
values are not counted. Counts only ever grow: nothing is deleted in this system (a
modification adds a version, a deactivated student keeps its aliases), so the table always
equals what the aliases give (``count_stored`` over ``ssid_aliases``; migration 6 fills it so).

Writing (``add``): one upsert per call with the rows sorted by (field, value). A common name's
row is touched by every writer; taking those row locks in one order in every transaction means
two writers never deadlock on them (PostgreSQL), and writing them last keeps them held
briefly. ``deferred(conn)`` gathers what a transaction storing many versions adds on ``conn``
(a batch chunk, including rows it decides again through ``SsidStore``) into that one last write.

Reading (``DbTermFrequencies``): what ``TermFrequencies`` answers, read through the connection it
is given and cached per database URL for ``CACHE_TTL`` seconds (as ``candidates.population``):
lookups may see counts up to that old. They are statistics, not facts a decision rests on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from ..matching.standardize import Standardized
from ..matching.weights import TF_VALUE
from ..records import STD_FIELDS, STD_LAYOUT
from .engine import placeholders

log = logging.getLogger(__name__)

#: seconds a process reuses a database's counts and totals before reading them again
CACHE_TTL = 300.0
#: where each counted field's value sits in a stored ``std`` list (after the layout tag)
_STORED_AT = {name: STD_FIELDS.index(attr) + 1 for name, attr in TF_VALUE.items()}

Counts = Counter[tuple[str, str]]  # (field, value) -> how many versions carry it


_COUNTED = tuple(TF_VALUE.items())


def names_of(std: Standardized) -> tuple[tuple[str, str], ...]:
    """The (field, value) pairs one version adds to the counts."""
    out = []
    for name, attr in _COUNTED:  # a plain loop: a legacy load calls this for every row
        value = getattr(std, attr)
        if value:
            out.append((name, value))
    return tuple(out)


def lookup_names(std: Standardized) -> tuple[tuple[str, str], ...]:
    """The (field, value) pairs a lookup of ``std`` may read: its first and last name in their own
    fields and, for the reading with the two given the other way round, in each other's (an agreeing
    name's weight uses the candidate's value, equal to the query's)."""
    first, last = std.first_key, std.last_key
    pairs = (("first_name", first), ("last_name", last), ("first_name", last), ("last_name", first))
    return tuple(p for p in pairs if p[1])


def tally(stds: Iterable[Standardized]) -> Counts:
    """The name counts of these versions (standardised records)."""
    return Counter(pair for std in stds for pair in names_of(std))


def tally_stored(stds: Iterable[Sequence[Any] | Mapping[str, Any] | str]) -> Counts:
    """The name counts of stored ``std`` values (``Indexed.std_json()`` lists, as JSON text or
    decoded; a dict of field names as well). A list of another layout is refused, never misread."""
    out: Counts = Counter()
    for std in stds:
        if isinstance(std, str):
            std = json.loads(std)
        if isinstance(std, Mapping):
            values = [(name, std.get(attr)) for name, attr in TF_VALUE.items()]
        elif std and std[0] == STD_LAYOUT and len(std) == len(STD_FIELDS) + 1:
            values = [(name, std[at]) for name, at in _STORED_AT.items()]
        else:
            raise ValueError(f"a stored standardised record has layout {std[0] if std else '?'!r}, not {STD_LAYOUT!r}")
        for name, value in values:
            if value:
                out[(name, value)] += 1
    return out


_UPSERT = ("INSERT INTO ssid_name_counts (field, value, n) VALUES ({}, {}, {}) "
           "ON CONFLICT (field, value) DO UPDATE SET n = ssid_name_counts.n + excluded.n")
_COUNT = "SELECT n FROM ssid_name_counts WHERE field = {} AND value = {}"
_TOTALS = "SELECT field, sum(n) FROM ssid_name_counts GROUP BY field"

_DEFERRED: ContextVar[tuple[AsyncConnection, Counts] | None] = ContextVar("ssid_name_counts_deferred", default=None)


async def add(conn: AsyncConnection, counts: Mapping[tuple[str, str], int]) -> None:
    """Add ``counts`` in ``conn``'s transaction: one upsert, rows sorted by (field, value).

    Inside ``deferred(conn)`` they are only gathered, and added when that block ends."""
    pending = _DEFERRED.get()
    if pending is not None and pending[0] is conn:
        pending[1].update(counts)
        return
    rows = sorted((name, value, n) for (name, value), n in counts.items() if value and n)
    if rows:
        await conn.exec_driver_sql(_UPSERT.format(*placeholders(conn, 3)), rows)


@contextlib.asynccontextmanager
async def deferred(conn: AsyncConnection) -> AsyncIterator[None]:
    """Gather the counts added on ``conn`` inside the block; add them at its end, unless it fails
    (the transaction then rolls back anyway). Make it the transaction's last write."""
    pending: Counts = Counter()
    token = _DEFERRED.set((conn, pending))
    try:
        yield
    finally:
        _DEFERRED.reset(token)
    await add(conn, pending)


async def fill_from_aliases(conn: AsyncConnection) -> int:
    """Count every stored alias into an empty ``ssid_name_counts`` (migration 6); the versions counted.

    In SQL (millions of aliases): each dialect reads the values out of the stored JSON list.
    Aliases stored in another form (a dict of field names) are counted here in Python; a list
    of another layout is left out with a warning (lookups refuse those aliases too)."""
    if conn.dialect.name == "postgresql":
        def at(i: int) -> str:
            return f"(std->>{i})"
    else:
        def at(i: int) -> str:
            return f"json_extract(std, '$[{i}]')"
    layout_is = f"{at(0)} = '{STD_LAYOUT}'"  # hex digits of our own: a literal, the same for every driver
    parts = " UNION ALL ".join(f"SELECT '{name}' AS field, {at(i)} AS value FROM ssid_aliases WHERE {layout_is}"
                               for name, i in _STORED_AT.items())
    await conn.exec_driver_sql(
        f"INSERT INTO ssid_name_counts (field, value, n) SELECT field, value, count(*) FROM ({parts}) v "
        "WHERE value IS NOT NULL AND value <> '' GROUP BY field, value")
    counted = (await conn.exec_driver_sql(f"SELECT count(*) FROM ssid_aliases WHERE {layout_is}")).scalar() or 0
    other = await conn.exec_driver_sql(f"SELECT std FROM ssid_aliases WHERE {at(0)} IS NULL OR NOT ({layout_is})")
    extra: Counts = Counter()
    stale = 0
    for (std,) in other:
        try:
            extra.update(tally_stored([std]))
            counted += 1
        except ValueError:
            stale += 1
    if stale:
        log.warning("name counts: %d aliases stored with another layout of the standardised record were not "
                    "counted (standardise them again)", stale)
    await add(conn, extra)
    return counted


# ---- reading: a TermFrequencies over the table, cached per database ----

class _Cached:
    """One database's counts as read so far, and its totals (None: not read yet)."""

    __slots__ = ("at", "counts", "totals")

    def __init__(self, at: float) -> None:
        self.at = at
        self.counts: dict[tuple[str, str], int] = {}
        self.totals: dict[str, int] | None = None


_CACHE: dict[str, _Cached] = {}


class DbTermFrequencies:
    """``count``, ``frequency`` and ``totals`` as ``TermFrequencies`` answers them, from ``ssid_name_counts``.

    Reads through ``conn`` (a sync connection: the matcher runs inside ``run_sync``): the counts a
    lookup needs come with its candidates (``prime``), any other value with one point query, one
    ``sum`` per field for the totals, both kept for ``ttl`` seconds per database URL (plain dict
    operations: safe across threads for this use).

    ``min_total``: below that many counted values in a field, ``frequency`` gives None and the
    matcher keeps its parameters' average (a table of ten students says SMITH is a tenth of all
    surnames; ``for_database`` passes ``1 / tf_min_u``, where a single occurrence reaches the cap).
    ``count`` and ``totals`` are always the table's: the rare-name rule needs a large table itself.
    """

    def __init__(self, conn: Connection, *, min_total: int = 0, ttl: float = CACHE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conn = conn
        self.min_total = min_total
        self.ttl = ttl
        self.clock = clock
        self._key = str(conn.engine.url)

    def _cached(self) -> _Cached:
        now = self.clock()
        got = _CACHE.get(self._key)
        if got is None or not 0 <= now - got.at < self.ttl:
            got = _CACHE[self._key] = _Cached(now)
        return got

    @property
    def totals(self) -> Mapping[str, int]:
        cached = self._cached()
        if cached.totals is None:
            totals = dict.fromkeys(TF_VALUE, 0)
            totals.update((name, int(n or 0)) for name, n in self.conn.exec_driver_sql(_TOTALS))
            cached.totals = totals
        return cached.totals

    def prime(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Take these counts, read with the candidates (``candidates.PrefetchedSource``), as current."""
        self._cached().counts.update(counts)

    def count(self, field_name: str, value: str) -> int:
        """How many stored versions carry this value (0 when none or empty)."""
        if not value:
            return 0
        cached = self._cached()
        n = cached.counts.get((field_name, value))
        if n is None:
            n = self.conn.exec_driver_sql(_COUNT.format(*placeholders(self.conn, 2)), (field_name, value)).scalar()
            n = cached.counts[(field_name, value)] = int(n or 0)
        return n

    def frequency(self, field_name: str, value: str) -> float | None:
        total = self.totals.get(field_name, 0)
        if not total or not value or total < self.min_total:
            return None
        return max(self.count(field_name, value), 1) / total


__all__ = ["CACHE_TTL", "DbTermFrequencies", "add", "deferred", "fill_from_aliases", "lookup_names", "tally",
           "tally_stored"]
