"""A real zone server process on loopback, for end-to-end, crash and hostile-traffic tests."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx

from tests.zone.harness import Agent
from zone.tls import DevPKI, client_context, make_dev_pki

SLF = str(Path(sys.executable).with_name("slf"))
AGENTS = ("ITC01-StudentLocator", "State-StudentResolver", "District043802-SIS", "Agent-4", "Agent-5")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(port: int, pki: DevPKI, database: str, *, authentication: str = "certificate",
                validation: str = "strict", request_timeout: int = 600) -> str:
    agents = "\n".join(f'''
[[zones.agents]]
source_id = "{a}"
provide = ["*"]
subscribe = ["*"]
publish_add = ["*"]
publish_change = ["*"]
publish_delete = ["*"]
request = ["*"]
respond = ["*"]''' for a in AGENTS)
    return f'''
[server]
host = "127.0.0.1"
port = {port}
tls_cert = "{pki.server_cert}"
tls_key = "{pki.server_key}"
client_ca = "{pki.ca_cert}"
database = "{database}"

[[zones]]
id = "state-zone"
source_id = "StateZIS"
validation = "{validation}"
authentication = "{authentication}"
request_timeout = {request_timeout}
{agents}

[[zones]]
id = "district-zone"
source_id = "DistrictZIS"
validation = "lenient"
authentication = "{authentication}"
{agents}
'''


def kill(proc: subprocess.Popen | None) -> None:
    """SIGKILL (no chance to clean up), then reap."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM (graceful stop); SIGKILL if it has not ended in ``timeout`` seconds."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill(proc)


@dataclass
class AgentProcess:
    """`slf <command> run --config FILE` as its own process (so a test can SIGKILL it), its
    output in ``log``."""

    config: Path
    log: Path
    proc: subprocess.Popen | None = None
    command: ClassVar[str] = ""  # "locator", "resolver", ...

    def start(self) -> "AgentProcess":
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([SLF, self.command, "run", "--config", str(self.config)], stdout=out,
                                         stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def registered(self, *zones: str) -> bool:
        """Registered and provisioned in these zones (the runtime logs "zone Z: registered as ...")."""
        text = self.text()
        return all(f"zone {z}: registered as" in text for z in zones)

    def kill(self) -> None:
        kill(self.proc)

    def stop(self, timeout: float = 15.0) -> None:
        stop(self.proc, timeout)


@dataclass
class ZoneProcess:
    workdir: Path
    pki: DevPKI
    port: int
    config: Path
    proc: subprocess.Popen | None = None

    @classmethod
    def create(cls, workdir: Path, database: str | None = None, **kw) -> "ZoneProcess":
        pki = make_dev_pki(workdir / "pki", clients=AGENTS)
        port = free_port()
        database = database or f"sqlite+aiosqlite:///{workdir / 'zone.db'}"
        config = workdir / "zone.toml"
        config.write_text(config_text(port, pki, database, **kw))
        return cls(workdir, pki, port, config)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def url(self, zone: str) -> str:
        return f"{self.base}/zones/{zone}"

    def start(self, timeout: float = 20.0) -> "ZoneProcess":
        log = open(self.workdir / "zone.log", "ab")
        self.proc = subprocess.Popen([SLF, "zone", "serve", "--config", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ctx = client_context(self.pki.ca_cert)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zone exited: {(self.workdir / 'zone.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/", verify=ctx, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("zone did not start in time")

    def kill(self) -> None:
        kill(self.proc)

    def stop(self) -> None:
        stop(self.proc)

    def client(self, name: str | None) -> httpx.AsyncClient:
        files = self.pki.client(name) if name else None
        ctx = client_context(self.pki.ca_cert, cert=files.cert if files else None, key=files.key if files else None)
        return httpx.AsyncClient(verify=ctx, timeout=30)

    def agent(self, client: httpx.AsyncClient, source_id: str, zone: str = "state-zone",
              version: str = "2.1") -> Agent:
        url = self.url(zone)

        async def post(body: bytes) -> bytes:
            r = await client.post(url, content=body, headers={"Content-Type": 'application/xml;charset="utf-8"'})
            assert r.headers["content-type"].startswith("application/xml"), r.headers
            return r.content

        return Agent(post, source_id, version)
