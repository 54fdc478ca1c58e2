"""`slf demo` (what `make demo` runs) works end to end on a fresh state directory."""

import os
import re
import subprocess
import sys
from pathlib import Path

SLF = str(Path(sys.executable).with_name("slf"))


def test_demo_runs_the_whole_framework_and_every_student_ends_as_expected(tmp_path):
    out = subprocess.run([SLF, "demo", "--rounds", "2", "--students", "6"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600, env={**os.environ, "COLUMNS": "220"})  # no wrapped cells
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Every student ended as expected" in out.stdout
    for kind in ("returning", "near twin", "insufficient data"):
        assert kind in out.stdout
    assert "✗" not in out.stdout
    assert len(re.findall(r"\b[A-Z]{2}[0-9]{7}\b", out.stdout)) >= 6 + 3  # Ohio-profile IDs in the SIS


def test_the_demo_says_which_agent_is_not_registered_and_which_part_stopped():
    import asyncio

    import pytest

    from slf.demo_pipeline import NotReady, _until_set

    async def scenario():
        up, down = asyncio.Event(), asyncio.Event()
        up.set()
        idle = asyncio.create_task(asyncio.sleep(5), name="the resolver")
        with pytest.raises(NotReady, match=r"still waiting after 0 s for: the locator registered in state-zone"):
            await _until_set({"the resolver registered in state-zone": up,
                              "the locator registered in state-zone": down}, [idle], 0.2)

        async def broken():
            raise OSError("address already in use")

        failing = asyncio.create_task(broken(), name="the zone server")
        with pytest.raises(NotReady, match=r"the zone server stopped early: OSError\('address already in use'\)"):
            await _until_set({"the zone server": down}, [failing], 5)
        down.set()
        await _until_set({"the zone server": down}, [idle], 5)  # set: returns at once
        idle.cancel()

    asyncio.run(scenario())
