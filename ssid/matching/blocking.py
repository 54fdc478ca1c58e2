"""Multi-pass blocking: which stored records are worth scoring against a query.

Scoring every student is impossible at 10 million, so candidates come from several indexed
keys, unioned; each key survives a different kind of error (a surname change, a nickname, a
birth-date typo, a day/month swap, first and last given the other way round). A key whose
block is too large is tightened (gender, then first initial) and, if still too large, cut;
both are reported in the result: candidates are never dropped silently, because a silently
empty candidate list means a duplicate ID.

The year + names key (YLF) is there for a birth date with one slip in its month or its day
(the other keys need the whole date, or month and day). It reads only the rows whose birth
month or day is one of the query's month and day, in either place (``shares_month_or_day``):
a slip keeps one of the two, read as given or with day and month swapped, and at state scale
a common name born in one year is hundreds of children, most of a lookup's candidates, none
of whom such a slip could make. Rows left aside by that rule are not found by the key, as
rows of another year are not: they are no part of its block, and not reported as left out.

The query-time variants (the birth date with day and month swapped, first and last name the
other way round) are a second tier (``tiers``): the engine reads them only when the keys as
given lead to no automatic match, or to one whose first name, last name or birth date differs
from the query's. They exist to recover a record keyed with such an error, and a student the
keys as given match on names and birth date needs no recovering; yet at ten million students
they were a third of a slow lookup's candidates (people born on the swapped date with the same
first or last name), read, decoded and scored for nothing. When the variants are read, the
candidates are all the keys' together, exactly as if every key had been read at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from .nicknames import canonical_first_names
from .phonetic import phonetic
from .pickled import reduce_frozen
from .standardize import Standardized, StudentRecord, standardize

# pass names (the first field of every key string)
BIRTH_LAST = "BL"  # birth date + phonetic of each last-name token
BIRTH_FIRST = "BF"  # birth date + phonetic of the canonical first name
YEAR_LAST_FIRST = "YLF"  # birth year + phonetic(last) + phonetic(first), and the birth month or day
MONTHDAY_LAST_FIRST = "MLF"  # birth month/day + phonetic(last) + phonetic(first): survives a year typo
SSN = "SSN"

AS_GIVEN, DAY_MONTH_SWAP, NAME_SWAP = "", "day_month_swap", "name_swap"


@dataclass(frozen=True)
class _Parts:
    birth_date: date | None
    last_codes: tuple[str, ...]
    first_codes: tuple[str, ...]
    ssn: str

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


def _parts(r: Standardized) -> _Parts:
    return _Parts(r.birth_date, r.last_token_phonetics, r.canonical_phonetics, r.ssn)


def _swapped_names(r: Standardized) -> _Parts:
    """First and last given the other way round: the query's first name plays the surname."""
    last_codes = {phonetic(t) for t in r.first_key.split()}
    if len(r.first_key.split()) > 1:
        last_codes.add(phonetic(r.first_key))
    first_codes = {phonetic(c) for c in canonical_first_names(r.last_key)} if r.last_key else set()
    return _Parts(r.birth_date, tuple(sorted(c for c in last_codes if c)),
                  tuple(sorted(c for c in first_codes if c)), "")


def _keys(p: _Parts, with_ssn: bool = True) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    d = p.birth_date
    if d is not None:
        ymd, year, md = f"{d.year:04d}{d.month:02d}{d.day:02d}", f"{d.year:04d}", f"{d.month:02d}{d.day:02d}"
        out += [(BIRTH_LAST, f"{BIRTH_LAST}|{ymd}|{lc}") for lc in p.last_codes]
        out += [(BIRTH_FIRST, f"{BIRTH_FIRST}|{ymd}|{fc}") for fc in p.first_codes]
        for lc in p.last_codes:
            for fc in p.first_codes:
                out.append((YEAR_LAST_FIRST, f"{YEAR_LAST_FIRST}|{year}|{lc}|{fc}"))
                out.append((MONTHDAY_LAST_FIRST, f"{MONTHDAY_LAST_FIRST}|{md}|{lc}|{fc}"))
    if with_ssn and p.ssn:
        out.append((SSN, f"{SSN}|{p.ssn}"))
    return out


def record_keys(record: Standardized) -> tuple[str, ...]:
    """The key strings to index a stored record (one version of a student) under."""
    return tuple(dict.fromkeys(k for _, k in _keys(_parts(record))))


def month_day(d: date) -> int:
    """A birth date's month and day as one number (``month * 100 + day``), as key rows store it."""
    return d.month * 100 + d.day


@lru_cache(maxsize=512)  # asked for every YLF row a lookup reads; there are 372 month_days
def rule_values(query: int) -> tuple[frozenset[int], frozenset[int]]:
    """The birth months and the days a YLF row may have for a query's ``month_day``: its month
    and its day, each also in the other's place (a day above 12 is no month)."""
    month, day = divmod(query, 100)
    return frozenset((month, day) if day <= 12 else (month,)), frozenset((day, month))


