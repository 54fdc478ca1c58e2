"""`slf ssid serve` as an operator runs it: a real process over real HTTPS on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from sif_agent.resolver.migrations import migrate as slf_migrate
from slf.ssid_serve import serve_cmd
from tests.ssid_pipeline.conftest import AMARA_ROW, EXAMPLE, EXTRA, Slf
from tests.zone.process import free_port
from zone.tls import client_context, make_dev_pki

SLF = str(Path(sys.executable).with_name("slf"))
NEW_ROW = {**AMARA_ROW, "LEGAL_FIRST_NAME": "Nadia", "LEGAL_MIDDLE_NAME": "Rose", "LEGAL_LAST_NAME": "Haddad",
           "BIRTH_DATE": "20160105"}
#: the example configuration without its own [server] / [extracts] tables
BASE_CONFIG = Path(EXAMPLE).read_text(encoding="utf-8").split("# ---- `slf ssid serve`")[0]


def write_config(path: Path, server: str, extracts: str = "") -> Path:
    path.write_text(BASE_CONFIG + "\n[server]\n" + server + ("\n[extracts]\n" + extracts if extracts else ""),
                    encoding="utf-8")
    return path


async def until(check, what: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen (exit {proc.poll()})\n{log.read_text()}")
        await asyncio.sleep(0.1)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_the_server_answers_beats_extracts_decides_and_stops_on_sigterm(tmp_path):
    pki = make_dev_pki(tmp_path / "pki")
    port = free_port()
    slf = Slf(f"sqlite+aiosqlite:///{tmp_path}/slf.db")
    await slf_migrate(slf.engine, EXTRA)
    before = await slf.request(NEW_ROW)  # waiting when the server starts
    extracts = tmp_path / "extracts"
    cfg = write_config(tmp_path / "ssid.toml", f'''host = "127.0.0.1"
port = {port}
tls_cert = "pki/server.pem"
tls_key = "pki/server-key.pem"
slf_database = "slf.db"
poll_interval = 0.1
heartbeat_interval = 0.3
''', 'dir = "extracts"\ndelta_every = "1s"\n')
    db = tmp_path / "ssid.db"
    init = subprocess.run([SLF, "ssid", "init", "--config", str(cfg), "--db", str(db)], capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([SLF, "ssid", "serve", "--config", str(cfg), "--db", str(db)], stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT)
    try:
        base = f"https://127.0.0.1:{port}"
        async with httpx.AsyncClient(verify=client_context(pki.ca_cert), timeout=5) as client:
            async def health():
                try:
                    return await client.get(f"{base}/healthz")
                except httpx.TransportError:
                    return None

            r = await until(health, "/healthz over HTTPS", proc, log)
            body = r.json()
            assert r.status_code == 200 and body["status"] == "ok" and body["database"] == "ok"
            assert body["slf_poller"] == "running" and body["heartbeat"] == "running"
        with pytest.raises(httpx.TransportError):  # HTTPS only: plain HTTP gets no answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)

        # the SLF rows: the one waiting at start and one written while the server runs
        after = await slf.request({**NEW_ROW, "LEGAL_FIRST_NAME": "Omar", "LEGAL_LAST_NAME": "Farouk"})

        async def decided():
            got = [await slf.row(t) for t in (before, after)]
            return got if all(r["N_SLF_STATUS"] == 4 for r in got) else None

        got = await until(decided, "SLF rows decided by the server", proc, log)
        assert len({r["STATE_ID"] for r in got}) == 2
        recorded = rows(db, "SELECT request_key, outcome, student_id, received_at, decided_at FROM ssid_decisions "
                            "WHERE kind = 'slf' ORDER BY id")
        assert [(k, o, s) for k, o, s, _, _ in recorded] == [(r["SLF_TRANSACTION_GUID"], "new", r["STATE_ID"])
                                                              for r in got]
        for (_, _, _, received, decided_at), r in zip(recorded, got):
            assert received == pytest.approx(r["CREATED_AT"]) and received <= decided_at

        async def beats():
            b = rows(db, "SELECT at, interval_s FROM ssid_heartbeats ORDER BY at")
            return b if len(b) >= 3 else None

        b = await until(beats, "three heartbeats", proc, log)
        assert all(i == 0.3 for _, i in b) and all(0.1 < y - x < 1.5 for (x, _), (y, _) in zip(b, b[1:]))

        async def deltas():
            found = sorted(extracts.glob("ssid-delta-*.csv.manifest.json"))
            return found if len(found) >= 2 else None

        manifests = await until(deltas, "two scheduled delta extracts", proc, log)
        m = json.loads(manifests[-1].read_text())
        assert m["kind"] == "delta" and (extracts / m["file"]).exists()
        assert not list(extracts.glob("ssid-active-*"))  # not scheduled in this configuration

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        await slf.engine.dispose()
    text = log.read_text()
    assert "SSID server listening on https://127.0.0.1" in text and "stopped" in text and "Traceback" not in text
    assert "Nadia" not in text and "Haddad" not in text  # no student data in the INFO log


def serve_args(cfg: Path, *extra: str) -> list[str]:
    return ["--config", str(cfg), *extra]


@pytest.mark.parametrize("server, extra, problem", [
    ('host = "127.0.0.1"\n', (), "[server] tls_cert and tls_key are not set"),
    ('host = "0.0.0.0"\n', ("--no-tls",), "only on a loopback address (127.0.0.1, ::1, localhost), not 0.0.0.0"),
    ('tls_cert = "nowhere.pem"\ntls_key = "nowhere-key.pem"\n', (), "[server] tls_cert: "),
    ('port = "eighty"\n', (), "port must be a whole number"),
])
def test_start_up_problems_are_clear(tmp_path, server, extra, problem):
    cfg = write_config(tmp_path / "ssid.toml", server)
    result = CliRunner().invoke(serve_cmd, serve_args(cfg, "--db", str(tmp_path / "ssid.db"), *extra))
    assert result.exit_code == 1 and problem in result.output, result.output


def test_a_bad_schedule_and_a_missing_database_are_clear(tmp_path):
    cfg = write_config(tmp_path / "ssid.toml", 'host = "127.0.0.1"\n', 'dir = "x"\nactive_at = "2am"\n')
    result = CliRunner().invoke(serve_cmd, serve_args(cfg, "--no-tls"))
    assert result.exit_code == 1 and "[extracts] active_at: '2am' is not a time of day" in result.output
    cfg = write_config(tmp_path / "ssid.toml", 'host = "127.0.0.1"\n')
    result = CliRunner().invoke(serve_cmd, serve_args(cfg, "--no-tls", "--db", str(tmp_path / "none.db")))
    assert result.exit_code == 1 and "create it with `slf ssid init`" in result.output
