"""Real processes over HTTPS on loopback: a zone (`slf zone serve`, development PKI) and the
resolver (`slf resolver run --config ...`), for the end-to-end and crash tests."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.zone.process import SLF, AgentProcess, ZoneProcess

RESOLVER = "State-StudentResolver"
STATE_ZONE, DISTRICT_ZONE = "state-zone", "district-zone"
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def resolver_toml(tmp: Path, zone: ZoneProcess, database: str, *, poll_interval: float = 0.2,
                  on_complete: str = "delete", worker_id: str = "resolver-e2e") -> Path:
    files = zone.pki.client(RESOLVER)
    path = tmp / "resolver.toml"
    path.write_text(f'''
[agent]
source_id = "{RESOLVER}"
outbox = "{tmp / 'resolver-outbox.db'}"

[[zones]]
id = "{STATE_ZONE}"
url = "{zone.url(STATE_ZONE)}"
versions = ["2.1"]
pull_interval = 0.05
timeout = 5.0
provide = ["StudentLocator"]
respond = ["StudentLocator"]
[zones.tls]
ca = "{zone.pki.ca_cert}"
cert = "{files.cert}"
key = "{files.key}"
[zones.retry]
attempts = 2
initial = 0.05
maximum = 0.2

[resolver]
database = "{database}"
worker_id = "{worker_id}"
on_complete = "{on_complete}"
poll_interval = {poll_interval}
claim_lease = 5.0

[[resolver.columns]]
name = "ETHNICITY_CODE"
codes = ["ohio_ethnicity"]

[[resolver.columns]]
name = "BIRTHPLACE_CITY"
path = "Demographics/PlaceOfBirth"
length = 60

[resolver.codes.ohio_ethnicity]
side = "state"
unknown = "error"
file = "{MAPPINGS / 'codes' / 'ohio_ethnicity.csv'}"
''')
    return path


class ResolverProcess(AgentProcess):
    command = "resolver"

    def wait_registered(self, timeout: float = 20.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.text().count(f"registered as {RESOLVER}") >= count:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"resolver exited ({self.proc.returncode}): {self.text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"resolver did not register in time: {self.text()[-3000:]}")

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM; the exit code (the test fails if it does not stop in time)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)