def shares_month_or_day(stored: int | None, query: int) -> bool:
    """The YLF rule: whether a stored row (``month_day``; None, unknown: always read) belongs to
    the block of a query with this ``month_day``."""
    if stored is None:
        return True
    months, days = rule_values(query)
    return stored // 100 in months or stored % 100 in days


@dataclass(frozen=True)
class QueryKey:
    """One key to look up for a query, with the narrowing values it would be tightened by."""

    key: str
    pass_name: str
    variant: str = AS_GIVEN  # "", "day_month_swap" or "name_swap"
    gender: str = ""
    first_initial: str = ""
    month_day: int = 0  # YLF: only rows sharing this birth month or day (``month_day()``); 0: every row

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


def query_keys(query: Standardized) -> tuple[QueryKey, ...]:
    """Keys to look up for a query: as given, then the day/month-swapped and name-swapped variants.

    Cached: a lookup asks twice (to prefetch its blocks, then to gather them), and the keys
    depend only on fields that take part in ``Standardized``'s equality and hash."""
    try:
        return _query_keys_cached(query)
    except TypeError:  # a hand-built record holding a list: not hashable, not cached
        return _query_keys(query)


def _query_keys(query: Standardized) -> tuple[QueryKey, ...]:
    base = _parts(query)
    initial = query.first_key[:1]
    out: dict[str, QueryKey] = {}

    def add(parts: _Parts, variant: str, first_initial: str, with_ssn: bool = True) -> None:
        md = month_day(parts.birth_date) if parts.birth_date is not None else 0
        for pass_name, key in _keys(parts, with_ssn):
            out.setdefault(key, QueryKey(key, pass_name, variant, query.gender, first_initial,
                                         md if pass_name == YEAR_LAST_FIRST else 0))

    add(base, AS_GIVEN, initial)
    d = query.birth_date
    if d is not None and d.day <= 12 and d.day != d.month:
        try:
            swapped = date(d.year, d.day, d.month)
        except ValueError:
            swapped = None
        if swapped is not None:
            add(replace(base, birth_date=swapped), DAY_MONTH_SWAP, initial, with_ssn=False)
    if query.first_key and query.last_key:
        add(_swapped_names(query), NAME_SWAP, query.last_key[:1], with_ssn=False)
    return tuple(out.values())


_query_keys_cached = lru_cache(maxsize=8192)(_query_keys)  # a batch chunk asks for each row's keys three times


def tiers(keys: Sequence[QueryKey]) -> tuple[tuple[QueryKey, ...], tuple[QueryKey, ...]]:
    """(the keys as given, the error variants): a lookup reads the variants only when the keys as
    given lead to no automatic match, or to one that differs from the query in a name or the
    birth date (``Matcher.match``)."""
    return tuple(k for k in keys if k.variant == AS_GIVEN), tuple(k for k in keys if k.variant != AS_GIVEN)


# ---- the candidate source: implemented by the database layer, and in memory below ----

@dataclass(frozen=True)
class Narrowing:
    """Extra conditions on a key: rows whose gender / first initial equal these, or are blank."""

    gender: str = ""
    first_initial: str = ""

    def describe(self) -> tuple[str, ...]:
        return tuple(n for n, v in (("gender", self.gender), ("first_initial", self.first_initial)) if v)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class BlockRequest:
    key: str
    narrowing: Narrowing = Narrowing()
    limit: int = 500
    month_day: int = 0  # YLF: rows sharing this birth month or day only (see the module docstring)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class CandidateRow:
    """One stored version (alias) of a student: its standardised record."""

    student_id: str
    version: int
    record: Standardized

    def __init__(self, student_id: str, version: int, record: Standardized) -> None:
        # written out, not generated (``native``: hot constructors)
        object.__setattr__(self, "student_id", student_id)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "record", record)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class Block:
    """The rows of one request: at most ``limit`` rows, and how many matched in all."""

    rows: tuple[CandidateRow, ...]
    total: int

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


class CandidateSource(Protocol):
    """What the database layer implements. For each request, in order: ``total`` = the number
    of stored rows indexed under ``key`` that satisfy ``narrowing`` (blank gender or first name
    on a row satisfies it) and, with ``month_day``, ``shares_month_or_day``; ``rows`` = the first
    ``min(total, limit)`` of them in a stable order. All requests of one call may be answered
    with one round trip."""

    def fetch(self, requests: Sequence[BlockRequest]) -> Sequence[Block]: ...


@dataclass(frozen=True)
class BlockingConfig:
    max_block: int = 500  # rows per key before it is tightened

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class KeyReport:
    """What one key returned: ``left_out`` rows under the plain key were not scored because
    the key was narrowed (``narrowed_by``) and, if ``truncated``, cut at the block limit."""

    key: str
    pass_name: str
    variant: str
    total: int
    returned: int
    narrowed_by: tuple[str, ...] = ()
    truncated: bool = False

    @property
    def left_out(self) -> int:
        return self.total - self.returned

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "pass_name": self.pass_name, "variant": self.variant, "total": self.total,
                "returned": self.returned, "narrowed_by": list(self.narrowed_by), "truncated": self.truncated,
                "left_out": self.left_out}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KeyReport:
        return cls(str(d["key"]), str(d["pass_name"]), str(d["variant"]), int(d["total"]), int(d["returned"]),
                   tuple(d.get("narrowed_by") or ()), bool(d["truncated"]))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


