"""The `slf sif` commands exactly as users and later checks call them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from messages import parse
from messages.samples import KINDS
from slf.cli import main
from tests import reference

SLF = str(Path(sys.executable).with_name("slf"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SLF, *args], capture_output=True, text=True)


def test_console_script_is_installed_and_lists_every_group():
    out = run("--help")
    assert out.returncode == 0
    for group in ("sif", "zone", "locator", "resolver", "ssid", "sis-sim", "certs", "demo"):
        assert group in out.stdout


@pytest.mark.parametrize("kind", list(KINDS))
def test_sample_prints_a_valid_message(kind, tmp_path):
    out = CliRunner().invoke(main, ["sif", "sample", kind, "--version", "2.2"])
    assert out.exit_code == 0, out.output
    data = out.output.encode()
    message = parse(data)  # strict validation against our schemas
    assert message.version == "2.2"
    if reference.available():
        assert reference.errors("2.2/openadk-csharp", data) == []


def test_sample_default_version_is_the_latest():
    out = CliRunner().invoke(main, ["sif", "sample", "ping"])
    assert parse(out.output.encode()).version == "2.6"


def test_sample_refuses_cancelrequests_in_2_0r1_with_a_reason():
    out = CliRunner().invoke(main, ["sif", "sample", "cancelrequests", "--version", "2.0r1"])
    assert out.exit_code == 2 and "2.1" in out.output


def test_sample_unknown_kind_lists_the_kinds():
    out = CliRunner().invoke(main, ["sif", "sample", "frobnicate"])
    assert out.exit_code == 2 and "register" in out.output


def test_validate_reports_ok_and_errors_with_line_and_element(tmp_path):
    good = tmp_path / "good.xml"
    good.write_text(CliRunner().invoke(main, ["sif", "sample", "request-studentlocator-example"]).output)
    bad = tmp_path / "bad.xml"
    bad.write_text(good.read_text().replace("<SIF_SourceId>ITC01-StudentLocator</SIF_SourceId>", ""))
    lower = tmp_path / "lower.xml"
    text = good.read_text()
    start = text.index('TransactionId="') + len('TransactionId="')
    lower.write_text(text[:start] + text[start:start + 32].lower() + text[start + 32:])
    out = run("sif", "validate", str(good), str(bad), str(lower))
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert lines[0] == f"{good}: ok"
    assert lines[1].startswith(f"{bad}: 1/6 ") and "SIF_SourceId" in lines[1] and "line" in lines[1]
    assert lines[2].startswith(f"{lower}: 1/4 ") and "TransactionId" in lines[2]


def test_validate_all_ok_exits_zero(tmp_path):
    f = tmp_path / "ping.xml"
    f.write_text(CliRunner().invoke(main, ["sif", "sample", "ping"]).output)
    out = CliRunner().invoke(main, ["sif", "validate", str(f)])
    assert out.exit_code == 0 and out.output.strip().endswith(": ok")


def test_validate_lenient_accepts_missing_state_province_id(tmp_path):
    text = CliRunner().invoke(main, ["sif", "sample", "response-studentlocator-ambiguous"]).output
    f = tmp_path / "amb.xml"
    f.write_text(text.replace("<StateProvinceId>AB1234567</StateProvinceId>", ""))
    strict = CliRunner().invoke(main, ["sif", "validate", str(f)])
    lenient = CliRunner().invoke(main, ["sif", "validate", "--lenient", str(f)])
    assert strict.exit_code == 1 and "1/6" in strict.output and "StateProvinceId" in strict.output
    assert lenient.exit_code == 0


def test_validate_version_option_applies_version_rules(tmp_path):
    f = tmp_path / "cancel.xml"
    f.write_text(CliRunner().invoke(main, ["sif", "sample", "cancelrequests", "--version", "2.1"]).output)
    assert CliRunner().invoke(main, ["sif", "validate", str(f)]).exit_code == 0
    out = CliRunner().invoke(main, ["sif", "validate", "--version", "2.0r1", str(f)])
    assert out.exit_code == 1 and "12/2" in out.output


def test_validate_missing_file_is_reported_not_a_traceback(tmp_path):
    out = CliRunner().invoke(main, ["sif", "validate", str(tmp_path / "nope.xml")])
    assert out.exit_code == 1 and "cannot read file" in out.output


def test_show_summarises_type_ids_route_object_and_key_fields(tmp_path):
    f = tmp_path / "resp.xml"
    f.write_text(CliRunner().invoke(main, ["sif", "sample", "response-studentlocator-ambiguous"]).output)
    out = run("sif", "show", str(f))
    assert out.returncode == 0
    text = out.stdout
    for expected in ("SIF_Response StudentLocator", "State-StudentResolver", "ITC01-StudentLocator",
                     "IdStatus=Ambiguous", "StateProvinceId=AB1234567", "Confidence=92", "BirthDate=2017-04-12"):
        assert expected in text


def test_show_explains_unreadable_input(tmp_path):
    f = tmp_path / "junk.xml"
    f.write_text("<not-closed")
    out = run("sif", "show", str(f))
    assert out.returncode == 1 and "1/2" in out.stderr
