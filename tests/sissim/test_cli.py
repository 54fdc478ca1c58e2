"""`slf sis-sim` help texts and the errors it gives before touching the network."""

from __future__ import annotations

from click.testing import CliRunner

from sif_agent.sissim import COLUMNS, RESULT_COLUMNS
from slf.cli import PLANNED, main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_group_is_real_not_planned():
    assert "sis-sim" not in PLANNED
    out = invoke("sis-sim", "--help")
    assert out.exit_code == 0
    assert "run" in out.output and "results" in out.output
    assert "No subcommands" not in out.output


def test_run_help_documents_options_and_both_csv_formats():
    out = invoke("sis-sim", "run", "--help")
    assert out.exit_code == 0
    text = " ".join(out.output.split())
    for option in ("--zone", "--zone-id", "--source-id", "--ca", "--cert", "--key", "--students", "--generate",
                   "--seed", "--style", "--school-year", "--results", "--wait"):
        assert option in text
    assert "plain" in text and "sasi" in text
    assert ",".join(COLUMNS) in out.output  # the input header, unwrapped
    assert ",".join(RESULT_COLUMNS) in out.output
    assert "3 when some did not" in text


def test_results_help():
    out = invoke("sis-sim", "results", "--help")
    assert out.exit_code == 0 and ",".join(RESULT_COLUMNS) in out.output


def test_run_needs_exactly_one_source_of_students(tmp_path):
    base = ("sis-sim", "run", "--zone", "https://127.0.0.1:1/zones/z", "--source-id", "SIS")
    out = invoke(*base)
    assert out.exit_code == 2 and "either --students" in out.output
    students = tmp_path / "s.csv"
    students.write_text(",".join(COLUMNS) + "\n")
    out = invoke(*base, "--generate", "3", "--students", str(students))
    assert out.exit_code == 2 and "either --students" in out.output


def test_run_reports_a_bad_students_file_by_row_and_column(tmp_path):
    students = tmp_path / "s.csv"
    students.write_text(",".join(COLUMNS) + "\n"
                        "1,Amara,,Okafor,12/04/2017,F,1000,No,eng,Columbus,03,012345,Maple,2026-08-19,1\n")
    out = invoke("sis-sim", "run", "--zone", "https://127.0.0.1:1/zones/z", "--source-id", "SIS",
                 "--students", str(students), "--state-dir", str(tmp_path / "sim"))
    assert out.exit_code == 1
    assert "row 1 (line 2), column BirthDate" in out.output and "YYYY-MM-DD" in out.output


def test_results_refuses_a_file_that_is_not_a_results_file(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("a,b\n1,2\n")
    out = invoke("sis-sim", "results", str(bad))
    assert out.exit_code == 1 and "expected the header" in out.output