@dataclass(frozen=True)
class Candidates:
    """Rows found for a query, grouped by student, with the keys that found each student."""

    rows: dict[str, list[CandidateRow]] = field(default_factory=dict)
    found_by: dict[str, list[str]] = field(default_factory=dict)
    reports: tuple[KeyReport, ...] = ()

    @property
    def incomplete(self) -> bool:
        """True when some stored row under a looked-up key was not scored."""
        return any(r.left_out > 0 for r in self.reports)

    @property
    def left_out(self) -> int:
        return sum(r.left_out for r in self.reports)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a constructor call (pickled.py)
        return reduce_frozen(self)


def gather(keys: Sequence[QueryKey], source: CandidateSource, config: BlockingConfig = BlockingConfig(),
           prior: Candidates | None = None) -> Candidates:
    """Look every key up (one batch per tightening round) and union the rows by student.

    ``prior``: the candidates of keys looked up before (the as-given keys); the result is theirs
    and these keys' together, exactly as one call with all the keys in that order gives."""
    limit = config.max_block
    results: dict[int, tuple[Block, Narrowing, int]] = {}  # key index -> block, narrowing, plain total
    pending = list(range(len(keys)))
    narrowings = [_narrowings(k.gender, k.first_initial) for k in keys]
    step = 0
    while pending:
        requests = [BlockRequest(keys[i].key, narrowings[i][step], limit, keys[i].month_day) for i in pending]
        blocks = source.fetch(requests)
        again = []
        for i, block in zip(pending, blocks):
            plain_total = block.total if step == 0 else results[i][2]
            results[i] = (block, narrowings[i][step], plain_total)
            if block.total > limit and step + 1 < len(narrowings[i]):
                again.append(i)
        pending = again
        step += 1
    rows: dict[str, list[CandidateRow]] = {}
    found_by: dict[str, list[str]] = {}
    seen: set[tuple[str, int]] = set()
    reports = []
    if prior is not None:
        rows = {sid: list(versions) for sid, versions in prior.rows.items()}
        found_by = {sid: list(found) for sid, found in prior.found_by.items()}
        seen = {(sid, r.version) for sid, versions in rows.items() for r in versions}
        reports = list(prior.reports)
    for i, k in enumerate(keys):
        block, narrowing, plain_total = results[i]
        reports.append(KeyReport(k.key, k.pass_name, k.variant, plain_total, len(block.rows),
                                 () if narrowing is _PLAIN else narrowing.describe(), block.total > len(block.rows)))
        for row in block.rows:
            found = found_by.setdefault(row.student_id, [])
            if not found or found[-1] != k.key:
                found.append(k.key)
            if (row.student_id, row.version) not in seen:
                seen.add((row.student_id, row.version))
                rows.setdefault(row.student_id, []).append(row)
    return Candidates(rows, found_by, tuple(reports))


_PLAIN = Narrowing()


@lru_cache(maxsize=1024)
def _narrowings(gender: str, first_initial: str) -> tuple[Narrowing, ...]:
    """The plain key, then the tightening steps a key with these values may take (shared: immutable)."""
    steps = [_PLAIN]
    if gender:
        steps.append(Narrowing(gender=gender))
    if first_initial:
        steps.append(Narrowing(gender=gender, first_initial=first_initial))
    return tuple(steps)


class InMemoryIndex:
    """A CandidateSource over a dict of key → rows, for tests, benchmarks and small tools."""

    def __init__(self) -> None:
        self._blocks: dict[str, list[CandidateRow]] = {}
        self._versions: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(self._versions.values())

    def add(self, student_id: str, record: StudentRecord | Standardized) -> CandidateRow:
        """Index one version of a student (call again with another record for an alias)."""
        std = record if isinstance(record, Standardized) else standardize(record)
        version = self._versions.get(student_id, 0)
        self._versions[student_id] = version + 1
        row = CandidateRow(student_id, version, std)
        for key in record_keys(std):
            self._blocks.setdefault(key, []).append(row)
        return row

    def add_many(self, items: Iterable[tuple[str, StudentRecord | Standardized]]) -> None:
        for student_id, record in items:
            self.add(student_id, record)

    def block_sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self._blocks.items()}

    def fetch(self, requests: Sequence[BlockRequest]) -> list[Block]:
        out = []
        for req in requests:
            rows = self._blocks.get(req.key, ())
            if req.month_day:
                rows = [r for r in rows if shares_month_or_day(
                    month_day(r.record.birth_date) if r.record.birth_date else None, req.month_day)]
            g, ini = req.narrowing.gender, req.narrowing.first_initial
            if g or ini:
                rows = [r for r in rows if (not g or not r.record.gender or r.record.gender == g)
                        and (not ini or not r.record.first_key or r.record.first_key[0] == ini)]
            out.append(Block(tuple(rows[:req.limit]), len(rows)))
        return out
