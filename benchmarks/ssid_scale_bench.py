"""The SSID database at state scale (issue #6): lookups and a batch file against millions of students.

    .venv/bin/python benchmarks/ssid_scale_bench.py build  --students 10000000 --dir /var/tmp/ssid-10m
    .venv/bin/python benchmarks/ssid_scale_bench.py lookup --dir /var/tmp/ssid-10m [--queries 20000] [--repeat 3]
                                                           [--write]
    .venv/bin/python benchmarks/ssid_scale_bench.py batch  --dir /var/tmp/ssid-10m [--rows 1000000] [--write]
    .venv/bin/python benchmarks/ssid_scale_bench.py plan   --dir /var/tmp/ssid-10m [--rows 5000]

``build`` and ``lookup`` take ``--db postgresql://...`` to use a PostgreSQL database (created
empty beforehand) instead of the SQLite file in ``--dir``; the generated files stay in ``--dir``.

``build`` generates a synthetic population (ssid.population: families, twins, siblings, name
frequencies), loads it with the legacy importer exactly as ``slf ssid import-legacy`` does
(SQLite, two worker processes), and writes re-submissions with known truth beside it: a lookup
set and a batch file in the district layout. It takes a while at 10 million students, so the
database is kept in ``--dir`` and reused (``manifest.json`` says what it holds).

``lookup`` times what the SLF poller and the REST API do per request: candidate retrieval from
the database plus scoring and the decision (``ssid.db.candidates.match``), one lookup after the
other on one connection, and reports p50/p99 and the outcomes against the truth.

``batch`` copies the database (a batch adds students and aliases; the original stays as built;
``--in-place`` when the disk cannot hold a copy) and runs the batch file through ``slf ssid
batch``'s code (``ssid.batch.BatchRunner``) with its default worker processes, reporting rows/s
and the result codes.

``plan`` plans chunks of the batch file in this process, writing nothing, and prints where a
row's time goes (the SQL reads, the explanation, the rest).

``--write`` records the figures in benchmarks/RESULTS.md (section ssid-scale).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssid.audit import Actor  # noqa: E402
from ssid.catalogue import ohio_catalogue  # noqa: E402
from ssid.config import load  # noqa: E402
from ssid.legacy import LegacyImporter  # noqa: E402
from ssid.records import STD_LAYOUT  # noqa: E402
from ssid.store import SsidStore  # noqa: E402

import results  # noqa: E402  (benchmarks/results.py)

EXAMPLE = Path(__file__).resolve().parents[1] / "conf" / "ssid.example.toml"
LOOKUPS, BATCH = "lookups.jsonl", "batch.csv"
_PRODUCT = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _target(out: Path, db: str | None) -> tuple[str, Path]:
    """(database URL, manifest file): the SQLite file in ``out``, or ``db`` with a manifest of its own."""
    if db is None:
        return _url(out / "ssid.db"), out / "manifest.json"
    from sqlalchemy.engine import make_url
    return db, out / f"manifest-{make_url(db).get_backend_name()}-{make_url(db).database}.json"


async def _db_bytes(url: str, out: Path) -> int:
    if url.startswith("sqlite"):
        return (out / "ssid.db").stat().st_size
    from sqlalchemy.ext.asyncio import create_async_engine

    from dburl import async_url
    engine = create_async_engine(async_url(url))
    async with engine.connect() as conn:
        size = (await conn.exec_driver_sql("SELECT pg_database_size(current_database())")).scalar()
    await engine.dispose()
    return int(size)


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _layout_rows(pop):
    from tests.ssid_batch.synth import layout_row
    for s in pop.students:
        yield layout_row(s.record, s.student_id)


async def build(students: int, seed: int, out: Path, batch_rows: int, lookups: int, workers: int,
                db: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    url, manifest = _target(out, db)
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if m.get("students") == students and m.get("seed") == seed and m.get("std_layout") == STD_LAYOUT:
            print(f"{out}: already holds {students:,} students (seed {seed}); nothing to build")
            return
    if db is None:
        for name in ("ssid.db", "ssid.db-wal", "ssid.db-shm", "manifest.json"):
            (out / name).unlink(missing_ok=True)
    manifest.unlink(missing_ok=True)
    generated = out / "generated.json"  # the files below are complete (a failed import resumes here)
    if not (generated.exists() and json.loads(generated.read_text()) == {"students": students, "seed": seed}):
        _generate(students, seed, out, batch_rows, lookups)
        generated.write_text(json.dumps({"students": students, "seed": seed}))
    legacy = out / "legacy.csv"
    store = SsidStore.from_url(url, load(EXAMPLE))
    await store.migrate()
    t = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30 or done == total:
            last[0] = time.perf_counter()
            print(f"  import: {done:,}/{total:,} rows, {done / (last[0] - t):,.0f} rows/s", flush=True)

    report = await LegacyImporter(store, actor=Actor("bench"), workers=workers).run(
        legacy, progress=progress)
    await store.close()
    secs = time.perf_counter() - t
    print(f"import: {report.loaded:,} loaded ({report.rejected:,} rejected) in {secs:,.0f} s", flush=True)
    manifest.write_text(json.dumps({"students": students, "seed": seed, "std_layout": STD_LAYOUT,
                                    "loaded": report.loaded, "import_seconds": round(secs, 1),
                                    "db_bytes": await _db_bytes(url, out)}, indent=1))


def _generate(students: int, seed: int, out: Path, batch_rows: int, lookups: int) -> None:
    from ssid.population import generate_population, generate_queries
    from tests.ssid_batch.synth import layout_row, write_layout
    catalogue = ohio_catalogue()
    t = time.perf_counter()
    pop = generate_population(students, seed=seed)
    print(f"population: {len(pop):,} students generated in {time.perf_counter() - t:,.0f} s", flush=True)
    write_layout(out / "legacy.csv", catalogue, _layout_rows(pop))
    queries = generate_queries(pop, lookups, seed=seed)
    with open(out / LOOKUPS, "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps({"kind": q.kind, "truth": q.truth, "record": _record_json(q.record)}) + "\n")
    batch = generate_queries(pop, batch_rows, seed=seed + 1)
    write_layout(out / BATCH, catalogue, (layout_row(q.record) for q in batch))
    with open(out / "batch-truth.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("row", "kind", "truth"))
        w.writerows((n, q.kind, q.truth) for n, q in enumerate(batch, 1))
    print(f"queries: {len(queries):,} lookups and a {len(batch):,}-row batch file written", flush=True)


def _record_json(r) -> dict:
    out = {f.name: getattr(r, f.name) for f in fields(r) if getattr(r, f.name)}  # (compiled: no vars())
    if "birth_date" in out and not isinstance(out["birth_date"], str):
        out["birth_date"] = out["birth_date"].isoformat()
    return out


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


async def lookup(out: Path, n: int, write: bool, repeat: int = 3, db: str | None = None) -> None:
    """Lookups one after the other, as the SLF poller and the REST API make them.

    The same lookups are timed ``repeat`` times over and the pass with the median p99 is
    reported, with the range: on a shared VM one pass's p99 moves by ±10%, more than most
    changes it is meant to show."""
    from datetime import date

    from ssid.db.candidates import match
    from ssid.matching import Matcher, Outcome, StudentRecord
    url, manifest_file = _target(out, db)
    manifest = json.loads(manifest_file.read_text())
    store = SsidStore.from_url(url, load(EXAMPLE))
    await store.migrate()  # a database built by an older version gets what lookups now read
    for name in ("ssid.db", "ssid.db-wal") if db is None else ():  # a server's database is warm in the OS cache
        if (out / name).exists():
            _cache(out / name, keep=True)
    matcher = Matcher()
    queries = []
    with open(out / LOOKUPS) as f:
        for line in f:
            q = json.loads(line)
            rec = dict(q["record"])
            if "birth_date" in rec:
                rec["birth_date"] = date.fromisoformat(rec["birth_date"])
            queries.append((q["kind"], q["truth"], StudentRecord(**rec)))
            if len(queries) >= n:
                break
    passes = []
    async with store.read() as conn:
        for kind, truth, rec in queries[:200]:  # warm the page cache a little, as a running server has it
            await match(conn, matcher, rec)
        for _ in range(max(repeat, 1)):
            times: list[float] = []
            scored: list[int] = []
            outcomes: Counter = Counter()
            right = wrong = 0
            t0 = time.perf_counter()
            for kind, truth, rec in queries:
                t = time.perf_counter()
                d = await match(conn, matcher, rec)
                times.append((time.perf_counter() - t) * 1000)
                scored.append(d.explanation.candidates_scored)
                outcomes[str(d.outcome)] += 1
                if d.outcome == Outcome.MATCH:
                    right += d.student_id == truth
                    wrong += d.student_id != truth
            passes.append((_pct(times, 0.99), times, scored, outcomes, right, wrong, time.perf_counter() - t0))
    await store.close()
    passes.sort(key=lambda p: p[0])
    p99s = [p[0] for p in passes]
    _, times, scored, outcomes, right, wrong, wall = passes[len(passes) // 2]
    p50, p99 = _pct(times, 0.50), _pct(times, 0.99)
    spread = (f"; p99 of the {len(passes)} passes {min(p99s):.2f}–{max(p99s):.2f} ms, the median pass shown"
              if len(passes) > 1 else "")
    mean_scored, p99_scored = sum(scored) / max(len(scored), 1), _pct(scored, 0.99)
    print(f"{len(queries):,} lookups against {manifest['students']:,} students: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {max(times):.1f} ms, {len(queries) / wall:,.0f} lookups/s on one connection; outcomes "
          f"{dict(outcomes)}; automatic matches right {right:,}, wrong {wrong:,}; candidates scored per lookup: "
          f"mean {mean_scored:.1f}, p99 {p99_scored}{spread}")
    if write:
        _record("lookup" if db is None else "lookup-" + store.engine.dialect.name, [
            f"Lookups (candidate retrieval from the database plus scoring and decision, "
            f"`ssid.db.candidates.match`, one after the other on one connection) against "
            f"{manifest['students']:,} students in {_PRODUCT[store.engine.dialect.name]} "
            f"({manifest['db_bytes'] / 2**30:,.1f} GiB):",
            "",
            "| lookups | p50 ms | p99 ms | max ms | lookups/s | automatic matches (right / wrong) | target p99 |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {len(queries):,} | {p50:.2f} | {p99:.2f} | {max(times):.1f} | {len(queries) / wall:,.0f} | "
            f"{right:,} / {wrong:,} | ≤ 2 ms |",
            "", f"Outcomes: {', '.join(f'{k} {v:,}' for k, v in sorted(outcomes.items()))}. Candidates "
                f"scored per lookup: mean {mean_scored:.1f}, p99 {p99_scored}{spread}.",
            f"Command: `.venv/bin/python benchmarks/ssid_scale_bench.py lookup --dir DIR --queries {n}"
            f"{'' if db is None else ' --db postgresql://...'}"
            f"{'' if repeat == 3 else f' --repeat {repeat}'} --write`."])


async def batch(out: Path, rows: int, workers: int, write: bool, in_place: bool = False) -> None:
    from ssid.batch import BatchRunner
    manifest = json.loads((out / "manifest.json").read_text())
    work = out / "batch-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    t = time.perf_counter()
    for name in () if in_place else ("ssid.db", "ssid.db-wal"):
        if (out / name).exists():
            shutil.copyfile(out / name, work / name)
    # a server holds one database, warm in the OS cache; this machine cannot cache the original and
    # the copy at 10M (2 x 17 GB in 24 GB), so the original's pages are let go and the copy is read once
    for name in ("ssid.db", "ssid.db-wal"):
        if (out / name).exists():
            if in_place:
                _cache(out / name, keep=True)
            else:
                _cache(out / name, keep=False)
                _cache(work / name, keep=True)
    print(f"database {'read' if in_place else 'copied (and read)'} into the OS cache in "
          f"{time.perf_counter() - t:,.0f} s", flush=True)
    src = out / BATCH
    if rows:
        src = work / "in.csv"
        with open(out / BATCH) as f, open(src, "w") as g:
            for n, line in enumerate(f):
                if n > rows:
                    break
                g.write(line)
    if in_place:  # the batch's students stay in the database: its manifest says so from now on
        manifest["batch_rows_applied"] = manifest.get("batch_rows_applied", 0) + (rows or 1_000_000)
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    store = SsidStore.from_url(_url((out if in_place else work) / "ssid.db"), load(EXAMPLE))
    await store.migrate()
    last = [time.perf_counter()]
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"  batch: {done:,}/{total:,} rows, {done / (last[0] - started):,.0f} rows/s", flush=True)

    cpu0 = os.times()
    report = await BatchRunner(store, user="bench", workers=workers).run(src, work / "out.csv", progress)
    cpu1 = os.times()
    await store.close()
    cpu_main = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    cpu_workers = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    truth = {}
    with open(out / "batch-truth.csv") as f:
        for r in csv.DictReader(f):
            truth[int(r["row"])] = r["truth"]
    wrong_match = 0
    returning: Counter = Counter()  # result codes of the rows of students already stored
    with open(work / "out.csv", encoding="utf-8") as f:
        for n, r in enumerate(csv.DictReader(f), 1):
            if r["ResultCode"] == "MATCH" and truth.get(n) not in (r["StudentID"],):
                wrong_match += 1
            if truth.get(n, "new") != "new":
                returning[r["ResultCode"]] += 1
    shutil.rmtree(work, ignore_errors=True)
    rate = report.rows_per_second
    print(f"batch: {report.rows:,} rows against {manifest['students']:,} students in {report.seconds:,.0f} s = "
          f"{rate:,.0f} rows/s; CPU {cpu_main:,.0f} s writer + {cpu_workers:,.0f} s workers; "
          f"{dict(report.counts)}; rows decided again by the writer: {report.redecided:,}; MATCH rows with another "
          f"student than the truth: {wrong_match}; rows of "
          f"returning students: {dict(returning)}")
    if write:
        _record("batch", [
            f"A {report.rows:,}-row batch file (re-submissions with the generator's error mix and new students) "
            f"against {manifest['students']:,} students, `ssid.batch.BatchRunner` with {workers} planning "
            f"worker process(es), SQLite:",
            "",
            "| rows | seconds | rows/s | CPU writer + workers | target |",
            "| ---: | ---: | ---: | ---: | ---: |",
            f"| {report.rows:,} | {report.seconds:,.0f} | {rate:,.0f} | {cpu_main:,.0f} s + {cpu_workers:,.0f} s | "
            f"≥ 2,000 rows/s |",
            "", "Result codes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(report.counts.items())) +
            f"; MATCH rows naming another student than the truth: {wrong_match}; rows whose plan no longer held "
            f"when written, decided again by the writer: {report.redecided:,}. Of the "
            f"{sum(returning.values()):,} rows of students already stored: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(returning.items()))
            + " (NEW there is a duplicate ID; REJECTED: a row the catalogue refuses).",
            f"Command: `.venv/bin/python benchmarks/ssid_scale_bench.py batch --dir DIR"
            f"{f' --rows {rows}' if rows else ''} --workers {workers}{' --in-place' if in_place else ''} --write`"
            + (" (in place: the database kept the batch's students and decisions)." if in_place else ".")])


async def plan(out: Path, rows: int, skip: int) -> None:
    """Where a batch row's planning time goes: chunks of the batch file planned in this process
    (``ssid.batch_plan.plan_chunk``, read only: nothing is written), with the planner's parts
    timed by wrapping them. The first chunk warms the caches and is not counted."""
    from collections import defaultdict

    import ssid.batch_plan as bp
    import ssid.db.candidates as cand
    from ssid.batch import BatchRunner
    from ssid.csvlayout import header
    from ssid.legacy import chunks

    spent: dict[str, float] = defaultdict(float)

    def timed(module, name: str, label: str) -> None:
        f = getattr(module, name)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                spent[label] += time.perf_counter() - t
        setattr(module, name, wrapper)

    timed(cand, "_rows", "SQL: the prefetch statements (keys, rows, versions, name counts) and counts")
    timed(bp, "stored_records", "SQL: stored records of matched students")
    timed(bp, "explanation_json", "explanation JSON (SSN masked)")
    store = SsidStore.from_url(_url(out / "ssid.db"), load(EXAMPLE))
    names = header(store.catalogue)
    job = bp.PlanJob(tuple(names), None, BatchRunner(store).matcher, len(names))
    parts = [c for i, c in zip(range(skip + rows // 1000 + 1), chunks(out / BATCH, names, 1000)) if i >= skip]
    from ssid.batch import PlannerGc
    collector = PlannerGc()  # as a planner process runs (ssid.batch._worker_start, _worker_plan)
    async with store.engine.connect() as conn:
        await bp.plan_chunk(store, conn, parts[0], job)
        spent.clear()
        t, cpu = time.perf_counter(), time.process_time()
        stored: list[bytes | str] = []
        for part in parts[1:]:
            collector.before_chunk()
            planned = await bp.plan_chunk(store, conn, part, job)
            stored += [p.explanation for p in planned.plans if p is not None and p.explanation is not None]
        n = 1000 * (len(parts) - 1)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    await store.close()
    print(f"{n:,} rows planned in one process: {wall / n * 1e3:.3f} ms a row, {cpu / n * 1e3:.3f} ms CPU a row")
    for label, secs in spent.items():
        print(f"  {label}: {secs / n * 1e3:.3f} ms a row")
    print(f"  the rest (validation, standardising, matching, plans): {(wall - sum(spent.values())) / n * 1e3:.3f} ms "
          "a row")
    _compression(stored)


def _compression(stored: list) -> None:
    """What the explanations the planners made take stored, compressed as ``ssid.decisions.packed``
    does, against zlib at level 1 (how they were compressed before the dictionary)."""
    import zlib

    from ssid import decisions
    texts = [decisions.explanation_text(None, e).encode() if isinstance(e, bytes) else e.encode() for e in stored]
    for label, squeeze in ((f"zstd level {decisions.COMPRESS_LEVEL}, dictionary {decisions.DICTIONARY}",
                            lambda b: decisions.packed(b.decode())),
                           ("zlib level 1", lambda b: zlib.compress(b, 1))):
        t = time.perf_counter()
        size = sum(len(squeeze(b)) for b in texts)
        secs = time.perf_counter() - t
        print(f"  explanations, {label}: {sum(map(len, texts)) / len(texts):,.0f} bytes of JSON stored in "
              f"{size / len(texts):,.0f}, {secs / len(texts) * 1e6:.1f} µs each")


def _cache(path: Path, keep: bool) -> None:
    """Read a file into the OS page cache (``keep``), or let the cache drop its pages."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if keep:
            while os.read(fd, 1 << 24):
                pass
        else:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _record(part: str, lines: list[str]) -> None:
    """Keep the lookup and batch parts of the ssid-scale section side by side, each with the
    machine and the day it was measured on (the parts are rewritten one at a time)."""
    store = Path(__file__).with_name(".ssid_scale_parts.json")
    parts = json.loads(store.read_text()) if store.exists() else {}
    parts[part] = [f"Measured on {results.machine()}, {time.strftime('%Y-%m-%d')}.", *lines]
    store.write_text(json.dumps(parts))
    head = ["## SSID database at scale (issue #6)", "",
            "The database is built by `benchmarks/ssid_scale_bench.py build --students N --dir DIR` (synthetic "
            "population, legacy import).", ""]
    body: list[str] = []
    for name in ("lookup", "lookup-postgresql", "batch"):
        if name in parts:
            body += [*parts[name], ""]
    results.update_section("ssid-scale", head + body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--students", type=int, default=10_000_000)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--dir", type=Path, required=True)
    b.add_argument("--batch-rows", type=int, default=1_000_000)
    b.add_argument("--lookups", type=int, default=20_000)
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--db", help="a PostgreSQL URL to load into instead of DIR/ssid.db (an empty database)")
    lk = sub.add_parser("lookup")
    lk.add_argument("--dir", type=Path, required=True)
    lk.add_argument("--queries", type=int, default=20_000)
    lk.add_argument("--repeat", type=int, default=3, help="time the lookups this many times over and report the "
                    "pass with the median p99 (default 3)")
    lk.add_argument("--write", action="store_true")
    lk.add_argument("--db", help="the PostgreSQL URL given to build --db, instead of DIR/ssid.db")
    bt = sub.add_parser("batch")
    bt.add_argument("--dir", type=Path, required=True)
    bt.add_argument("--rows", type=int, default=0, help="the first N rows of the batch file (default: all)")
    bt.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    bt.add_argument("--write", action="store_true")
    bt.add_argument("--in-place", action="store_true", help="run against the database itself, not a copy (when the "
                    "disk cannot hold a copy; the batch's students and decisions stay in it)")
    pl = sub.add_parser("plan", help="time the parts of a batch row's planning (read only)")
    pl.add_argument("--dir", type=Path, required=True)
    pl.add_argument("--rows", type=int, default=5_000)
    pl.add_argument("--skip", type=int, default=40, help="chunks of 1,000 rows to skip first (default 40)")
    a = ap.parse_args()
    if a.cmd == "build":
        asyncio.run(build(a.students, a.seed, a.dir, a.batch_rows, a.lookups, a.workers, a.db))
    elif a.cmd == "lookup":
        asyncio.run(lookup(a.dir, a.queries, a.write, a.repeat, a.db))
    elif a.cmd == "plan":
        asyncio.run(plan(a.dir, a.rows, a.skip))
    else:
        asyncio.run(batch(a.dir, a.rows, a.workers, a.write, a.in_place))


if __name__ == "__main__":
    main()
