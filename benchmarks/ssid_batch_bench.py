"""Batch-file throughput of the SSID database (issue #6 target: 1M rows against 10M students at >= 2,000 rows/s).

    .venv/bin/python benchmarks/ssid_batch_bench.py [--students 200000] [--rows 20000] [--seed 1] [--workers 0]

Loads a synthetic population (ssid.population) with the legacy importer into a fresh SQLite
database, then runs a batch file of re-submissions and new students (generate_queries) through
ssid.batch.BatchRunner exactly as `slf ssid batch` does; prints rows/s and the result codes.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssid.audit import Actor  # noqa: E402
from ssid.batch import BatchRunner  # noqa: E402
from ssid.config import load  # noqa: E402
from ssid.legacy import LegacyImporter  # noqa: E402
from ssid.population import generate_population, generate_queries  # noqa: E402
from ssid.store import SsidStore  # noqa: E402
from tests.ssid_batch.synth import layout_row, write_layout  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "conf" / "ssid.example.toml"


async def main(students: int, rows: int, seed: int, workers: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="ssid-batch-bench-"))
    store = SsidStore.from_url(f"sqlite+aiosqlite:///{work}/ssid.db", load(EXAMPLE))
    await store.migrate()
    t = time.perf_counter()
    pop = generate_population(students, seed=seed)
    legacy = write_layout(work / "legacy.csv", store.catalogue, (layout_row(s.record, s.student_id) for s in pop.students))
    loaded = await LegacyImporter(store, actor=Actor("bench")).run(legacy)
    print(f"population: {loaded.loaded:,} students loaded in {time.perf_counter() - t:,.1f} s")
    queries = generate_queries(pop, rows, seed=seed)
    src = write_layout(work / "in.csv", store.catalogue, (layout_row(q.record) for q in queries))
    report = await BatchRunner(store, user="bench", workers=workers).run(src, work / "out.csv")
    print(f"batch ({workers} planner processes): {report.rows:,} rows against {loaded.loaded:,} students in "
          f"{report.seconds:,.1f} s = "
          f"{report.rows_per_second:,.0f} rows/s; {dict(report.counts)}")
    await store.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=200_000)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="planner processes (0: plan in this process)")
    a = ap.parse_args()
    asyncio.run(main(a.students, a.rows, a.seed, a.workers))
