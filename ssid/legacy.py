"""Loading the prior system's identifiers and attributes (``slf ssid import-legacy``).

Why it works this way (RFP 1.2, 1.3, 1.21.3):

* **IDs are loaded unaltered** and keep working even when they do not fit the current profile
  (the prior system may have used other formats); each is recorded in the ID registry as
  ``legacy``, so no new ID can ever equal it.
* **All or nothing per row**: a row is checked completely (StudentID, the layout fields, every
  catalogue attribute) before anything of it is written; a bad row is reported with its row
  number, line, column and how to fix it, and nothing of it is loaded. Legacy records are
  kept as they are, so only what the ``import`` task lists is required.
* **A broken file is refused before anything is loaded**: a first pass reads every line
  (encoding, header, quotes that never close) and counts the rows for the progress bar.
* **Idempotent and resumable**: rows are committed in chunks (one transaction per chunk:
  registry, student, first alias, blocking keys and one LEGACY_IMPORT audit row each), and a
  re-run skips every ID already present. After a crash, run the same command again. An ID
  present with other attributes is reported, not changed (use maintenance for that).
* **Millions of rows** (about 4 million in Ohio; benchmarks/ssid_bench.py measures the rate):
  the main process cuts the file into chunks of whole CSV
  records (a record ends at a line end outside quotes) and is the only writer; worker
  processes parse, check, standardise and encode each chunk into plain tuples, which go to the
  driver's executemany as they are (no per-row ORM work), sorted by index key. Without
  workers the same code runs in one process.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from .audit import Actor, ChangeType, mask
from .catalogue import IMPORT, Catalogue
from .config import Settings
from .csvlayout import LayoutError, Row, check_header, header, not_utf8, parse_datetime
from .db import bulkload, namecounts, statistics
from .db.schema import ACTIVE, ids_t, students_t
from .ids import clean_id, id_problems
from .pool import in_order
from .records import index, join_values, split_values
from .store import SsidStore

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "America/New_York"  # the prior system's DateTimeCreated is Ohio local time
MAX_USER_DEFINED = 255
IMPORT_CACHE_KIB = 1 << 20  # SQLite page cache while importing (1 GiB): random-key index inserts

STUDENT_COLUMNS = ("student_id", "status", "first_name", "middle_name", "last_name", "birth_date", "gender",
                   "attributes", "identity_key", "district_irn", "building_irn", "created_by", "created_at",
                   "updated_at", "origin", "import_job", "user_defined", "request_key", "row_version")
ALIAS_COLUMNS = ("student_id", "version", "record", "std", "source", "at")
KEY_COLUMNS = ("key", "student_id", "version", "gender", "first_initial", "month_day")
AUDIT_COLUMNS = ("at", "change_type", "student_id", "old_values", "new_values", "batch_job_id", "user_id",
                 "user_district", "via_slf", "forced_new", "correlation_id", "detail")
IDS_COLUMNS = ("student_id", "kind", "source", "at")


@dataclass(frozen=True)
class RowProblem:
    row: int
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row} (line {self.line}), {self.column}: {self.message}"


class Prepared(NamedTuple):
    """A valid row, ready to write: the values of every table it goes to, JSON already encoded.

    Plain tuples and strings: prepared rows travel back from worker processes and are handed
    to the driver's executemany as they are.
    """

    student_id: str
    line: int
    row: int
    student: tuple[Any, ...]  # STUDENT_COLUMNS
    alias: tuple[Any, ...]  # ALIAS_COLUMNS
    keys: tuple[tuple[Any, ...], ...]  # KEY_COLUMNS rows
    audit_new: str  # the audit row's new values (SSN masked), JSON
    names: tuple[tuple[str, str], ...]  # what the row adds to the name counts (db.namecounts)


@dataclass
class Batch:
    """The prepared rows of one chunk, with the per-table work a writer would otherwise do.

    Built in the worker process, so the single writer only merges and inserts: ``audit[i]`` is
    the audit row of ``rows[i]``; ``keys`` are all rows' blocking-key rows, already sorted (a
    merge of a few sorted runs is cheap, a sort of a quarter of a million tuples is not).
    """

    rows: list[Prepared] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class ImportReport:
    job_id: str
    rows: int = 0
    loaded: int = 0
    already_present: int = 0  # skipped: loaded before (a re-run)
    differing: int = 0  # skipped: present with other attributes (reported)
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _json(value: Any) -> str:
    """Compact JSON text, as ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``
    writes it, four times faster (a fifth of a worker's time went to encoding)."""
    return orjson.dumps(value).decode()


# ---- one row (pure) ----

def check_row(row: Row, catalogue: Catalogue, tz: ZoneInfo, now: float, job: str | None = None,
              width: int | None = None) -> Prepared | list[RowProblem]:
    """Check one row completely and prepare it; pure (no database)."""
    f = row.fields
    problems: list[RowProblem] = []

    def bad(column: str, message: str) -> None:
        problems.append(RowProblem(row.number, row.line, column, message))

    expected = width or len(header(catalogue))
    if row.width != expected:
        bad("(row)", f"has {row.width} fields; the header has {expected}: a field with a comma must be in double "
                     "quotes, and every row needs every column (empty fields are fine)")
        return problems
    for p in id_problems(f["StudentID"]):
        bad("StudentID", p)
    sid = clean_id(f["StudentID"])
    created = now
    if f["DateTimeCreated"].strip():
        dt = parse_datetime(f["DateTimeCreated"])
        if dt is None:
            bad("DateTimeCreated", "is not a date and time: write MM/DD/YYYY HH:MM:SS (e.g. 02/13/2002 04:18:31) "
                                   "or YYYY-MM-DD HH:MM:SS, or leave it empty")
        else:
            created = (dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp()
    for col in ("Building_IRN", "District_IRN"):
        v = f[col].strip()
        if v and not (len(v) == 6 and v.isdigit()):
            bad(col, "must be the 6-digit IRN (e.g. 000123), or empty")
    if len(f["UserID"].strip()) > 64:
        bad("UserID", "is longer than 64 characters: shorten it")
    if len(f["UserDefined"]) > MAX_USER_DEFINED:
        bad("UserDefined", f"is longer than {MAX_USER_DEFINED} characters: shorten it")
    checked = catalogue.check(f, IMPORT)
    for p in checked.problems:
        bad(p.field, p.message)
    if problems:
        return problems
    district = f["District_IRN"].strip() or None
    building = f["Building_IRN"].strip() or None
    ix = index(checked.values, district, building)
    core, extra = split_values(checked.values)
    student = (sid, ACTIVE, core["first_name"], core["middle_name"], core["last_name"], core["birth_date"],
               core["gender"], _json(extra), ix.identity, district, building, f["UserID"].strip() or None, created,
               now, "legacy", job, f["UserDefined"] or None, None, 1)
    alias = (sid, 0, _json(ix.record_json()), _json(ix.std_json()), "legacy", now)
    keys = tuple((k, sid, 0, g, i, md) for k, g, i, md in ix.keys)
    return Prepared(sid, row.line, row.number, student, alias, keys, _json(mask(checked.values)),
                    namecounts.names_of(ix.std))


# ---- cutting the file into chunks of whole records ----

@dataclass(frozen=True)
class Chunk:
    text: str  # whole CSV records
    first_line: int  # physical line of the chunk's first line
    first_row: int  # row number of its first record


def _records(path: Path, expected: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(start line, physical lines) of each record after a valid header; blank lines skipped.

    A record ends at a line end outside double quotes (RFC 4180: a quote inside a quoted field
    is doubled, so counting quotes keeps the parity right).
    """
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise LayoutError(f"{path}: cannot be opened ({exc.strerror})") from None
    with f:
        line_no = 0
        try:
            first = f.readline()
            line_no = 1
            if not first.strip():
                raise LayoutError(f"{path}: the file is empty; the first line must be the header:\n"
                                  f"{','.join(expected)}")
            check_header(next(csv.reader([first])), expected, str(path))
            lines: list[str] = []
            start = 0
            open_quote = False
            for line in f:
                line_no += 1
                if not lines:
                    if not line.strip():
                        continue
                    start = line_no
                lines.append(line)
                if line.count('"') % 2:
                    open_quote = not open_quote
                if not open_quote:
                    yield start, lines
                    lines = []
        except UnicodeDecodeError:
            raise LayoutError(f"{not_utf8(path)}; nothing was loaded") from None
        if lines:
            raise LayoutError(f"{path}: line {start}: a double quote opens a field that is never closed: close it "
                              "(a quote inside a quoted field is written twice: \"\"); nothing was loaded")


def chunks(path: Path, expected: Sequence[str], size: int) -> Iterator[Chunk]:
    """The file's records, ``size`` at a time. Blank lines between records of one chunk are kept
    as empty lines, so each row's physical line (counted from the chunk's first) stays right."""
    parts: list[str] = []
    first_line = first_row = 0
    row = 0
    next_line = 0  # the physical line after the last record
    for start, lines in _records(path, expected):
        row += 1
        if not parts:
            first_line, first_row = start, row
        elif start > next_line:
            parts.append("\n" * (start - next_line))
        parts.extend(lines)
        next_line = start + len(lines)
        if row - first_row + 1 >= size:
            yield Chunk("".join(parts), first_line, first_row)
            parts = []
    if parts:
        yield Chunk("".join(parts), first_line, first_row)


def scan(path: Path, catalogue: Catalogue) -> int:
    """Read the whole file once (header, encoding, unclosed quotes); the number of rows.

    Raises LayoutError, before anything is loaded, for a file that cannot be read to the end.
    """
    return sum(1 for _ in _records(path, header(catalogue)))


def parse_chunk(chunk: Chunk, names: Sequence[str]) -> list[Row | list[RowProblem]]:
    """The records of one chunk as rows (or the problem of a record that is not valid CSV)."""
    reader = csv.reader(io.StringIO(chunk.text, newline=""), strict=True)
    out: list[Row | list[RowProblem]] = []
    number = chunk.first_row
    consumed = 0  # lines of the chunk read so far
    while True:
        line = chunk.first_line + consumed
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            consumed = reader.line_num
            out.append([RowProblem(number, line, "(row)", f"cannot be read as CSV ({exc}): a field with a comma, "
                                                          "quote or line break must be in double quotes, and a quote "
                                                          "inside it written twice (\"\")")])
            number += 1
            continue
        consumed = reader.line_num
        if not fields:
            continue
        out.append(Row(number, line, {n: (fields[i] if i < len(fields) else "") for i, n in enumerate(names)},
                       len(fields)))
        number += 1
    return out


def prepare_chunk(chunk: Chunk, catalogue: Catalogue, tz_name: str, now: float, job: str | None
                  ) -> list[Prepared | list[RowProblem]]:
    """Parse and prepare every record of one chunk (pure)."""
    names = header(catalogue)
    tz = ZoneInfo(tz_name)
    return [r if isinstance(r, list) else check_row(r, catalogue, tz, now, job, len(names))
            for r in parse_chunk(chunk, names)]


def _quiet_gc() -> None:
    """Collect the young generation less often: a bulk load allocates millions of short-lived
    containers, and with the default thresholds a quarter of the time goes to the collector."""
    gc.set_threshold(100_000, 50, 100)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """``_quiet_gc`` while a bulk job runs in this process (a load, a batch file's writer), then
    the thresholds as they were: the process may be a server with other work."""
    threshold = gc.get_threshold()
    _quiet_gc()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def new_job_id(now: float) -> str:
    return f"legacy-{datetime.fromtimestamp(now, timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


# ---- writing ----

_CORE_AT = {c: STUDENT_COLUMNS.index(c) for c in ("first_name", "middle_name", "last_name", "birth_date", "gender",
                                                  "attributes")}


def _values_of(student: tuple[Any, ...]) -> dict[str, str]:
    """The attribute values of a prepared student row (to compare with a stored one)."""
    row = {c: student[i] for c, i in _CORE_AT.items()}
    row["attributes"] = json.loads(row["attributes"])
    return join_values(row)


async def _executemany(conn: AsyncConnection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    style = conn.dialect.paramstyle
    marks = ", ".join(f"${i + 1}" if style == "numeric_dollar" else "%s" if style in ("format", "pyformat") else "?"
                      for i in range(len(columns)))
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    await conn.exec_driver_sql(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", rows)


@dataclass
class ChunkResult:
    """What writing one chunk did (returned by a worker, added up by the importer)."""

    rows: int = 0
    loaded: int = 0
    already_present: int = 0
    differing: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """Everything a chunk needs besides its text (sent once to each worker)."""

    job_id: str
    now: float
    tz_name: str
    actor: Actor
    max_problems: int
    precheck: bool = True  # look IDs up before preparing them (pointless when the database started empty)
    staged: bool = False  # an initial load: blocking keys staged, indexes built at the end (db.bulkload)


_IMPORT_LOCK = 0x551D_1E6A  # PostgreSQL: two imports running at once write in turn (see _write_chunk)


async def prepare_loaded(store: SsidStore, chunk: Chunk, job: _Job) -> tuple[ChunkResult, Batch]:
    """Parse and check one chunk: its counts and problems so far, and the rows to write.

    IDs already in the database are looked up first (a read, outside any write), so a re-run
    only compares their values instead of preparing them again: resuming an interrupted import
    skips the loaded part quickly. ``write_prepared`` checks again inside its transaction.
    """
    catalogue = store.catalogue
    names = header(catalogue)
    tz = ZoneInfo(job.tz_name)
    rows = parse_chunk(chunk, names)
    result = ChunkResult(rows=len(rows))

    def problem(p: RowProblem) -> None:
        if len(result.problems) < job.max_problems:
            result.problems.append(p)

    known: dict[str, tuple[str, dict[str, str], str | None]] = {}
    if job.precheck:
        ids = [clean_id(r.fields["StudentID"]) for r in rows if not isinstance(r, list)]
        async with store.read() as conn:
            known = await _present(conn, ids)
    good: list[Prepared] = []
    in_chunk: dict[str, int] = {}
    for r in rows:
        if not isinstance(r, list):
            sid = clean_id(r.fields["StudentID"])
            stored = known.get(sid)
            if stored is not None and stored[0] == "student" and stored[2] != job.job_id and sid not in in_chunk:
                checked = catalogue.check(r.fields, IMPORT)
                if checked.ok and r.width == len(names):  # loaded before: compare, do not prepare again
                    in_chunk[sid] = r.line
                    if checked.values == stored[1]:
                        result.already_present += 1
                    else:
                        result.differing += 1
                        problem(RowProblem(r.number, r.line, "(row)", _DIFFERING))
                    continue
            r = check_row(r, catalogue, tz, job.now, job.job_id, len(names))
        if isinstance(r, list):
            result.rejected += 1
            for p in r:
                problem(p)
            continue
        earlier = in_chunk.get(r.student_id)
        if earlier is not None:
            result.rejected += 1
            problem(RowProblem(r.row, r.line, "StudentID", f"the same StudentID is on line {earlier}: one row per "
                                                           "ID; merge the rows (this one was not loaded)"))
            continue
        in_chunk[r.student_id] = r.line
        good.append(r)
    a, change = job.actor, str(ChangeType.LEGACY_IMPORT)
    audit = [(job.now, change, r.student_id, None, r.audit_new, job.job_id, a.user_id, a.district_irn, False, False,
              a.correlation_id, f'{{"line":{r.line}}}') for r in good]
    keys = [k for r in good for k in r.keys]
    return result, Batch(good, audit, keys if job.staged else sorted(keys))  # staged keys are sorted at the end


async def write_prepared(store: SsidStore, batches: list[Batch], job: _Job, result: ChunkResult) -> None:
    """Write prepared batches in one transaction (adding to ``result``)."""
    if not any(b.rows for b in batches):
        return

    def problem(p: RowProblem) -> None:
        if len(result.problems) < job.max_problems:
            result.problems.append(p)

    async with store.write() as conn:
        await _write_chunk(conn, batches, job, result, problem)


_DIFFERING = ("this ID is already loaded with other attribute values; it was left unchanged: use `slf ssid modify` "
              "to change a record")


async def _write_chunk(conn: AsyncConnection, batches: list[Batch], job: _Job, result: ChunkResult,
                       problem: Callable[[RowProblem], None]) -> None:
    if conn.dialect.name == "postgresql":
        # imports write in turn, so "is it present?" and the insert see the same state even when
        # two run at once (SQLite: the transaction began IMMEDIATE and holds the write lock)
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _IMPORT_LOCK})
    else:  # a large page cache for this connection: every index is keyed at random
        await conn.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    good = [r for b in batches for r in b.rows]  # file order
    present = await _present(conn, [g.student_id for g in good])
    keep: list[int] = []
    taken: dict[str, int] = {}  # IDs written by this transaction (it may hold several batches)
    for n, g in enumerate(good):
        kind = present.get(g.student_id)
        if kind is None and g.student_id in taken:
            result.rejected += 1
            problem(RowProblem(g.row, g.line, "StudentID", f"the same StudentID is on line {taken[g.student_id]}: "
                                                           "one row per ID; merge the rows (this one was not loaded)"))
        elif kind is None:
            taken[g.student_id] = g.line
            keep.append(n)
        elif kind[0] != "student":
            result.rejected += 1
            problem(RowProblem(g.row, g.line, "StudentID", f"this ID is recorded as {kind[0]} (used without a "
                                                           "student); it was not loaded: check the ID"))
        elif kind[2] == job.job_id:
            result.rejected += 1
            problem(RowProblem(g.row, g.line, "StudentID", "the same StudentID is on another row of this file "
                                                           "(that one was loaded): one row per ID; merge the rows"))
        elif kind[1] != _values_of(g.student):
            result.differing += 1
            problem(RowProblem(g.row, g.line, "(row)", _DIFFERING))
        else:
            result.already_present += 1
    if not keep:
        return
    audit = [a for b in batches for a in b.audit]
    if len(keep) == len(good):
        keys = [k for b in batches for k in b.keys]
    else:
        good, audit = [good[n] for n in keep], [audit[n] for n in keep]
        keys = [k for g in good for k in g.keys]  # the kept rows' own keys (a duplicate ID has others)
    if not job.staged:  # into the key index in key order (sorted runs: a merge); staged keys are sorted at the end
        keys.sort()
    await _insert(conn, good, audit, keys, job)
    result.loaded += len(good)


async def _present(conn: AsyncConnection, ids: list[str]) -> dict[str, tuple[str, dict[str, str], str | None]]:
    """Which of these IDs exist: ("student", values, import job) or (registry kind, {}, None)."""
    out: dict[str, tuple[str, dict[str, str], str | None]] = {}
    style = conn.dialect.paramstyle
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        marks = ", ".join(f"${n + 1}" if style == "numeric_dollar" else "?" for n in range(len(part)))
        found = await conn.exec_driver_sql(f"SELECT student_id, kind FROM ssid_ids WHERE student_id IN ({marks})",
                                           tuple(part))
        for sid, kind in found.all():  # plain SQL: this runs for every chunk, twice
            out[sid] = (kind, {}, None)
        have = [sid for sid in part if sid in out]
        if have:
            for r in (await conn.execute(select(students_t).where(students_t.c.student_id.in_(have)))).all():
                out[r.student_id] = ("student", join_values(dict(r._mapping)), r.import_job)
    return out


async def _insert(conn: AsyncConnection, rows: list[Prepared], audit: list[tuple[Any, ...]],
                  keys: list[tuple[Any, ...]], job: _Job) -> None:
    """Five executemany statements straight to the driver (no per-row SQLAlchemy work), then the name counts.

    Rows go in sorted by the key of the B-tree they land in (student ID; blocking key): each
    index page is then visited once per transaction, in order, instead of at random; at a
    million rows and more that is most of the cost of an insert.
    """
    order = sorted(range(len(rows)), key=lambda n: rows[n].student_id)
    await _executemany(conn, "ssid_ids", IDS_COLUMNS,
                       [(rows[n].student_id, "legacy", job.job_id, job.now) for n in order])
    await _executemany(conn, "ssid_students", STUDENT_COLUMNS, [rows[n].student for n in order])
    await _executemany(conn, "ssid_aliases", ALIAS_COLUMNS, [rows[n].alias for n in order])
    await _executemany(conn, bulkload.STAGE if job.staged else "ssid_block_keys", KEY_COLUMNS, keys)
    await _executemany(conn, "ssid_audit", AUDIT_COLUMNS, [audit[n] for n in order])
    # last, sorted: a common name's row is every writer's, its lock held briefly
    await namecounts.add(conn, Counter(pair for r in rows for pair in r.names))


# ---- worker processes: each prepares whole chunks; this process writes them ----

_worker: dict[str, Any] = {}


def _worker_start(url: str, settings: Settings, job: _Job) -> None:
    _quiet_gc()
    loop = asyncio.new_event_loop()
    _worker.update(loop=loop, store=SsidStore.from_url(url, settings), job=job)


def _worker_prepare(chunk: Chunk) -> tuple[ChunkResult, Batch]:
    return _worker["loop"].run_until_complete(prepare_loaded(_worker["store"], chunk, _worker["job"]))


#: rows per preparation batch (what a worker handles at a time); transactions group several
PREPARE_ROWS = 5_000
#: rows of the first transaction (the next ones double up to chunk_size)
FIRST_TRANSACTION_ROWS = 25_000


class LegacyImporter:
    """``await LegacyImporter(store, workers=2).run(path, progress=...) -> ImportReport``.

    ``chunk_size`` is the number of rows per transaction (default: ``[ssid] import_chunk_size``).
    Large transactions matter at millions of rows: every commit rewrites each index page it
    touched (WAL, then the checkpoint), and rows spread at random over large indexes touch
    nearly every page; 50,000 rows per commit measured twice the throughput of 5,000 at one
    million rows, and 200,000 loaded 4 million rows in 315 s instead of 360 s.

    With ``workers`` ≥ 1, that many processes (started fresh: no state is inherited) parse,
    check, standardise and encode whole chunks; this process cuts the file into chunks and
    writes the prepared rows, one transaction per chunk, in file order. One writer because
    SQLite's page cache belongs to a connection and is dropped whenever another connection
    commits: with several writers every chunk would start from a cold cache, and the indexes
    of millions of rows do not stay warm that way (measured: 5,000 rows/s at 1 million with two
    writing workers). The SQLite driver releases the GIL while it works, so writing a chunk and
    receiving the next prepared one overlap. With 0 workers everything runs here.
    """

    def __init__(self, store: SsidStore, *, actor: Actor | None = None, chunk_size: int | None = None,
                 workers: int = 0, timezone_name: str = DEFAULT_TIMEZONE, max_problems: int = 100_000) -> None:
        self.store = store
        self.actor = actor or Actor("legacy-import")
        self.chunk_size = chunk_size or store.settings.import_chunk_size
        self.workers = workers
        self.tz_name = timezone_name
        self.max_problems = max_problems

    async def run(self, path: Path, progress: Callable[[int, int], None] | None = None) -> ImportReport:
        """Load the file; ``progress(rows_done, total_rows)`` after each transaction."""
        started = time.perf_counter()
        catalogue = self.store.catalogue
        total = scan(path, catalogue)  # refuses a broken file before anything is written
        now = self.store.clock()
        async with self.store.write() as conn:
            await bulkload.finish(conn)  # an interrupted initial load first
            empty = (await conn.execute(select(ids_t.c.student_id).limit(1))).first() is None
            staged = empty and bulkload.stages(conn)
            if staged:
                await bulkload.begin(conn)
        job = _Job(new_job_id(now), now, self.tz_name, self.actor, self.max_problems, precheck=not empty,
                   staged=staged)
        report = ImportReport(job.job_id)
        parts = chunks(path, header(catalogue), min(PREPARE_ROWS, self.chunk_size))
        with quiet_gc():
            if self.workers >= 1 and ":memory:" not in str(self.store.engine.url):
                batches = self._in_workers(parts, job)
            else:
                batches = self._here(parts, job)
            group: list[tuple[ChunkResult, Batch]] = []
            async for batch in batches:
                group.append(batch)
                # transactions start small and double up to chunk_size: the writer starts at once
                # instead of waiting for a whole transaction's rows while the workers warm up
                if sum(r.rows for r, _ in group) >= min(self.chunk_size, max(FIRST_TRANSACTION_ROWS, report.rows)):
                    await self._write(group, job, report, progress, total)
                    group = []
            if group:
                await self._write(group, job, report, progress, total)
        if staged:
            log.info("legacy import %s: indexing the blocking keys of %d students", job.job_id, report.loaded)
            async with self.store.write() as conn:
                await bulkload.finish(conn)
        if report.loaded:
            log.info("legacy import %s: gathering the planner's statistics", job.job_id)
            await statistics.refresh(self.store.engine)
        report.problems.sort(key=lambda p: (p.row, p.column))
        report.seconds = time.perf_counter() - started
        log.info("legacy import %s: %d rows, %d loaded, %d present, %d differing, %d rejected in %.1f s", job.job_id,
                 report.rows, report.loaded, report.already_present, report.differing, report.rejected, report.seconds)
        return report

    async def _write(self, group: list[tuple[ChunkResult, Batch]], job: _Job, report: ImportReport,
                     progress: Callable[[int, int], None] | None, total: int) -> None:
        """One transaction for the prepared batches of ``group``; add everything to the report."""
        result = ChunkResult()
        for r, _ in group:
            result.rows += r.rows
            result.already_present += r.already_present
            result.differing += r.differing
            result.rejected += r.rejected
            result.problems.extend(r.problems)
        await write_prepared(self.store, [batch for _, batch in group], job, result)
        report.rows += result.rows
        report.loaded += result.loaded
        report.already_present += result.already_present
        report.differing += result.differing
        report.rejected += result.rejected
        report.problems.extend(result.problems[:max(self.max_problems - len(report.problems), 0)])
        if progress is not None:
            progress(report.rows, total)

    async def _here(self, parts: Iterator[Chunk], job: _Job):
        for chunk in parts:
            yield await prepare_loaded(self.store, chunk, job)

    async def _in_workers(self, parts: Iterator[Chunk], job: _Job):
        url = self.store.engine.url.render_as_string(hide_password=False)
        # batches in flight: the next transaction's rows are prepared while this one is written
        ahead = self.workers * 2 + 2 * -(-self.chunk_size // PREPARE_ROWS)
        async for prepared in in_order(parts, _worker_prepare, workers=self.workers, initializer=_worker_start,
                                       initargs=(url, self.store.settings, job), ahead=ahead):
            yield prepared


__all__ = ["Batch", "Chunk", "ChunkResult", "prepare_loaded", "write_prepared", "ImportReport", "LayoutError", "LegacyImporter", "Prepared", "RowProblem", "check_row",
           "chunks", "prepare_chunk", "scan"]
