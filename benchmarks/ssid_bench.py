"""Legacy import throughput of the SSID database (issue #6: 4 million IDs in at most 5 minutes).

    .venv/bin/python benchmarks/ssid_bench.py [--rows 1000000] [--db sqlite|postgresql|URL]
                                              [--workers N] [--chunk-size 200000] [--seed 1] [--write]

Writes N synthetic legacy rows in the import layout (random IDs of the Ohio profile, simple
random names and birth dates: enough to give the indexes realistic key spreads), then loads
them into a fresh database with ssid.legacy.LegacyImporter exactly as `slf ssid import-legacy`
does (first pass over the file, worker processes that check, standardise and write chunks,
one transaction per chunk, an audit row per ID). Reports rows/s over the whole run and over
its last fifth (the indexes are largest then), the projected time for 4 million rows from
both, the CPU time used, the machine's load, and the database size. --write records the
figures in benchmarks/RESULTS.md (section ssid-import).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import resource
import secrets
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssid.catalogue import ohio_catalogue  # noqa: E402
from ssid.config import Settings  # noqa: E402
from ssid.csvlayout import header  # noqa: E402
from ssid.ids import OHIO, draw_many  # noqa: E402
from ssid.legacy import LegacyImporter  # noqa: E402
from ssid.store import SsidStore  # noqa: E402

import results  # noqa: E402  (benchmarks/results.py)

TARGET_ROWS, TARGET_SECONDS = 4_000_000, 300.0
PG_ADMIN = os.environ.get("SLF_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

FIRST = ("Olivia Emma Ava Sophia Isabella Mia Amelia Harper Evelyn Abigail Emily Ella Madison Scarlett Chloe Grace "
         "Liam Noah William James Oliver Benjamin Elijah Lucas Mason Logan Alexander Ethan Jacob Michael Daniel "
         "Henry Jackson Sebastian Aiden Matthew Samuel David Joseph Carter Owen Wyatt John Jack Luke Jayden Dylan "
         "Amara Chidi Ngozi Mohamed Fatima Ahmed Aaliyah Jose Maria Juan Sofia Nguyen Mai Li Wei Yusuf Zainab").split()
SYLLABLES = ("an ber car dan el fen gar hal in jor kel lam mor nor ol par quin ros sen tor ul van wil yor zan "
             "smith son man ley ton ford field well wood stein berg ski ez ov ian").split()
CITIES = "Columbus Cleveland Cincinnati Toledo Akron Dayton Parma Canton Youngstown Lorain Hamilton Springfield".split()


def surname(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()


def generate(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    ids = draw_many(OHIO, n, rng.randrange)
    surnames = [surname(rng) for _ in range(max(n // 40, 500))]  # ~40 students per surname
    start = date(1995, 1, 1)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header(ohio_catalogue()))
        for sid in ids:
            born = start + timedelta(days=rng.randrange(27 * 365))
            created = born + timedelta(days=rng.randrange(5 * 365, 7 * 365))
            w.writerow([f"user{rng.randrange(3000)}", f"{created:%m/%d/%Y} {rng.randrange(8, 17):02d}:"
                        f"{rng.randrange(60):02d}:{rng.randrange(60):02d}", f"{rng.randrange(10**6):06d}",
                        f"{rng.randrange(10**6):06d}", sid, rng.choice(FIRST),
                        rng.choice(FIRST) if rng.random() < 0.8 else "NMN", rng.choice(surnames), born.isoformat(),
                        rng.choice("FM"), rng.choice(CITIES), rng.choice("ABHIMPW"),
                        "ENG" if rng.random() < 0.9 else rng.choice(("SPA", "ARA", "SOM", "NEP")),
                        str(rng.randrange(1, 10)),
                        f"{rng.randrange(1, 899):03d}{rng.randrange(1, 99):02d}{rng.randrange(1, 9999):04d}"
                        if rng.random() < 0.3 else "", surname(rng) if rng.random() < 0.2 else "", ""])


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(url: str, path: Path, workers: int, chunk: int) -> dict:
    store = SsidStore.from_url(url, Settings(database=url))
    await store.migrate()
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    report = await LegacyImporter(store, workers=workers, chunk_size=chunk).run(
        path, lambda done, total: marks.append((time.perf_counter() - t0, done)))
    size = None
    if store.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        async with store.read() as conn:
            size = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar()
    await store.close()
    return {"report": report, "marks": marks, "size": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default="sqlite", help="sqlite (a file in --dir), postgresql (a temporary database "
                                                   "on 127.0.0.1:5432), or a database URL")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--chunk-size", type=int, default=Settings.import_chunk_size,
                    help="rows per transaction (default: the [ssid] default)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=None, help="where the CSV and SQLite files go (default: a temp dir)")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="ssid-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / f"legacy-{args.rows}-{args.seed}.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        generate(csv_path, args.rows, args.seed)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 2**20:,.0f} MiB) in "
              f"{time.perf_counter() - t:,.1f} s: {csv_path}")
    pg_name = None
    if args.db == "sqlite":
        db_file = work / "ssid-bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{db_file}"
    elif args.db == "postgresql":
        pg_name = f"ssid_bench_{secrets.token_hex(4)}"
        asyncio.run(_pg(f'CREATE DATABASE "{pg_name}"'))
        url = f"postgresql+asyncpg://{urlsplit(PG_ADMIN).netloc}/{pg_name}"
    else:
        url = args.db
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out = asyncio.run(run(url, csv_path, args.workers, args.chunk_size))
        size = _size(url, work, out["size"])
    finally:
        if pg_name:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    main_cpu, worker_cpu = (b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(cpu0, cpu1))
    cpu = main_cpu + worker_cpu
    load_after = os.getloadavg()
    report, marks = out["report"], out["marks"]
    rate = report.rows_per_second
    # the last fifth of the rows: the indexes are largest, so this rate is the one that extrapolates
    cut = next((m for m in marks if m[1] >= 0.8 * report.rows), marks[0])
    tail_rate = (report.rows - cut[1]) / (marks[-1][0] - cut[0]) if marks[-1][0] > cut[0] else rate
    proj, proj_tail = TARGET_ROWS / rate, TARGET_ROWS / tail_rate
    db_arg = args.db if args.db in ("sqlite", "postgresql") else "URL"
    command = (f".venv/bin/python benchmarks/ssid_bench.py --rows {args.rows} --db {db_arg} --workers {args.workers} "
               f"--chunk-size {args.chunk_size} --seed {args.seed}" + (" --write" if args.write else ""))
    lines = [
        f"## SSID legacy import, {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'} (issue #6)",
        "",
        f"Machine: {results.machine()}. Command: `{command}` ({date.today().isoformat()}). "
        f"{args.workers} worker process(es) parse, check and standardise batches of 5,000 rows; this process "
        f"writes them, {args.chunk_size:,} rows per transaction (ID registry, student, alias, blocking keys, "
        "one audit row per ID); a first pass reads the whole file before anything is loaded. Into an empty SQLite "
        "database the blocking keys are staged and sorted into their index once at the end (ssid.db.bulkload), "
        "which the wall time includes.",
        "",
        "| measure | value | target |",
        "| --- | ---: | ---: |",
        f"| rows loaded | {report.loaded:,} of {report.rows:,} (rejected {report.rejected:,}) | |",
        f"| wall time | {report.seconds:,.1f} s | |",
        f"| rows/s, whole run | {rate:,.0f} | ≥ 13,333 |",
        f"| rows/s, last fifth of the rows | {tail_rate:,.0f} | |",
        f"| projected time for 4,000,000 rows (whole-run rate / last-fifth rate) | {proj / 60:,.1f} / "
        f"{proj_tail / 60:,.1f} min | ≤ 5 min |",
        f"| CPU time: writer process + workers | {main_cpu:,.0f} s + {worker_cpu:,.0f} s "
        f"({cpu / report.seconds:.2f} cores busy; {cpu / max(report.rows, 1) * 1e6:,.0f} µs per row) | |",
        f"| rows/s if every core did nothing else (cores ÷ CPU per row) | {(os.cpu_count() or 1) * report.rows / cpu:,.0f} "
        "| |",
        f"| rows/s the single writer alone could take (rows ÷ writer CPU) | {report.rows / main_cpu:,.0f} | |",
        f"| load average before → after (1 min; after includes this run) | {load_before[0]:.2f} → {load_after[0]:.2f} | |",
        f"| database size after the import | {size} | |",
    ]
    print("\n".join(lines))
    if args.write:
        tag = "ssid-import" if url.startswith("sqlite") else "ssid-import-postgresql"
        results.update_section(tag, lines)
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


def _size(url: str, work: Path, pg_bytes: int | None) -> str:
    if url.startswith("sqlite"):
        pg_bytes = sum(p.stat().st_size for p in work.glob("ssid-bench.db*"))
    return "—" if pg_bytes is None else f"{pg_bytes / 2**20:,.0f} MiB"


if __name__ == "__main__":
    main()
