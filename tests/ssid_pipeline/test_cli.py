"""`slf ssid poll` (slf/ssid_poll.py): one pass with --once; a loop that stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from slf.ssid_poll import poll_cmd

from .conftest import AMARA_ROW, EXAMPLE


async def test_once_answers_the_ready_requests(slf, tmp_path):
    txn = await slf.request(AMARA_ROW)
    db = tmp_path / "cli-ssid.db"
    result = await asyncio.to_thread(CliRunner().invoke, poll_cmd,
                                     ["--config", EXAMPLE, "--db", str(db), "--slf-db", slf.url, "--once"])
    assert result.exit_code == 0, result.output
    assert "1 SLF rows changed" in result.output
    row = await slf.row(txn)
    assert row["N_SLF_STATUS"] == 4 and len(row["STATE_ID"]) == 9


def test_a_missing_slf_database_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(poll_cmd, ["--db", str(tmp_path / "s.db"), "--slf-db", str(tmp_path / "none.db"),
                                           "--once"])
    assert result.exit_code == 1 and "SLF tables do not exist" in result.output


async def test_sigterm_stops_the_loop_gracefully(slf, tmp_path):
    txn = await slf.request(AMARA_ROW)
    proc = subprocess.Popen([sys.executable, "-m", "slf.ssid_poll", "--config", EXAMPLE, "--db",
                             str(tmp_path / "loop.db"), "--slf-db", slf.url, "--interval", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while (await slf.row(txn))["N_SLF_STATUS"] != 4:
            assert time.monotonic() < deadline and proc.poll() is None
            await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "SYSTEM_NEW" in text and "stopped" in text and "Traceback" not in text
