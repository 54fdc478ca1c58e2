"""District batch files (``slf ssid batch IN.csv --out OUT.csv``; Supplement Two D, RFP 1.19–1.20).

Why it works this way:

* **One layout, one reader.** Input is the layout of ``ssid.csvlayout`` (the legacy import's),
  read with the legacy importer's own pieces: ``legacy.scan`` reads the whole file first
  (encoding, header, quotes that never close) and counts the rows, so a bad file is refused
  before any row is decided or any output written; ``legacy.chunks`` / ``legacy.parse_chunk``
  then hand out the rows with their row and line numbers.
* **One row in, one row out, in order.** The output has the input's columns (each field echoed
  as given, StudentID filled where known) plus ``ResultCode`` and ``ResultMessage``. A row that
  cannot even be read as CSV still gets its output row (REJECTED).
* **The same decision as the SLF poller.** ``decide_record`` validates for the "retrieve" task,
  asks the matcher (``db.candidates.match``), and on no match checks the "generate" task and
  issues an ID with ``SsidStore.create_student`` — the poller's steps, with the ResultCodes of
  the batch layout instead of SLF statuses.
* **Idempotent.** Each row's request key is ``batch:<SHA-256 of the file's bytes>:<row>``; a
  re-run of the same file finds the students it created by their request key and reports them
  again (NEW, same ID), so no second ID is ever issued for a row.
* **Rows of one chunk share one write transaction** and are decided one after the other inside
  it, so a student who appears twice in the same file is matched to the ID the first row got,
  not given two IDs.
* **Output appears complete or not at all**: written to a temporary file beside the target,
  fsynced, then renamed (the extracts' pattern).
* Every audit row written by a batch carries the batch job id (``Actor.batch_job_id``).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from .audit import Actor
from .catalogue import GENERATE, RETRIEVE, Problem
from .csvlayout import LayoutError, Row, header, parse_datetime
from .db.candidates import DbCandidateSource
from .db.schema import ACTIVE, aliases_t, block_keys_t, students_t
from .ids import clean_id
from .legacy import MAX_USER_DEFINED, RowProblem, chunks, parse_chunk, scan
from .matching import Block, BlockRequest, CandidateRow, Decision, Matcher, Outcome, StudentRecord
from .matching.compare import Level
from .records import MATCH_FIELDS, match_record, standardized_from_json
from .store import InvalidRecord, Refused, SsidError, SsidStore

log = logging.getLogger(__name__)

MATCH, NEW, POTENTIAL, VALID, MISMATCH, INACTIVE, REJECTED = (
    "MATCH", "NEW", "POTENTIAL", "VALID", "MISMATCH", "INACTIVE", "REJECTED")
RESULT_CODES = (MATCH, NEW, POTENTIAL, VALID, MISMATCH, INACTIVE, REJECTED)

#: default limits (a file over them is refused before anything is processed)
MAX_BYTES = 2 << 30  # 2 GiB
MAX_ROWS = 1_000_000
#: rows decided per write transaction
CHUNK_ROWS = 500

_TASK_PHRASES = {RETRIEVE: "retrieve a student ID", GENERATE: "generate a new student ID"}
#: the matcher's field names → the batch file's column names (for "which fields differ")
_COLUMN_OF = {v: k for k, v in MATCH_FIELDS.items()}
_AGREE = {str(Level.EXACT), str(Level.MISSING)}


@dataclass(frozen=True)
class RowResult:
    code: str
    student_id: str | None
    message: str


@dataclass
class BatchReport:
    job_id: str
    input: str
    output: str
    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    sha256: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def new_job_id(now: float) -> str:
    return f"batch-{datetime.fromtimestamp(now, timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def request_key(sha256: str, row: int) -> str:
    """The idempotency key of one row of one file (the same bytes give the same keys)."""
    return f"batch:{sha256[:40]}:{row}"


# ---- messages ----

def problems_message(problems: Sequence[Problem], task: str) -> str:
    """Which fields are missing or invalid, then how to fix each (a REJECTED row's message)."""
    missing = list(dict.fromkeys(p.field for p in problems if p.code == "missing"))
    invalid = list(dict.fromkeys(p.field for p in problems if p.code != "missing"))
    head = []
    if missing:
        head.append(f"missing {', '.join(missing)}")
    if invalid:
        head.append(f"invalid {', '.join(invalid)}")
    what = "Insufficient data" if not invalid else "Invalid data" if not missing else "Insufficient or invalid data"
    text = f"{what} to {_TASK_PHRASES.get(task, task)}: {'; '.join(head)}."
    return text + "".join(f" {p.field} {p.message}." for p in problems) + " Correct the row and submit it again."


def layout_problems(row: Row, width: int) -> list[Problem]:
    """Problems of the layout's own columns (not the catalogue attributes)."""
    f = row.fields
    out: list[Problem] = []
    if row.width != width:
        out.append(Problem("(row)", "bad_format", f"has {row.width} fields; the header has {width}: a field with a "
                                                  "comma must be in double quotes, and every row needs every column "
                                                  "(empty fields are fine)"))
        return out
    if f["DateTimeCreated"].strip() and parse_datetime(f["DateTimeCreated"]) is None:
        out.append(Problem("DateTimeCreated", "bad_format", "is not a date and time: write MM/DD/YYYY HH:MM:SS or "
                                                            "YYYY-MM-DD HH:MM:SS, or leave it empty"))
    for col in ("Building_IRN", "District_IRN"):
        v = f[col].strip()
        if v and not (len(v) == 6 and v.isdigit()):
            out.append(Problem(col, "bad_format", "must be the 6-digit IRN (e.g. 000123), or empty"))
    if len(f["UserID"].strip()) > 64:
        out.append(Problem("UserID", "too_long", "is longer than 64 characters: shorten it"))
    if len(f["UserDefined"]) > MAX_USER_DEFINED:
        out.append(Problem("UserDefined", "too_long", f"is longer than {MAX_USER_DEFINED} characters: shorten it"))
    return out


def _differing(candidate) -> list[str]:
    """Column names of the fields on which a scored candidate does not agree exactly."""
    out = []
    for fs in candidate.fields:
        if fs.field in _COLUMN_OF and fs.level not in _AGREE:
            out.append(_COLUMN_OF[fs.field])
    return out


# ---- candidates in few round trips ----

class BulkCandidateSource:
    """``DbCandidateSource``'s answers with three queries per lookup instead of two per key.

    Same contract (``ssid.matching.CandidateSource``): for each request the exact number of
    *active* rows under the key and narrowing, and the first ``limit`` in (student, version)
    order. A key whose raw size exceeds ``hot`` rows is handed to ``DbCandidateSource`` (which
    counts and cuts in SQL), so a hot block is never read whole.
    """

    def __init__(self, conn: Connection, hot: int = 2_000) -> None:
        self.conn = conn
        self.hot = hot
        self.fallback = DbCandidateSource(conn)

    def fetch(self, requests: Sequence[BlockRequest]) -> list[Block]:
        k, s, a = block_keys_t.c, students_t.c, aliases_t.c
        keys = sorted({r.key for r in requests})
        sizes = dict(self.conn.execute(select(k.key, func.count()).where(k.key.in_(keys)).group_by(k.key)).all())
        small = [key for key in keys if 0 < sizes.get(key, 0) <= self.hot]
        by_key: dict[str, list[tuple[str, int, str, str]]] = {}
        if small:
            q = (select(k.key, k.student_id, k.version, k.gender, k.first_initial)
                 .select_from(block_keys_t.join(students_t, s.student_id == k.student_id))
                 .where(k.key.in_(small), s.status == ACTIVE))
            for key, sid, version, gender, initial in self.conn.execute(q):
                by_key.setdefault(key, []).append((sid, version, gender or "", initial or ""))
        out: list[Block | None] = []
        chosen: list[list[tuple[str, int]]] = []
        hot: list[int] = []
        for i, req in enumerate(requests):
            size = sizes.get(req.key, 0)
            if size == 0:
                out.append(Block((), 0))
                chosen.append([])
                continue
            if size > self.hot:
                hot.append(i)
                out.append(None)
                chosen.append([])
                continue
            g, fi = req.narrowing.gender, req.narrowing.first_initial
            rows = sorted((sid, v) for sid, v, gender, initial in by_key.get(req.key, ())
                          if (not g or gender in (g, "")) and (not fi or initial in (fi, "")))
            out.append(Block((), len(rows)))
            chosen.append(rows[:req.limit])
        wanted = sorted({sid for rows in chosen for sid, _ in rows})
        records: dict[tuple[str, int], Any] = {}
        for n in range(0, len(wanted), 500):
            q = select(a.student_id, a.version, a.std, a.record).where(a.student_id.in_(wanted[n:n + 500]))
            for sid, version, std, record in self.conn.execute(q):
                records[(sid, version)] = (std, record)
        decoded: dict[tuple[str, int], CandidateRow] = {}

        def row(sid: str, version: int) -> CandidateRow:
            got = decoded.get((sid, version))
            if got is None:
                std, record = records[(sid, version)]
                got = decoded[(sid, version)] = CandidateRow(sid, version, standardized_from_json(std, record))
            return got

        for i, rows in enumerate(chosen):
            block = out[i]
            if block is not None and rows:
                out[i] = Block(tuple(row(sid, v) for sid, v in rows), block.total)
        if hot:
            for i, block in zip(hot, self.fallback.fetch([requests[i] for i in hot])):
                out[i] = block
        return [b if b is not None else Block((), 0) for b in out]


async def bulk_match(conn: AsyncConnection, matcher: Matcher, record: StudentRecord) -> Decision:
    """``db.candidates.match`` with ``BulkCandidateSource`` (the same decision, fewer round trips)."""
    def run(sync_conn: Connection) -> Decision:
        m = copy.copy(matcher)
        m.source = BulkCandidateSource(sync_conn)
        return m.match(record)

    return await conn.run_sync(run)


# ---- deciding one record (the poller's steps, as ResultCodes) ----

async def decide_record(store: SsidStore, conn: AsyncConnection, matcher: Matcher, fields: Mapping[str, str], *,
                        actor: Actor, group: str | None = None, key: str | None = None,
                        district: str | None = None, building: str | None = None,
                        source: str = "batch") -> RowResult:
    """Decide one submitted record inside the caller's write transaction ``conn``.

    With a StudentID: VALID / MISMATCH / INACTIVE (or REJECTED for an unknown ID). Without:
    validate ("retrieve") → match → MATCH (alias remembered) / POTENTIAL (nothing issued) /
    NO_MATCH → validate ("generate") → NEW (``create_student`` with ``request_key=key``).
    The SLF poller could call this with its own connection and map MATCH → 3, NEW → 4,
    POTENTIAL → 7 and REJECTED → 10.
    """
    given = clean_id(fields.get("StudentID") or "")
    checked = store.catalogue.check(fields, RETRIEVE, group)
    if given:
        return await _check_given(store, conn, matcher, given, checked)
    if not checked.ok:
        return RowResult(REJECTED, None, problems_message(checked.problems, RETRIEVE))
    decision = await bulk_match(conn, matcher, match_record(checked.values, district, building))
    if decision.outcome == Outcome.MATCH and decision.student_id:
        sid = await store.active_id(decision.student_id, conn) or decision.student_id
        try:
            await store.add_alias(conn, sid, fields, actor, source=source, district_irn=district,
                                  building_irn=building)
        except InvalidRecord:  # an optional attribute in a bad format: the match stands
            pass
        best = decision.candidates[0] if decision.candidates else None
        conf = f" (confidence {best.confidence:.3f})" if best else ""
        return RowResult(MATCH, sid, f"Existing student ID found{conf}.")
    if decision.outcome == Outcome.POTENTIAL:
        shown = ", ".join(f"{c.student_id} ({c.confidence:.2f})" for c in decision.candidates) or "none listed"
        return RowResult(POTENTIAL, None, f"Possible matches: {shown}. No ID was issued: resolve this student in "
                                          f"the web UI (pick a match or create a new ID). Reason: {decision.reason}.")
    generate = store.catalogue.check(fields, GENERATE, group)
    if not generate.ok:
        return RowResult(REJECTED, None, "No existing student matches. " +
                         problems_message(generate.problems, GENERATE))
    try:
        student = await store.create_student(conn, fields, actor, task=GENERATE, group=group, request_key=key,
                                             district_irn=district, building_irn=building, source=source)
    except InvalidRecord as exc:
        return RowResult(REJECTED, None, problems_message(exc.problems, GENERATE))
    except Refused as exc:  # an identical active record exists (e.g. a twin case the matcher held back)
        return RowResult(POTENTIAL, None, f"No ID was issued: {exc}. Resolve this student in the web UI.")
    return RowResult(NEW, student.student_id, "New student ID issued.")


async def _check_given(store: SsidStore, conn: AsyncConnection, matcher: Matcher, given: str, checked) -> RowResult:
    student = await store.student(given, conn)
    if student is None:
        use = await store.id_use(given, conn)
        extra = f" (it is recorded as a {use} ID without a student)" if use else ""
        return RowResult(REJECTED, None, f"StudentID {given} is not a known student ID{extra}: check the ID, or "
                                         "leave StudentID empty to look the student up by the attributes.")
    if student.status != ACTIVE:
        active = await store.active_id(given, conn)
        if active is None:
            return RowResult(REJECTED, None, f"StudentID {given} is deactivated and has no active surviving ID: "
                                             "ask the state to review it.")
        return RowResult(INACTIVE, active, f"StudentID {given} is deactivated; use the active ID {active} from now "
                                           "on.")
    if not checked.ok:
        return RowResult(REJECTED, given, problems_message(checked.problems, RETRIEVE))
    query = matcher.standardize(match_record(checked.values))
    best = None
    for alias in await store.aliases(given, conn):
        try:
            rec = StudentRecord.from_dict(alias.record)
        except (TypeError, ValueError):
            continue
        scored = matcher.compare_records(query, rec, given)
        if best is None or scored.weight > best.weight:
            best = scored
    if best is not None:
        t = matcher.thresholds
        needed = t.match if best.level("birth_date") == str(Level.EXACT) else t.match_inexact_birth_date
        if best.weight >= needed and not best.conflicts:
            diff = _differing(best)
            note = f" (small differences in {', '.join(diff)})" if diff else ""
            return RowResult(VALID, given, f"StudentID and attributes agree{note}.")
    diff = _differing(best) if best is not None else []
    what = f"{', '.join(diff)} differ" if diff else "the attributes differ"
    conflicts = f" ({', '.join(best.conflicts)})" if best is not None and best.conflicts else ""
    return RowResult(MISMATCH, given, f"StudentID {given} and the attributes disagree: {what} from the stored "
                                      f"record{conflicts}. Check the ID and the attributes; correct the record with "
                                      "the state's maintenance tools, or leave StudentID empty to look the student "
                                      "up.")


# ---- the file ----

class BatchRunner:
    """``await BatchRunner(store, user="ann").run(IN, OUT, progress=...) -> BatchReport``."""

    def __init__(self, store: SsidStore, *, user: str = "batch", group: str | None = None,
                 matcher: Matcher | None = None, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self.store = store
        self.user = user
        self.group = group
        self.matcher = matcher or Matcher()
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.chunk_rows = chunk_rows

    def precheck(self, path: Path) -> int:
        """Refuse a bad file before anything is processed; the number of rows."""
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise LayoutError(f"{path}: cannot be opened ({exc.strerror})") from None
        if size > self.max_bytes:
            raise LayoutError(f"{path}: the file has {size:,} bytes; at most {self.max_bytes:,} are accepted: split "
                              "it into smaller files; nothing was processed")
        rows = scan(path, self.store.catalogue)
        if rows > self.max_rows:
            raise LayoutError(f"{path}: the file has {rows:,} rows; at most {self.max_rows:,} are accepted: split it "
                              "into smaller files; nothing was processed")
        return rows

    async def _actor(self, job_id: str) -> tuple[Actor, str | None]:
        user = await self.store.user(self.user)
        if user is not None and user.status == "suspended":
            raise Refused(f"user {self.user!r} is suspended and cannot submit batch files; ask the state to restore "
                          "access")
        group = self.group or (user.group if user else None)
        return Actor(self.user, user.district_irn if user else None, job_id), group

    async def run(self, path: Path, out: Path, progress: Callable[[int, int], None] | None = None) -> BatchReport:
        started = time.perf_counter()
        path, out = Path(path), Path(out)
        if out.resolve() == path.resolve():
            raise LayoutError(f"{out}: the output must not overwrite the input file; choose another --out")
        total = self.precheck(path)
        sha = file_sha256(path)
        job_id = new_job_id(self.store.clock())
        actor, group = await self._actor(job_id)
        if group is not None and group != "default" and group not in self.store.catalogue.groups:
            raise Refused(f"unknown user group {group!r}: use one of "
                          f"{', '.join(['default', *self.store.catalogue.groups])}")
        report = BatchReport(job_id, str(path), str(out), sha256=sha)
        names = header(self.store.catalogue)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f, lineterminator="\r\n")
                w.writerow(header(self.store.catalogue, output=True))
                for chunk in chunks(path, names, self.chunk_rows):
                    rows = parse_chunk(chunk, names)
                    results = await self._decide_chunk(rows, sha, actor, group, len(names))
                    for r, res in zip(rows, results):
                        echo = [""] * len(names) if isinstance(r, list) else [r.fields[n] for n in names]
                        if res.student_id:
                            echo[names.index("StudentID")] = res.student_id
                        w.writerow([*echo, res.code, res.message])
                        report.counts[res.code] += 1
                    report.rows += len(rows)
                    if progress is not None:
                        progress(report.rows, total)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
        report.seconds = time.perf_counter() - started
        log.info("batch %s: %d rows in %.1f s: %s", job_id, report.rows, report.seconds,
                 ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())))
        return report

    async def _decide_chunk(self, rows: list[Row | list[RowProblem]], sha: str, actor: Actor, group: str | None,
                            width: int) -> list[RowResult]:
        keys = {r.number: request_key(sha, r.number) for r in rows if not isinstance(r, list)}
        results: list[RowResult] = []
        async with self.store.write() as conn:
            earlier = await self._issued_before(conn, list(keys.values()))
            for r in rows:
                if isinstance(r, list):
                    p = r[0]
                    results.append(RowResult(REJECTED, None, f"Row {p.row} (line {p.line}) {p.message}."))
                    continue
                bad = layout_problems(r, width)
                if bad:
                    results.append(RowResult(REJECTED, None, "Invalid row: " + " ".join(f"{p.field} {p.message}."
                                                                                        for p in bad)))
                    continue
                key = keys[r.number]
                if key in earlier and not (r.fields.get("StudentID") or "").strip():
                    results.append(RowResult(NEW, earlier[key], "New student ID issued (by an earlier run of this "
                                                                "same file; no second ID was issued)."))
                    continue
                district = r.fields["District_IRN"].strip() or None
                building = r.fields["Building_IRN"].strip() or None
                row_actor = Actor(actor.user_id, actor.district_irn, actor.batch_job_id, False, key)
                try:
                    results.append(await decide_record(self.store, conn, self.matcher, r.fields, actor=row_actor,
                                                       group=group, key=key, district=district, building=building))
                except SsidError as exc:
                    results.append(RowResult(REJECTED, None, f"{exc}."))
        return results

    @staticmethod
    async def _issued_before(conn: AsyncConnection, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            q = select(students_t.c.request_key, students_t.c.student_id).where(
                students_t.c.request_key.in_(keys[i:i + 500]))
            out.update({k: s for k, s in (await conn.execute(q)).all()})
        return out


def summary(report: BatchReport) -> dict[str, Any]:
    return {"job_id": report.job_id, "input": report.input, "output": report.output, "rows": report.rows,
            "counts": {c: report.counts.get(c, 0) for c in RESULT_CODES}, "seconds": round(report.seconds, 3),
            "rows_per_second": round(report.rows_per_second, 1), "sha256": report.sha256}


__all__ = ["BatchReport", "BatchRunner", "RESULT_CODES", "RowResult", "decide_record", "layout_problems",
           "problems_message", "request_key", "summary"]
