"""Zone throughput and latency over real HTTPS, on SQLite or PostgreSQL.

    .venv/bin/python benchmarks/zone_bench.py [--db sqlite|postgresql] [--seconds 20]
                                              [--queued 100000] [--write]

Starts `slf zone serve` as its own process (TLS, client certificates, strict
validation) and drives it from this process with 10 agents: 5 requesters and 5
responders run the full StudentLocator cycle

    SIF_Request → responder SIF_GetMessage → SIF_Ack → SIF_Response
               → requester SIF_GetMessage → SIF_Ack                 (6 HTTP exchanges)

as fast as they can for --seconds. Reported: SIF messages per second, cycles per
second, and p50/p99 latency of each HTTP exchange. Then --queued events are
published to a subscriber that does not pull, and the server's resident memory
(RSS) is sampled as the queue grows, plus GetMessage latency at that depth.

On PostgreSQL the figures that do not depend on how busy the machine is are
reported too, per SIF message of the throughput phase: the CPU of the zone's
database backends (from /proc), COMMITs (pg_stat_database), WAL records, bytes and
fsyncs (pg_stat_wal: the whole server, so other databases' work counts too); and, from
the server's log as it stops, how many messages its group commits carried. With
--count-statements the bench database logs every statement it runs
(log_statement=all, in the server's log file) and the statements per message are
counted; that run's timings are not representative.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from messages import (  # noqa: E402
    Ack, Event, GetMessage, Header, Query, Register, Request, Response, Status, Subscribe, SystemControl,
    build, parse,
)
from messages.objects import IdStatus, Name, StudentLocator, StudentPersonal  # noqa: E402
from zone.tls import client_context, make_dev_pki  # noqa: E402

import results as bench_results  # noqa: E402  (benchmarks/results.py)

PAIRS = 5
VERSION = "2.1"
HEADERS = {"Content-Type": 'application/xml;charset="utf-8"'}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[int]:
    """The process and its children (the workers of `slf zone serve --workers N`)."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(int(k) for k in kids)]


def rss_kb(pid: int) -> int:
    """Resident memory of the server (all its workers), KiB."""
    total = 0
    for p in _tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the server and its workers."""
    ticks = 0
    for p in _tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_url() -> str:
    name = f"zis_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    return f"postgresql+asyncpg://postgres@127.0.0.1/{name}"


def psql(sql: str) -> list[str]:
    """Rows of one query on the server's maintenance database, fields separated by '|'."""
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def pg_log_file() -> Path:
    """The server's log (where log_statement writes): the collector's file, else Debian's stderr log."""
    current = psql("SELECT coalesce(pg_current_logfile(), '')")
    if current and current[0]:
        path = Path(current[0])
        if not path.is_absolute():
            path = Path(psql("SHOW data_directory")[0]) / path
        return path
    major = psql("SHOW server_version_num")[0][:2]
    return Path(f"/var/log/postgresql/postgresql-{major}-main.log")


class PgProbe:
    """Work PostgreSQL does for the zone's database: backend CPU, commits, WAL, statements."""

    STATS = ("SELECT d.xact_commit, d.xact_rollback, w.wal_records, w.wal_bytes, w.wal_write, w.wal_sync "
             "FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = '{db}'")

    def __init__(self, database: str, count_statements: bool) -> None:
        self.db = database.rsplit("/", 1)[-1]
        self.log = pg_log_file() if count_statements else None
        if self.log is not None:
            psql(f"ALTER DATABASE {self.db} SET log_statement = 'all'")

    def backends(self) -> dict[int, float]:
        """CPU seconds used so far by each backend connected to the bench database."""
        out = {}
        for pid in psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.db}'"):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(pid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return out

    def _watch(self) -> None:
        """Sample the backends a few times a second: a pool that closes and reopens connections
        would otherwise take their CPU time with them."""
        while not self._stop.wait(0.2):
            for pid, cpu in self.backends().items():
                self._first.setdefault(pid, 0.0)  # appeared during the phase: all of its time counts
                self._last[pid] = cpu

    def stats(self) -> list[int]:
        return [int(v) for v in psql(self.STATS.format(db=self.db))[0].split("|")]

    def begin(self) -> None:
        import threading

        self._first = self.backends()
        self._last = dict(self._first)
        self.stats0 = self.stats()
        self.log0 = self.log.stat().st_size if self.log else 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def end(self) -> None:
        """At the end of the phase: backend CPU and the log now; statistics once the backends report them."""
        self._stop.set()
        self._thread.join()
        self._last.update(self.backends())
        self.cpu = sum(v - self._first.get(pid, 0.0) for pid, v in self._last.items())
        self.backend_count = len(self._last)  # every backend that served the phase
        self.log1 = self.log.stat().st_size if self.log else 0

    async def settle(self) -> dict:
        """Per-phase totals. Busy backends send their counters at most once a second and idle ones
        after 10 s, so wait for them before reading."""
        await asyncio.sleep(11)
        delta = [b - a for a, b in zip(self.stats0, self.stats())]
        out = dict(zip(("commits", "rollbacks", "wal_records", "wal_bytes", "wal_writes", "wal_fsyncs"), delta))
        out.update(backend_cpu_s=self.cpu, backends=self.backend_count)
        if self.log is not None:
            with self.log.open("rb") as f:
                f.seek(self.log0)
                text = f.read(self.log1 - self.log0).decode(errors="replace")
            mine = f"@{self.db} LOG:  "
            out["statements"] = sum(1 for line in text.splitlines()
                                    if mine + "statement: " in line or mine + "execute " in line)
        return out


