"""`slf ssid estimate`: the state's own u from random pairs of its students, into `[matching] parameters`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from slf.cli import main
from ssid.config import load
from ssid.decisions import explanation_text
from ssid.matching import DEFAULT_PARAMETERS
from ssid.population import generate_population
from tests.ssid_batch.synth import layout_row, write_layout

from .conftest import EXAMPLE
from .test_matching_config import config


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("estimate")
    path = tmp / "ssid.db"
    pop = generate_population(3_000, seed=5)
    legacy = write_layout(tmp / "legacy.csv", load(EXAMPLE).catalogue,
                          (layout_row(s.record, s.student_id) for s in pop.students))
    out = CliRunner().invoke(main, ["ssid", "import-legacy", str(legacy), "--db", str(path), "--workers", "0"])
    assert out.exit_code == 0, out.output
    return path


def estimate(db: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["ssid", "estimate", "--out", str(out), "--db", str(db), "--sample", "3000",
                                     "--pairs", "60000", *extra])


def test_u_is_measured_from_the_students_and_the_file_is_used_by_the_configuration(db, tmp_path):
    out = estimate(db, tmp_path / "weights.json", "--version", "ohio-2027-1", "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["students"] == 3_000 and report["pairs"] == 60_000
    levels = {(r["field"], r["level"]): r for r in report["levels"]}
    gender = levels[("gender", "EXACT")]
    assert gender["measured"] and 0.45 < gender["u_after"] < 0.55  # two children: same gender half the time
    assert levels[("ssn", "EXACT")] == {**levels[("ssn", "EXACT")], "pairs": 0, "measured": False,
                                       "u_after": DEFAULT_PARAMETERS.fields["ssn"]["EXACT"].u}
    birth = levels[("birth_date", "DIFFERENT")]
    assert birth["measured"] and birth["u_after"] > 0.9

    settings = load(config(tmp_path, f'parameters = "{tmp_path / "weights.json"}"'))
    params = settings.parameters
    assert params.version == "ohio-2027-1" and settings.matcher().params is params
    for f, lv in DEFAULT_PARAMETERS.fields.items():  # m is kept; u replaced where measured
        for level, p in lv.items():
            assert params.fields[f][level].m == p.m
            if (f, level) in levels:
                assert params.fields[f][level].u == pytest.approx(levels[(f, level)]["u_after"])
    assert params.prior == DEFAULT_PARAMETERS.prior


def test_the_same_seed_writes_the_same_file(db, tmp_path):
    for name in ("a.json", "b.json"):
        assert estimate(db, tmp_path / name, "--seed", "7").exit_code == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert json.loads((tmp_path / "a.json").read_text())["version"].startswith("estimated-")


def test_the_table_says_how_to_use_the_file(db, tmp_path):
    out = estimate(db, tmp_path / "w.json")
    assert out.exit_code == 0, out.output
    assert "random pairs of 3,000 active students" in out.output
    assert "[matching]" in out.output and f'parameters = "{(tmp_path / "w.json").resolve()}"' in out.output


def test_an_empty_database_is_refused_with_a_message(tmp_path):
    db = tmp_path / "empty.db"
    assert CliRunner().invoke(main, ["ssid", "init", "--db", str(db)]).exit_code == 0
    out = estimate(db, tmp_path / "w.json")
    assert out.exit_code == 1 and "at least two active students" in out.output and "Traceback" not in out.output
    assert not (tmp_path / "w.json").exists()


def test_decisions_made_with_the_estimated_file_record_its_version(db, tmp_path):
    """The operator's whole path: estimate, name the file in [matching], run a batch file; every
    stored decision says which parameter set made it."""
    import shutil
    import sqlite3

    from .test_matching_config import amara_batch

    work = tmp_path / "ssid.db"
    shutil.copyfile(db, work)  # the module's database stays as built for the other tests
    assert estimate(work, tmp_path / "weights.json", "--version", "ohio-2027-1").exit_code == 0
    conf = config(tmp_path, 'parameters = "weights.json"')
    rows = amara_batch(tmp_path / "in.csv")
    out = CliRunner().invoke(main, ["ssid", "batch", str(rows), "--out", str(tmp_path / "out.csv"), "--config",
                                    str(conf), "--db", str(work), "--user", "u1", "--workers", "0"])
    assert out.exit_code == 0, out.output
    with sqlite3.connect(work) as conn:
        stored = [json.loads(explanation_text(text, packed)) for text, packed in conn.execute(
            "SELECT explanation, explanation_z FROM ssid_decisions WHERE kind = 'batch'")]
    assert len(stored) == 1 and stored[0]["parameters_version"] == "ohio-2027-1"


def test_m_by_em_over_the_candidates_of_stored_decisions(db, tmp_path):
    import shutil

    from ssid.population import generate_queries

    work = tmp_path / "ssid.db"
    shutil.copyfile(db, work)
    refused = estimate(work, tmp_path / "w.json", "--m-from-decisions", "5000")  # no decision stored yet
    assert refused.exit_code == 1 and "estimating m needs at least 1,000" in refused.output
    queries = generate_queries(generate_population(3_000, seed=5), 1_500, seed=6)
    rows = write_layout(tmp_path / "in.csv", load(EXAMPLE).catalogue, (layout_row(q.record) for q in queries))
    out = CliRunner().invoke(main, ["ssid", "batch", str(rows), "--out", str(tmp_path / "out.csv"), "--db", str(work),
                                    "--workers", "0"])
    assert out.exit_code == 0, out.output

    out = estimate(work, tmp_path / "w.json", "--m-from-decisions", "5000", "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["candidate_pairs"] >= 1_000 and 0 < report["match_share"] < 1
    by_field: dict[str, list[dict]] = {}
    for r in report["levels"]:
        by_field.setdefault(r["field"], []).append(r)
        if not r["m_measured"]:
            assert r["m_after"] == r["m_before"]
    estimated = {f for f, rs in by_field.items() if any(r["m_measured"] for r in rs)}
    assert {"first_name", "last_name", "birth_date", "gender"} <= estimated
    for f in estimated:  # a field's m is a distribution over its levels, kept levels included
        assert sum(r["m_after"] for r in by_field[f]) == pytest.approx(1.0)
    gender = next(r for r in by_field["gender"] if r["level"] == "EXACT")
    assert gender["m_measured"] and gender["m_after"] > 0.9  # one child's records: the same gender
    params = load(config(tmp_path, f'parameters = "{tmp_path / "w.json"}"')).parameters
    assert params.fields["gender"]["EXACT"].m == pytest.approx(gender["m_after"])
