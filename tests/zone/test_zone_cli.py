"""`slf zone mock`, `slf zone serve --config conf/zone.example.toml` and HTTP Basic zones, as users run them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from messages.objects import IdStatus, StudentLocator
from tests.zone.harness import Agent, code
from tests.zone.process import free_port
from zone.tls import client_context, make_dev_pki

ROOT = Path(__file__).resolve().parents[2]
SLF = str(Path(sys.executable).with_name("slf"))
HEADERS = {"Content-Type": 'application/xml;charset="utf-8"'}


def wait_up(url: str, verify, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        try:
            httpx.get(url, verify=verify, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not start: " + log.read_text())


def http_agent(client: httpx.AsyncClient, url: str, source_id: str) -> Agent:
    async def post(body: bytes) -> bytes:
        return (await client.post(url, content=body, headers=HEADERS)).content

    return Agent(post, source_id, "2.1")


@pytest.fixture
def mock(tmp_path):
    port = free_port()
    log = tmp_path / "mock.log"
    proc = subprocess.Popen([SLF, "zone", "mock", "--port", str(port), "--zone", "alpha", "--zone", "beta",
                             "--state-dir", str(tmp_path / "state")], stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT)
    ca = tmp_path / "state" / "pki" / "ca.pem"
    for _ in range(100):
        if ca.exists():
            break
        time.sleep(0.1)
    wait_up(f"https://127.0.0.1:{port}/", client_context(ca), proc, log)
    yield port, ca, log
    proc.terminate()
    proc.wait(10)


async def test_mock_zone_takes_any_agent_and_explains_what_to_fix(mock):
    port, ca, log = mock
    assert "CA certificate for your agent to trust" in log.read_text()
    url = f"https://127.0.0.1:{port}/zones/alpha"
    async with httpx.AsyncClient(verify=client_context(ca)) as c:
        sis, state = http_agent(c, url, "Vendor-SIS"), http_agent(c, url, "Vendor-State")
        assert code(await sis.register()) == 0  # open registration, no certificate, no config
        assert code(await state.register()) == 0
        assert code(await state.provide("StudentLocator")) == 0
        req, ack = await sis.request()
        assert code(ack) == 0
        got = await state.take()
        bad = state.response_message(got, [StudentLocator(id_status=IdStatus.VALID, transaction_id="A" * 32)])
        from messages import build

        data = build(bad).replace(b"<StateProvinceId/>", b"")
        assert code(await state.send_bytes(data)) == (1, 6)  # strict by default: refused, explained
        entries = (await c.get(url + "/log")).json()["entries"]
        refused = [e for e in entries if e["ack"].startswith("1/6")]
        assert refused and refused[0]["sender"] == "Vendor-State"
        finding = refused[0]["findings"][0]
        assert finding["error"] == "1/6" and "StateProvinceId" in finding["explanation"]
        assert "empty <StateProvinceId/>" in finding["explanation"]  # tells the vendor how to fix it
        page = (await c.get(url + "/inspect")).text
        assert "Vendor-State" in page and "StateProvinceId" in page
        # the second zone is separate
        other = (await c.get(f"https://127.0.0.1:{port}/zones/beta/log")).json()["entries"]
        assert other == []


def test_mock_zone_without_tls(tmp_path):
    port = free_port()
    log = tmp_path / "mock.log"
    proc = subprocess.Popen([SLF, "zone", "mock", "--port", str(port), "--no-tls", "--state-dir",
                             str(tmp_path / "state")], stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_up(f"http://127.0.0.1:{port}/", False, proc, log)
        body = subprocess.run([SLF, "sif", "sample", "register"], capture_output=True).stdout
        r = httpx.post(f"http://127.0.0.1:{port}/zones/mock", content=body, headers=HEADERS)
        from messages import parse

        assert parse(r.content).status.code == 0
        assert not (tmp_path / "state" / "pki").exists()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_example_configuration_serves_as_documented(tmp_path):
    """conf/zone.example.toml with certificates from `slf certs dev`, exactly as the README says."""
    work = tmp_path / "site"
    (work / "conf").mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "zone.example.toml", work / "conf" / "zone.example.toml")
    subprocess.run([SLF, "certs", "dev", "--out", str(work / "var" / "pki")], check=True, capture_output=True)
    port = free_port()
    log = tmp_path / "zone.log"
    proc = subprocess.Popen([SLF, "zone", "serve", "--config", "conf/zone.example.toml", "--port", str(port),
                             "--db", f"sqlite+aiosqlite:///{tmp_path / 'zone.db'}"], cwd=work,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    pki = work / "var" / "pki"
    try:
        wait_up(f"https://127.0.0.1:{port}/", client_context(pki / "ca.pem"), proc, log)
        url = f"https://127.0.0.1:{port}/zones/state-zone"

        def client(name):
            return httpx.AsyncClient(verify=client_context(pki / "ca.pem", cert=pki / f"{name}.pem",
                                                           key=pki / f"{name}-key.pem"))

        async with client("ITC01-StudentLocator") as lc, client("State-StudentResolver") as rc:
            loc, res = http_agent(lc, url, "ITC01-StudentLocator"), http_agent(rc, url, "State-StudentResolver")
            assert code(await loc.register()) == 0 and code(await res.register()) == 0
            assert code(await res.provide("StudentLocator")) == 0
            assert code(await loc.provide("StudentLocator")) == (4, 3)  # the access list says request only
            assert code((await loc.request())[1]) == 0
        async with client("District043802-SIS") as sc:
            stranger = http_agent(sc, url, "District043802-SIS")
            assert code(await stranger.register()) == (4, 2)  # not in the state zone's access list
    finally:
        proc.terminate()
        proc.wait(10)


async def test_http_basic_zone_checks_hashed_passwords(tmp_path):
    import asyncio

    from zone.acl import Rights
    from zone.auth import hash_password
    from zone.config import AgentSettings, ServerSettings, ZoneSettings
    from zone.server import serve

    pki = make_dev_pki(tmp_path / "pki", clients=("x",))
    zone = ZoneSettings(id="basic-zone", authentication="basic", agents=(
        AgentSettings(source_id="ITC01", rights=Rights.everything(), password_hash=hash_password("correct horse battery")),))
    port = free_port()
    settings = ServerSettings(port=port, tls_cert=pki.server_cert, tls_key=pki.server_key,
                              database=f"sqlite+aiosqlite:///{tmp_path / 'z.db'}", zones=(zone,))
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, ready=lambda base: ready.set()))
    await asyncio.wait_for(ready.wait(), 20)
    url = f"https://127.0.0.1:{port}/zones/basic-zone"
    try:
        for auth, expected in ((("ITC01", "correct horse battery"), 0), (("ITC01", "wrong"), (3, 1)), (None, (3, 1)),
                               (("someone", "correct horse battery"), (3, 1))):
            async with httpx.AsyncClient(verify=client_context(pki.ca_cert), auth=auth) as c:
                assert code(await http_agent(c, url, "ITC01").register()) == expected, auth
    finally:
        stop.set()
        await task


def test_workers_need_postgresql(tmp_path):
    work = tmp_path / "site"
    (work / "conf").mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "zone.example.toml", work / "conf" / "zone.example.toml")
    subprocess.run([SLF, "certs", "dev", "--out", str(work / "var" / "pki")], check=True, capture_output=True)
    done = subprocess.run([SLF, "zone", "serve", "--config", "conf/zone.example.toml", "--workers", "2",
                           "--db", f"sqlite+aiosqlite:///{tmp_path / 'zone.db'}"], cwd=work, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0 and "--workers needs a PostgreSQL database" in done.stderr


async def test_two_workers_serve_one_zone_over_postgresql(tmp_path, pg_databases):
    """`--workers 2`: two processes on one port and one database; an agent talking to both (new
    connections land on either) sees one zone; SIGTERM stops them all."""
    import os
    import signal

    work = tmp_path / "site"
    (work / "conf").mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "zone.example.toml", work / "conf" / "zone.example.toml")
    subprocess.run([SLF, "certs", "dev", "--out", str(work / "var" / "pki")], check=True, capture_output=True)
    port, log = free_port(), tmp_path / "zone.log"
    proc = subprocess.Popen([SLF, "zone", "serve", "--config", "conf/zone.example.toml", "--port", str(port),
                             "--db", await pg_databases.create(), "--workers", "2"], cwd=work,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    pki = work / "var" / "pki"
    try:
        wait_up(f"https://127.0.0.1:{port}/", client_context(pki / "ca.pem"), proc, log)
        kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(kids) >= 2, log.read_text()
        url = f"https://127.0.0.1:{port}/zones/state-zone"

        def client(name):  # a fresh connection per message: the kernel spreads them over the workers
            return httpx.AsyncClient(verify=client_context(pki / "ca.pem", cert=pki / f"{name}.pem",
                                                           key=pki / f"{name}-key.pem"),
                                     limits=httpx.Limits(max_keepalive_connections=0))

        async with client("ITC01-StudentLocator") as lc, client("State-StudentResolver") as rc:
            loc, res = http_agent(lc, url, "ITC01-StudentLocator"), http_agent(rc, url, "State-StudentResolver")
            assert code(await loc.register()) == 0 and code(await res.register()) == 0
            assert code(await res.provide("StudentLocator")) == 0
            sent = [(await loc.request())[0] for _ in range(6)]
            got = [(await res.take()).msg_id for _ in range(6)]
            assert got == [m.msg_id for m in sent]  # one queue, in order, whichever worker answered
            assert code(await res.get()) == 9
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0
    assert subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True).stdout == b""