class Bench:
    def __init__(self, workdir: Path, database: str, workers: int = 1) -> None:
        self.workers = workers
        self.agents = [f"REQ{i}" for i in range(PAIRS)] + [f"RES{i}" for i in range(PAIRS)] + ["PUB", "SUB"]
        self.pki = make_dev_pki(workdir / "pki", clients=self.agents)
        self.port = free_port()
        rights = 'provide=["*"]\nrespond=["*"]\nrequest=["*"]\nsubscribe=["*"]\npublish_add=["*"]'
        agents = "\n".join(f'[[zones.agents]]\nsource_id="{a}"\n{rights}' for a in self.agents)
        self.config = workdir / "zone.toml"
        self.config.write_text(f"""
[server]
host = "127.0.0.1"
port = {self.port}
tls_cert = "{self.pki.server_cert}"
tls_key = "{self.pki.server_key}"
client_ca = "{self.pki.ca_cert}"
database = "{database}"
log_retention_rows = 10000

[[zones]]
id = "bench"
validation = "strict"
authentication = "certificate"
{agents}
""")
        self.url = f"https://127.0.0.1:{self.port}/zones/bench"
        self.latencies: list[float] = []
        self.proc: subprocess.Popen | None = None
        self.workdir = workdir

    def start(self) -> None:
        slf = str(Path(sys.executable).with_name("slf"))
        self.proc = subprocess.Popen([slf, "zone", "serve", "--config", str(self.config),
                                      "--workers", str(self.workers)],
                                     stdout=open(self.workdir / "zone.log", "wb"), stderr=subprocess.STDOUT)
        ctx = client_context(self.pki.ca_cert)
        for _ in range(200):
            try:
                httpx.get(f"https://127.0.0.1:{self.port}/", verify=ctx, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("zone did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(20)

    def client(self, name: str) -> aiohttp.ClientSession:
        """One agent's HTTPS client (its own certificate). aiohttp rather than httpx: on two cores
        the load generator shares the CPU with the zone, and httpx costs about twice as much per
        exchange, which would measure the client instead of the zone."""
        files = self.pki.client(name)
        ctx = client_context(self.pki.ca_cert, cert=files.cert, key=files.key)
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=4),
                                     timeout=aiohttp.ClientTimeout(total=60))

    async def post(self, client: aiohttp.ClientSession, message) -> Ack:
        body = build(message)
        t = time.perf_counter()
        async with client.post(self.url, data=body, headers=HEADERS) as r:
            content = await r.read()
        self.latencies.append(time.perf_counter() - t)
        ack = parse(content, validate=False)
        return ack

    @staticmethod
    def h(source: str, dest: str | None = None) -> Header:
        return Header.new(source, dest)

    async def register(self, client, name: str) -> None:
        ack = await self.post(client, Register(header=self.h(name), version=VERSION, name=name, versions=(VERSION,),
                                               max_buffer_size=1_048_576, mode="Pull"))
        assert ack.status and ack.status.code == 0, ack

    async def get(self, client, name: str):
        while True:
            ack = await self.post(client, SystemControl(header=self.h(name), version=VERSION, command=GetMessage()))
            if ack.status and ack.status.code == 0:
                return ack.message
            await asyncio.sleep(0.001)

    async def ack(self, client, name: str, m) -> None:
        await self.post(client, Ack(header=self.h(name), version=VERSION, original_source_id=m.source_id,
                                    original_msg_id=m.msg_id, status=Status(code=1)))

    async def pair(self, i: int, deadline: float, counter: list[int]) -> None:
        req_name, res_name = f"REQ{i}", f"RES{i}"
        async with self.client(req_name) as rc, self.client(res_name) as sc:
            while time.perf_counter() < deadline:
                example = StudentLocator(id_status=IdStatus.REQUEST, transaction_id=uuid.uuid4().hex.upper(),
                                         local_id=str(counter[0]), names=(Name(last_name="Okafor", first_name="Amara"),))
                req = Request(header=self.h(req_name, res_name), version=VERSION, versions=(VERSION,),
                              max_buffer_size=1_048_576, query=Query(object_name="StudentLocator", example=example))
                await self.post(rc, req)
                got = await self.get(sc, res_name)
                await self.ack(sc, res_name, got)
                answer = StudentLocator(id_status=IdStatus.VALID, transaction_id=example.transaction_id,
                                        state_province_id="AB1234567", confidence="100")
                await self.post(sc, Response(header=self.h(res_name, req_name), version=VERSION,
                                             request_msg_id=got.msg_id, objects=(answer,)))
                back = await self.get(rc, req_name)
                await self.ack(rc, req_name, back)
                counter[0] += 1

    async def throughput(self, seconds: float, probe: PgProbe | None = None) -> dict:
        for name in self.agents:
            async with self.client(name) as c:
                await self.register(c, name)
        self.latencies.clear()
        counter = [0]
        if probe:
            probe.begin()
        cpu0 = cpu_seconds(self.proc.pid)
        start = time.perf_counter()
        await asyncio.gather(*(self.pair(i, start + seconds, counter) for i in range(PAIRS)))
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(self.proc.pid) - cpu0
        if probe:
            probe.end()
        lat = sorted(self.latencies)
        if probe:
            n = max(len(lat), 1)
            pg = await probe.settle()
            pg_per_msg = {k: v / n for k, v in pg.items() if k != "backends"}
        return {
            "cycles": counter[0], "messages": len(lat), "seconds": elapsed,
            "server_cpu_ms_per_msg": 1000 * cpu / max(len(lat), 1), "server_cores": cpu / elapsed,
            "msgs_per_s": len(lat) / elapsed, "cycles_per_s": counter[0] / elapsed,
            "p50_ms": 1000 * lat[len(lat) // 2], "p99_ms": 1000 * lat[int(len(lat) * 0.99)],
            **({"pg": pg, "pg_per_msg": pg_per_msg} if probe else {}),
        }

    async def queued_memory(self, n: int) -> dict:
        async with self.client("SUB") as sc:
            await self.post(sc, Subscribe(header=self.h("SUB"), version=VERSION, objects=("StudentPersonal",)))
        samples = [(0, rss_kb(self.proc.pid))]
        sent = 0
        step = max(n // 10, 1)

        async def publisher(k: int, count: int) -> None:
            nonlocal sent
            async with self.client("PUB") as pc:
                for j in range(count):
                    sp = StudentPersonal(ref_id=uuid.uuid4().hex.upper(), local_id=f"{k}-{j}",
                                         name=Name(last_name="Okafor", first_name="Amara"))
                    ack = await self.post(pc, Event(header=self.h("PUB"), version=VERSION, object_name="StudentPersonal",
                                                    action="Add", objects=(sp,)))
                    assert ack.status and ack.status.code == 0, ack
                    sent += 1
                    if sent % step == 0:
                        samples.append((sent, rss_kb(self.proc.pid)))

        workers = 8
        await asyncio.gather(*(publisher(k, n // workers) for k in range(workers)))
        self.latencies.clear()
        async with self.client("SUB") as sc:
            for _ in range(200):
                m = await self.get(sc, "SUB")
                await self.ack(sc, "SUB", m)
        lat = sorted(self.latencies)
        return {"samples": samples, "getmessage_p50_ms": 1000 * lat[len(lat) // 2],
                "getmessage_p99_ms": 1000 * lat[int(len(lat) * 0.99)]}


def write(results: dict, args) -> None:
    t, m = results["throughput"], results.get("memory")
    workers = f" --workers {args.workers}" if args.workers > 1 else ""
    lines = [f"## Zone over HTTPS, {args.db}{', %d workers' % args.workers if args.workers > 1 else ''} (issue #3)",
             "",
             f"Machine: {bench_results.machine()}. Command: `.venv/bin/python benchmarks/zone_bench.py --db {args.db} "
             f"--seconds {args.seconds:g} --queued {args.queued}{workers} --write` ({time.strftime('%Y-%m-%d')}). "
             "Zone server in its own process (TLS with client certificates, strict validation, "
             "durable storage); load generator (aiohttp) in this process on the same 2-core machine.", "",
             "| measure | value | target |", "| --- | ---: | ---: |",
             f"| SIF messages per second (10 agents, full request/response cycle) | {t['msgs_per_s']:,.0f} | ≥ 1,000 |",
             f"| cycles per second (6 messages each) | {t['cycles_per_s']:,.1f} | |",
             f"| p50 per HTTP exchange | {t['p50_ms']:.1f} ms | |",
             f"| p99 per HTTP exchange | {t['p99_ms']:.1f} ms | < 50 ms |",
             f"| ratio to the 1,000 msg/s target | {t['msgs_per_s'] / 1000:.2f}× | |",
             f"| zone server CPU per message (all workers) | {t['server_cpu_ms_per_msg']:.2f} ms | |",
             f"| zone server CPU in use | {t['server_cores']:.2f} cores | |"]
    if m:
        first, last = m["samples"][0][1], m["samples"][-1][1]
        lines += [f"| server RSS with 0 → {m['samples'][-1][0]:,} queued messages | {first / 1024:.0f} → "
                  f"{last / 1024:.0f} MiB | flat |",
                  f"| GetMessage p50 / p99 with that queue | {m['getmessage_p50_ms']:.1f} / "
                  f"{m['getmessage_p99_ms']:.1f} ms | |",
                  "", "RSS samples (queued → MiB): " + ", ".join(f"{q:,} → {kb / 1024:.0f}" for q, kb in m["samples"])]
    bench_results.update_section(f"zone-{args.db}" + (f"-{args.workers}w" if args.workers > 1 else ""), lines)


async def amain(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        database = postgres_url() if args.db == "postgresql" else f"sqlite+aiosqlite:///{tmp}/zone.db"
        bench = Bench(Path(tmp), database, args.workers)
        probe = PgProbe(database, args.count_statements) if args.db == "postgresql" else None
        bench.start()
        try:
            results = {"throughput": await bench.throughput(args.seconds, probe)}
            t = results["throughput"]
            print(f"{args.db}: {t['msgs_per_s']:,.0f} msgs/s, {t['cycles_per_s']:,.1f} cycles/s, "
                  f"p50 {t['p50_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms, server {t['server_cpu_ms_per_msg']:.2f} ms "
                  f"CPU/msg on {t['server_cores']:.2f} cores")
            if probe:
                p = t["pg_per_msg"]
                print(f"postgresql per message: backend CPU {1000 * p['backend_cpu_s']:.2f} ms "
                      f"({t['pg']['backends']} backends), {p['commits']:.2f} commits, {p['rollbacks']:.3f} rollbacks, "
                      f"WAL {p['wal_records']:.1f} records / {p['wal_bytes']:,.0f} bytes / {p['wal_fsyncs']:.2f} fsyncs"
                      " (whole server)"
                      + (f", {p['statements']:.2f} statements" if "statements" in p else ""))
            if args.queued:
                results["memory"] = await bench.queued_memory(args.queued)
                m = results["memory"]
                print("RSS (queued → KiB):", m["samples"])
                print(f"GetMessage at depth: p50 {m['getmessage_p50_ms']:.1f} ms, p99 {m['getmessage_p99_ms']:.1f} ms")
        finally:
            bench.stop()
            for line in (Path(tmp) / "zone.log").read_text(errors="replace").splitlines():
                if "fast path:" in line:  # written by the server as it stops (whole run)
                    print(line.split("fast path:", 1)[1].strip().join(("fast path (whole run): ", "")))
            if args.db == "postgresql":
                name = database.rsplit("/", 1)[-1]
                subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"],
                               check=False)
        return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--queued", type=int, default=0, help="also measure memory with this many queued messages")
    ap.add_argument("--workers", type=int, default=1, help="zone server processes (PostgreSQL only)")
    ap.add_argument("--count-statements", action="store_true",
                    help="PostgreSQL: log and count the statements per message (slows the run down)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    results = asyncio.run(amain(args))
    if args.write:
        write(results, args)


if __name__ == "__main__":
    main()
