"""`slf ssid` as an operator uses it: help, init, import-legacy, show, maintenance, audit, errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from slf.cli import PLANNED, main

from .conftest import AMARA, EXAMPLE

SLF = str(Path(sys.executable).with_name("slf"))
HEADER = ("UserID,DateTimeCreated,Building_IRN,District_IRN,StudentID,LegalFirstName,LegalMiddleName,LegalLastName,"
          "BirthDate,Gender,BirthPlaceCity,RaceEthnicity,NativeLanguage,AdmissionReason,SSN,MothersMaidenName,"
          "UserDefined")


def slf(*args: str, db: Path | None = None):
    extra = ["--db", str(db)] if db is not None else []
    return CliRunner().invoke(main, ["ssid", *args, *extra])


def legacy_file(path: Path, rows: list[dict[str, str]]) -> Path:
    cols = HEADER.split(",")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            full = {"UserID": "olduser", "DateTimeCreated": "02/13/2002 04:18:31", "Building_IRN": "000101",
                    "District_IRN": "043802", **AMARA, "UserDefined": "", **r}
            w.writerow([full.get(c, "") for c in cols])
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "ssid.db"
    out = slf("init", db=path)
    assert out.exit_code == 0, out.output
    return path


def test_the_ssid_group_is_installed_and_no_longer_planned():
    assert "ssid" not in PLANNED
    out = subprocess.run([SLF, "ssid", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("init", "import-legacy", "show", "modify", "deactivate", "reactivate", "audit", "user",
                    "catalogue", "reserve"):
        assert command in out.stdout
    assert "No subcommands" not in out.stdout


def test_every_command_takes_config_and_db():
    for args in (["init"], ["import-legacy"], ["show"], ["modify"], ["deactivate"], ["audit"], ["decisions"],
                 ["catalogue"], ["reserve"], ["reactivate", "request"], ["reactivate", "approve"], ["reactivate", "list"],
                 ["user", "add"], ["user", "list"], ["user", "limit"]):
        out = CliRunner().invoke(main, ["ssid", *args, "--help"])
        assert out.exit_code == 0 and "--config" in out.output and "--db" in out.output, args


def test_init_creates_then_reports_up_to_date(tmp_path):
    path = tmp_path / "new" / "ssid.db"
    first = slf("init", db=path)
    assert first.exit_code == 0 and "migration 1" in first.output and path.exists()
    again = slf("init", db=path)
    assert "the schema is up to date" in again.output and "0 active" in again.output


def test_init_uses_the_configured_database(tmp_path):
    conf = tmp_path / "ssid.toml"
    conf.write_text(Path(EXAMPLE).read_text().replace('database = "../var/ssid.db"', 'database = "data/ssid.db"'))
    out = CliRunner().invoke(main, ["ssid", "init", "--config", str(conf)])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "data" / "ssid.db").exists()


def test_commands_refuse_a_database_that_does_not_exist(tmp_path):
    out = slf("show", "AB1234567", db=tmp_path / "typo.db")
    assert out.exit_code == 1 and "no SSID database at" in out.output and "slf ssid init" in out.output
    assert not (tmp_path / "typo.db").exists()


def test_a_bad_configuration_is_reported_not_a_traceback(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text('[tasks.generate]\nrequired = ["SSN"]\n')
    out = CliRunner().invoke(main, ["ssid", "catalogue", "--config", str(conf)])
    assert out.exit_code == 1 and "SSN cannot be required" in out.output and "Traceback" not in out.output


def test_catalogue_shows_the_rules_and_the_minimal_group():
    out = CliRunner().invoke(main, ["ssid", "catalogue", "--config", EXAMPLE])
    assert out.exit_code == 0
    assert "group minimal, task generate: requires LegalFirstName, LegalLastName, BirthDate" in out.output
    assert "Gender" in out.output and "codes F, M, X" in out.output
    data = json.loads(CliRunner().invoke(main, ["ssid", "catalogue", "--json"]).output)
    assert len(data["tasks"]["generate"]) == 9 and "SSN" not in data["tasks"]["generate"]


def test_import_legacy_loads_reports_and_is_idempotent(db, tmp_path):
    f = legacy_file(tmp_path / "legacy.csv", [{"StudentID": "XY1234567"}, {"StudentID": "1234567"},
                                              {"StudentID": "XY7654321", "Gender": "Q", "BirthDate": "2017-31-12"}])
    report = tmp_path / "problems.csv"
    out = slf("import-legacy", str(f), "--workers", "0", "--report", str(report), db=db)
    assert out.exit_code == 1, out.output
    assert "loaded 2; already present 0; present with other values 0; rejected 1" in out.output
    assert "row 3 (line 4), BirthDate: is not a date" in out.output and "row 3 (line 4), Gender" in out.output
    assert "run the same command again" in out.output
    with open(report, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["Row"], r["Line"], r["Column"]) for r in rows] == [("3", "4", "BirthDate"), ("3", "4", "Gender")]
    again = slf("import-legacy", str(legacy_file(f, [{"StudentID": "XY1234567"}, {"StudentID": "1234567"}])),
                "--workers", "0", db=db)
    assert again.exit_code == 0, again.output
    assert "loaded 0; already present 2" in again.output


def test_import_legacy_refuses_a_wrong_header_with_the_expected_one(db, tmp_path):
    f = tmp_path / "wrong.csv"
    f.write_text("StudentID,FirstName,LastName\nXY1234567,Amara,Okafor\n")
    out = slf("import-legacy", str(f), "--workers", "0", db=db)
    assert out.exit_code == 1 and "wrong header" in out.output and HEADER in out.output


def test_import_legacy_with_worker_processes_from_the_console_script(db, tmp_path):
    f = legacy_file(tmp_path / "legacy.csv", [{"StudentID": f"XY00000{i:02d}", "LegalFirstName": f"Kid{c}"}
                                              for i, c in enumerate("abcdefghijkl")])
    out = subprocess.run([SLF, "ssid", "import-legacy", str(f), "--db", str(db), "--workers", "2", "--chunk-size",
                          "5"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "loaded 12" in out.stdout and "importing" in out.stderr  # the progress bar is on stderr


def test_show_maintenance_and_audit_from_the_command_line(db, tmp_path):
    f = legacy_file(tmp_path / "l.csv", [{"StudentID": "XY0000001", "SSN": "123-45-6789"},
                                         {"StudentID": "XY0000002", "LegalMiddleName": "G"}])
    assert slf("import-legacy", str(f), "--workers", "0", db=db).exit_code == 0
    assert slf("user", "add", "ann", "--district", "043802", "--role", "district_admin", db=db).exit_code == 0
    assert slf("user", "add", "sam", "--role", "state_approver", db=db).exit_code == 0

    shown = slf("show", "xy0000001", db=db)
    assert shown.exit_code == 0 and "XY0000001  ACTIVE" in shown.output
    assert "*****6789" in shown.output and "123456789" not in shown.output and "origin legacy" in shown.output

    bad = slf("deactivate", "XY0000002", "--surviving", "XY0000001", "--reason", "dup", "--user", "ann", db=db)
    assert bad.exit_code == 1 and "does not say why" in bad.output
    ok = slf("deactivate", "XY0000002", "--surviving", "XY0000001", "--reason", "same child as XY0000001, "
             "loaded twice by the prior system", "--user", "ann", db=db)
    assert ok.exit_code == 0 and "deactivated by ann (district 043802)" in ok.output
    shown = slf("show", "XY0000002", db=db)
    assert "DEACTIVATED" in shown.output and "(active ID: XY0000001)" in shown.output
    assert "by ann (district 043802): surviving ID XY0000001" in shown.output

    req = slf("reactivate", "request", "XY0000002", "--reason", "not a duplicate: a different child", "--user",
              "ann", db=db)
    assert req.exit_code == 0 and "waiting for the state's approval" in req.output
    assert "XY0000002" in slf("reactivate", "list", db=db).output
    own = slf("reactivate", "approve", "1", "--user", "ann", db=db)
    assert own.exit_code == 1 and "may not approve" in own.output
    assert slf("reactivate", "approve", "1", "--user", "sam", db=db).exit_code == 0
    assert "ACTIVE" in slf("show", "XY0000002", db=db).output

    mod = slf("modify", "XY0000002", "--set", "LegalMiddleName=Grace", "--user", "ann", db=db)
    assert mod.exit_code == 1 and "identical in name, birth date and gender to active student XY0000001" in mod.output
    assert slf("modify", "XY0000002", "--set", "NativeLanguage=IBO", "--user", "ann", db=db).exit_code == 0
    assert slf("modify", "XY0000002", "--set", "NativeLanguage", "--user", "ann", db=db).exit_code == 2

    audit = slf("audit", "--id", "XY0000002", db=db)
    lines = audit.output.strip().splitlines()
    assert [ln.split()[4] for ln in lines] == ["LEGACY_IMPORT", "DEACTIVATE", "REACTIVATION_REQUEST", "REACTIVATE",
                                              "MODIFY"]
    assert "NativeLanguage: ENG → IBO" in lines[-1] and "district 043802" in lines[-1]
    as_json = [json.loads(x) for x in slf("audit", "--json", "--type", "modify", db=db).output.splitlines()]
    assert as_json[0]["old"] == {"NativeLanguage": "ENG"} and as_json[0]["user_district"] == "043802"


def test_user_errors_are_messages(db):
    out = slf("deactivate", "XY0000002", "--surviving", "XY0000001", "--reason", "x" * 20, "--user", "nobody", db=db)
    assert out.exit_code == 1 and "no user 'nobody'" in out.output and "slf ssid user add" in out.output
    out = slf("show", "ZZ0000000", db=db)
    assert out.exit_code == 1 and "no student with ID 'ZZ0000000'" in out.output
    assert slf("user", "add", "ann", "--group", "nosuch", db=db).exit_code == 1
    limited = slf("user", "add", "bob", db=db), slf("user", "limit", "bob", "--forced-new-limit", "0", db=db)
    assert "at most 0 forced new IDs a day" in limited[1].output
    assert "bob" in slf("user", "list", db=db).output


def test_reserve_records_ids_as_used(db, tmp_path):
    f = tmp_path / "old-ids.txt"
    f.write_text("AB0000001\nAB0000002\n\n")
    out = slf("reserve", str(f), "--kind", "retired", db=db)
    assert out.exit_code == 0 and "2 ID(s) recorded as retired" in out.output
    assert "recorded as a retired ID" in slf("show", "AB0000001", db=db).output


def test_decisions_shows_each_decision_with_its_explanation(db, tmp_path):
    """A lookup's explanation is stored compressed; `slf ssid decisions` reads it back (SSN masked)."""
    first = legacy_file(tmp_path / "first.csv", [{"StudentID": "", "SSN": "123-45-6789"}])
    again = legacy_file(tmp_path / "again.csv", [{"StudentID": "", "SSN": "123-45-6789", "UserDefined": "again"}])
    for src in (first, again):
        out = slf("batch", str(src), "--out", str(tmp_path / f"{src.stem}.out.csv"), "--workers", "0", db=db)
        assert out.exit_code == 0, out.output
    out = slf("decisions", "--json", db=db)
    assert out.exit_code == 0, out.output
    new, match = [json.loads(line) for line in out.output.splitlines()]
    assert (new["kind"], new["outcome"], match["outcome"]) == ("batch", "new", "match")
    assert match["student_id"] == new["student_id"] and match["explanation"]["student_id"] == new["student_id"]
    assert match["explanation"]["query"]["ssn"] == "*****6789" and "123-45-6789" not in out.output
    assert {c["student_id"] for c in match["explanation"]["candidates"]} == {new["student_id"]}
    one = slf("decisions", "--key", match["request_key"], "--explain", db=db)
    assert one.exit_code == 0, one.output
    assert f"batch match      {new['student_id']}" in one.output and '"candidates_scored": 1' in one.output
    assert "no decisions" in slf("decisions", "--job", "batch-none", db=db).output


def test_decisions_lists_the_rest_when_one_explanation_cannot_be_read(db, tmp_path):
    """A row compressed with a dictionary this version lacks (a newer version wrote it) is shown
    as unreadable, saying why; the decisions around it are listed as usual."""
    import sqlite3

    src = legacy_file(tmp_path / "in.csv", [{"StudentID": ""}])
    assert slf("batch", str(src), "--out", str(tmp_path / "out.csv"), "--workers", "0", db=db).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO ssid_decisions (kind, request_key, outcome, explanation_z, decided_at) "
                     "VALUES ('api', 'later', 'match', ?, 2e9)", (bytes((9,)) + bytes(40),))
    out = slf("decisions", "--json", db=db)
    assert out.exit_code == 0, out.output
    issued, later = [json.loads(line) for line in out.output.splitlines()]
    assert issued["outcome"] == "new" and issued["explanation"]["outcome"] == "NO_MATCH"
    assert "dictionary 9, which this version does not have" in later["explanation"]["unreadable"]
