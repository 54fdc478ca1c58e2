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
* **The same decision as the SLF poller.** ``batch_rows.decide_record`` validates for the
  "retrieve" task, asks the matcher, and on no match checks the "generate" task and issues an
  ID — the poller's steps, with the ResultCodes of the batch layout instead of SLF statuses.
* **Fast without changing an answer** (a million rows against ten million students): worker
  processes *plan* chunks of rows (every read and every decision, ``batch_plan``); this
  process *applies* the plans in file order, one write transaction per chunk
  (``batch_write``), after checking that what each plan rested on still holds, and decides a
  row again itself when it does not (a student twice in one file is matched to the ID the
  first row got, never given two).
* **Idempotent.** Each row's request key is ``batch:<SHA-256 of the file's bytes>:<row>``; a
  re-run of the same file finds the students it created by their request key and reports them
  again (NEW, same ID), so no second ID is ever issued for a row.
* **Output appears complete or not at all**: written to a temporary file beside the target,
  fsynced, then renamed (the extracts' pattern).
* Every audit row written by a batch carries the batch job id (``Actor.batch_job_id``).
"""

from __future__ import annotations

import asyncio
import csv
import gc
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import decisions
from .atomic import atomic_write
from .audit import Actor
from .batch_plan import PlanJob, PlannedChunk, plan_chunk
from .batch_rows import (
    INACTIVE, MATCH, MISMATCH, NEW, POTENTIAL, REJECTED, RESULT_CODES, VALID, RowResult, decide_record,
    layout_problems, problems_message,
)
from .batch_write import ChunkWriter, WriteHistory
from .config import Settings
from .csvlayout import LayoutError, header
from .db.engine import bound_wal
from .db.schema import students_t
from .legacy import Chunk, chunks, quiet_gc, scan
from .matching import Matcher
from .pool import in_order
from .store import Refused, SsidStore

log = logging.getLogger(__name__)

MAX_BYTES = 2 << 30  # 2 GiB
MAX_ROWS = 1_000_000


@dataclass
class BatchReport:
    job_id: str
    input: str
    output: str
    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    sha256: str = ""
    redecided: int = 0  # rows whose plan no longer held when written, decided again by the writer

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


# ---- the file ----

#: rows planned by a worker at a time and written per transaction. Why 500: the rows in flight
#: (planned, not yet written: ``workers * 2`` chunks) are the ones whose plan an earlier row of
#: the file can overturn, each then decided again by the writer, one lookup at a time; fewer
#: rows a commit cost more commits. Against ten million students, 60,000 rows, two planners:
#: 1,000 rows 1,219-1,231 rows/s (writer CPU 27-29 s), 500 rows 1,292-1,369 (24-25 s), 250 rows
#: 1,284-1,326 (26-27 s), 4,000 rows 1,099-1,100 (37 s).
CHUNK_ROWS = 500


class BatchRunner:
    """``await BatchRunner(store, user="ann", workers=2).run(IN, OUT, progress=...) -> BatchReport``.

    With ``workers`` >= 1 that many processes plan chunks of rows (``ssid.batch_plan``: parse,
    validate, look up, decide) while this process applies the plans in file order
    (``ssid.batch_write``) and writes the output; with 0 everything runs here. The answers are
    the same either way.
    """

    def __init__(self, store: SsidStore, *, user: str = "batch", group: str | None = None,
                 matcher: Matcher | None = None, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS,
                 chunk_rows: int = CHUNK_ROWS, workers: int = 0) -> None:
        self.store = store
        self.user = user
        self.group = group
        self.matcher = matcher or store.settings.matcher()
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.chunk_rows = chunk_rows
        self.workers = workers

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
        self.history = WriteHistory()
        self.received = self.store.clock()  # the file's rows were all received when it was submitted
        names = header(self.store.catalogue)
        job = PlanJob(tuple(names), group, self.matcher, len(names))
        parts = chunks(path, names, self.chunk_rows)
        # a file of one chunk is planned here: workers plan whole chunks, and starting them (each
        # loads the matcher and the name counts) costs more than a small file's planning
        if self.workers >= 1 and total > self.chunk_rows and ":memory:" not in str(self.store.engine.url):
            url = self.store.engine.url.render_as_string(hide_password=False)
            planned = in_order(parts, _worker_plan, workers=self.workers, initializer=_worker_start,
                               initargs=(url, self.store.settings, job), ahead=self.workers * 2)
        else:
            planned = self._here(parts, job)
        with quiet_gc(), atomic_write(out, encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(header(self.store.catalogue, output=True))
            async for chunk in planned:
                results = await self._apply(chunk, sha, actor, group, len(names), report)
                await bound_wal(self.store.engine)  # planners read all the time: the WAL never rewinds by itself
                for r, res in zip(chunk.rows, results):
                    echo = [""] * len(names) if isinstance(r, list) else [r.fields[n] for n in names]
                    if res.student_id:
                        echo[names.index("StudentID")] = res.student_id
                    w.writerow([*echo, res.code, res.message])
                    report.counts[res.code] += 1
                report.rows += len(chunk.rows)
                if progress is not None:
                    progress(report.rows, total)
        report.seconds = time.perf_counter() - started
        log.info("batch %s: %d rows in %.1f s: %s", job_id, report.rows, report.seconds,
                 ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())))
        return report

    async def _here(self, parts: Iterator[Chunk], job: PlanJob) -> AsyncIterator[PlannedChunk]:
        """Plan chunk by chunk in this process (``workers=0``, or a file of one chunk). Each read
        ends before its chunk is yielded: a read left open while the chunk is written would hold
        its snapshot, so SQLite could never checkpoint its WAL, which then grows by every page
        written and slows every read (100,000 rows against 50,000 students: an 874 MB log, and
        not done in 15 minutes against 3 without it)."""
        for chunk in parts:
            async with self.store.read() as conn:
                planned = await plan_chunk(self.store, conn, chunk, job)
            yield planned

    async def _apply(self, planned: PlannedChunk, sha: str, actor: Actor, group: str | None,
                     width: int, report: BatchReport) -> list[RowResult]:
        keys = {r.number: request_key(sha, r.number) for r in planned.rows if not isinstance(r, list)}
        async with self.store.write() as conn:
            earlier = await self._issued_before(conn, list(keys.values()))
            writer = ChunkWriter(self.store, conn, actor=actor, group=group, matcher=self.matcher, width=width,
                                 history=self.history)
            results = await writer.apply(planned, keys, earlier)
            report.redecided += writer.redecided
            now = self.store.clock()  # every row's decision, with the matcher's explanation where it looked
            await decisions.record(conn, [
                decisions.decision_row("batch", res.code, decided_at=now, received_at=self.received,
                                       request_key=None if isinstance(r, list) else keys[r.number],
                                       student_id=res.student_id, correlation_id=actor.batch_job_id,
                                       explanation=res.explanation or {"message": res.message})
                for r, res in zip(planned.rows, results)])
            return results

    @staticmethod
    async def _issued_before(conn: AsyncConnection, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            q = select(students_t.c.request_key, students_t.c.student_id).where(
                students_t.c.request_key.in_(keys[i:i + 500]))
            out.update({k: s for k, s in (await conn.execute(q)).all()})
        return out


# ---- worker processes: each plans whole chunks; the runner writes them ----

_worker: dict[str, Any] = {}


class PlannerGc:
    """A planner process's garbage collection: none while a chunk is planned; before the next
    chunk, one pass over the young generations; a full pass every ``FULL_EVERY`` chunks; and
    never over what the process held when it started (frozen).

    Why: a chunk's candidates are tens of thousands of small objects, alive while it is
    planned and freed by their reference counts when it is done; any collection pass during the
    chunk finds them all alive and none of them garbage. Python's default thresholds made that a
    third of a planner's time at ten million students. The pass runs *before* a chunk, once the
    last one's plans are sent and freed: run after it, it walked those plans too, and a full pass
    walked the tables loaded on first use as well, 45 ms a chunk against 4 ms
    (``ssid_scale_bench.py plan``). What a chunk leaves in reference cycles is young and found by
    the next pass; what outlives a chunk (those tables, caches) is only walked by the full pass."""

    FULL_EVERY = 64

    def __init__(self) -> None:
        gc.freeze()
        gc.disable()
        self.chunks = 0

    def before_chunk(self) -> None:
        self.chunks += 1
        gc.collect(2 if self.chunks % self.FULL_EVERY == 0 else 1)


def _worker_start(url: str, settings: Settings, job: PlanJob) -> None:
    loop = asyncio.new_event_loop()
    _worker.update(loop=loop, store=SsidStore.from_url(url, settings), job=job, gc=PlannerGc())


async def _plan_here(chunk: Chunk) -> PlannedChunk:
    store = _worker["store"]
    async with store.read() as conn:
        return await plan_chunk(store, conn, chunk, _worker["job"])


def _worker_plan(chunk: Chunk) -> PlannedChunk:
    _worker["gc"].before_chunk()
    return _worker["loop"].run_until_complete(_plan_here(chunk))


def summary(report: BatchReport) -> dict[str, Any]:
    return {"job_id": report.job_id, "input": report.input, "output": report.output, "rows": report.rows,
            "counts": {c: report.counts.get(c, 0) for c in RESULT_CODES}, "seconds": round(report.seconds, 3),
            "rows_per_second": round(report.rows_per_second, 1), "redecided": report.redecided,
            "sha256": report.sha256}


__all__ = ["BatchReport", "BatchRunner", "RESULT_CODES", "RowResult", "decide_record", "layout_problems",
           "problems_message", "request_key", "summary"]
