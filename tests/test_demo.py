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
