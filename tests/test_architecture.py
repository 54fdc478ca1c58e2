"""The import rules of docs/architecture.md, enforced with import-linter contracts."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_messages_layer_imports_no_io_library():
    """Belt and braces: importing messages pulls in no network, database or async library."""
    code = (
        "import sys, messages, messages.validate, messages.samples, messages.summary;"
        "bad = [m for m in ('aiohttp','httpx','sqlalchemy','asyncio','socket','click') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
