"""`slf demo` (what `make demo` runs) works end to end on a fresh state directory."""

import subprocess
import sys
from pathlib import Path

SLF = str(Path(sys.executable).with_name("slf"))


def test_demo_runs_and_every_student_gets_a_state_id(tmp_path):
    out = subprocess.run([SLF, "demo", "--rounds", "2", "--students", "3"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Every student came back to the SIS with a state ID" in out.stdout
    assert out.stdout.count("OH") >= 3  # one state ID per student, in the SIS
