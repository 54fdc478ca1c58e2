"""`[matching]` in the SSID configuration: thresholds and m/u parameters, as every deciding process uses them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from slf.cli import main
from ssid.config import ConfigError, load
from ssid.matching import DEFAULT_PARAMETERS, LevelParam, Thresholds

from .conftest import AMARA, EXAMPLE
from .test_cli import HEADER, legacy_file

EXAMPLE_TEXT = Path(EXAMPLE).read_text(encoding="utf-8")


def config(tmp_path: Path, matching: str) -> Path:
    """The example configuration with its [matching] table replaced by ``matching``."""
    start = EXAMPLE_TEXT.index("[matching]")
    end = EXAMPLE_TEXT.index("# ----", start)
    path = tmp_path / "ssid.toml"
    path.write_text(EXAMPLE_TEXT[:start] + "[matching]\n" + matching + "\n\n" + EXAMPLE_TEXT[end:], encoding="utf-8")
    return path


def amara_batch(path: Path) -> Path:
    """A batch file of one row: AMARA, re-submitted by district user u1 (no StudentID)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER.split(","))
        full = {"UserID": "u1", "DateTimeCreated": "2027-01-15T08:00:00", "Building_IRN": "000101",
                "District_IRN": "043802", **AMARA}
        w.writerow([full.get(c, "") for c in HEADER.split(",")])
    return path


def test_the_example_configuration_states_the_built_in_thresholds():
    settings = load(EXAMPLE)
    assert settings.thresholds == Thresholds()
    assert settings.parameters is DEFAULT_PARAMETERS
    m = settings.matcher()
    assert m.thresholds == settings.thresholds and m.params is settings.parameters


def test_thresholds_and_a_parameters_file_from_the_configuration(tmp_path):
    params = DEFAULT_PARAMETERS.replace_levels("ohio-2027-1", {"gender": {"EXACT": LevelParam(0.99, 0.5)}})
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "ohio.json").write_text(json.dumps(params.to_dict()), encoding="utf-8")
    path = config(tmp_path, 'match = 30\nmargin = 8.5\nmax_candidates = 3\nparameters = "weights/ohio.json"')
    settings = load(path)  # the parameters path is read from the configuration file's folder
    assert (settings.thresholds.match, settings.thresholds.margin, settings.thresholds.max_candidates) == (30.0, 8.5, 3)
    assert settings.thresholds.review == Thresholds().review  # what is not set keeps its default
    assert settings.parameters == params and settings.matcher().params.version == "ohio-2027-1"


def test_every_bad_matching_setting_is_reported_at_once(tmp_path):
    path = config(tmp_path, 'match = "high"\nmax_candidates = 2.5\nreview_when_incomplete = "yes"\ntreshold = 3')
    with pytest.raises(ConfigError) as e:
        load(path)
    text = str(e.value)
    assert str(path) in text
    assert "[matching] match must be a number (weight units), got 'high'" in text
    assert "[matching] max_candidates must be a whole number, got 2.5" in text
    assert "[matching] review_when_incomplete must be true or false" in text
    assert "[matching]: unknown keys treshold" in text


@pytest.mark.parametrize("matching, says", [
    ("review = 30", "review <= match <= match_inexact_birth_date (got review 30, match 26"),
    ("match = 40", "(got review 16, match 40, match_inexact_birth_date 32)"),
    ("margin = -1", "margin >= 0 (got max_candidates 5, margin -1)"),
    ("max_candidates = 0", "max_candidates must be >= 1"),
    ("reference_population = 0", "reference_population must be at least 1"),
])
def test_thresholds_out_of_order_are_refused_with_their_values(tmp_path, matching, says):
    with pytest.raises(ConfigError, match="matching") as e:
        load(config(tmp_path, matching))
    assert says in str(e.value)


@pytest.mark.parametrize("content, says", [
    (None, "weights.json: file not found"),
    ("{not json", "not valid JSON"),
    ('{"fields": {}}', 'not a parameter set (KeyError'),
    (json.dumps({**DEFAULT_PARAMETERS.to_dict(), "fields": {**DEFAULT_PARAMETERS.to_dict()["fields"],
                                                             "gender": {"SAME": {"m": 0.9, "u": 0.5}}}}),
     "gender: unknown level SAME"),
    (json.dumps({**DEFAULT_PARAMETERS.to_dict(), "fields": {"gender": {"EXACT": {"m": 1.5, "u": 0.5}}}}),
     "m and u must be probabilities"),
])
def test_a_bad_parameters_file_is_named_with_its_problem(tmp_path, content, says):
    if content is not None:
        (tmp_path / "weights.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load(config(tmp_path, 'parameters = "weights.json"'))
    assert "[matching] parameters: " in str(e.value) and says in str(e.value)


def test_the_batch_command_decides_with_the_configured_thresholds(tmp_path):
    """An operator raises T_match above anything a pair can score: the returning student that the
    built-in thresholds match goes to a person instead, and the output says so."""
    db = tmp_path / "ssid.db"
    run = CliRunner()
    assert run.invoke(main, ["ssid", "init", "--db", str(db)]).exit_code == 0
    legacy = legacy_file(tmp_path / "legacy.csv", [{"StudentID": "AB1234567"}])
    out = run.invoke(main, ["ssid", "import-legacy", str(legacy), "--db", str(db), "--workers", "0"])
    assert out.exit_code == 0, out.output
    rows = amara_batch(tmp_path / "in.csv")
    codes = {}
    for name, conf in (("built-in", EXAMPLE), ("strict", config(tmp_path, "match = 200\nmatch_inexact_birth_date = 200"))):
        result = tmp_path / f"{name}.csv"
        out = run.invoke(main, ["ssid", "batch", str(rows), "--out", str(result), "--config", str(conf),
                                "--db", str(db), "--user", "u1"])
        assert out.exit_code == 0, out.output
        with open(result, encoding="utf-8") as f:
            (row,) = list(csv.DictReader(f))
        codes[name] = (row["ResultCode"], row["StudentID"])
    assert codes == {"built-in": ("MATCH", "AB1234567"), "strict": ("POTENTIAL", "")}


async def test_every_process_that_decides_takes_the_configured_matcher(tmp_path):
    """The SLF poller, batch files, the REST API and the web UI (the sweep: test_sweep_report.py)."""
    from ssid.api.app import STATE as API_STATE
    from ssid.api.app import build_app
    from ssid.batch import BatchRunner
    from ssid.poller import SlfPoller
    from ssid.store import SsidStore
    from ssid.web.app import make_web_app
    from ssid.web.common import STATE as WEB_STATE

    settings = load(config(tmp_path, "match = 29.5\nreview = 14\nmargin = 7"))
    store = SsidStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'ssid.db'}", settings)
    await store.migrate()
    slf_url = f"sqlite+aiosqlite:///{tmp_path / 'slf.db'}"
    try:
        poller = SlfPoller(store, slf_url)
        matchers = {
            "poller": poller.matcher,
            "batch": BatchRunner(store).matcher,
            "api": build_app(store, settings)[API_STATE].matcher,
            "web": make_web_app(store, settings)[WEB_STATE].matcher,
            "web with its poller": make_web_app(store, settings, slf_db=slf_url)[WEB_STATE].matcher,
        }
        await poller.close()
        assert {name: m.thresholds for name, m in matchers.items()} == dict.fromkeys(matchers, settings.thresholds)
    finally:
        await store.close()


def test_a_state_adds_its_own_romanized_first_names(tmp_path):
    from dataclasses import replace

    from ssid.matching import InMemoryIndex, Outcome, StudentRecord, TermFrequencies

    settings = load(config(tmp_path, 'romanized = ["Abdirizak Abdirisaq  Abdirisaaq"]'))
    assert settings.romanizations.alike("ABDIRIZAK", "ABDIRISAAQ")
    assert settings.romanizations.alike("DANIIL", "DANIEL")  # the built-in lines stay
    stored = StudentRecord(first_name="Abdirizak", last_name="Warsame", birth_date="2016-03-04", gender="M",
                           birth_city="Columbus", race_ethnicity="B", native_language="SOM", district="043802")
    names = TermFrequencies({"first_name": {"ABDIRIZAK": 300, "ABDIRISAQ": 200}, "last_name": {"WARSAME": 40}},
                            {"first_name": 100_000, "last_name": 100_000})
    outcomes = {}
    for name, s in (("built-in", load(EXAMPLE)), ("with the line", settings)):
        m = s.matcher()
        m.source, m.frequencies = InMemoryIndex(), names
        m.source.add("S1", stored)
        outcomes[name] = m.match(replace(stored, first_name="Abdirisaq")).outcome
    # both spellings are names children carry: only the state's line tells them from twins' names
    assert outcomes == {"built-in": Outcome.POTENTIAL, "with the line": Outcome.MATCH}


def test_the_matcher_keeps_the_state_lines_in_its_worker_processes(tmp_path):
    import pickle

    m = load(config(tmp_path, 'romanized = ["ABDIRIZAK ABDIRISAQ"]')).matcher()
    again = pickle.loads(pickle.dumps(m))  # batch planners receive the matcher this way
    assert again.romanizations == m.romanizations and again._alike("ABDIRIZAK", "ABDIRISAQ")


@pytest.mark.parametrize("value, says", [
    ('["ABDIRIZAK"]', "romanized line 1 ('ABDIRIZAK'): needs two spellings or more"),
    ('["AMINA AMEENA", "ANNE-MARIE ANNMARIE"]', "romanized line 2 ('ANNE-MARIE ANNMARIE'): each spelling must be "
                                                "one word of letters (no hyphen, apostrophe or digit): ANNE-MARIE"),
    ('"ABDIRIZAK ABDIRISAQ"', "romanized must be a list of lines"),
])
def test_bad_romanized_lines_are_refused(tmp_path, value, says):
    with pytest.raises(ConfigError) as e:
        load(config(tmp_path, f"romanized = {value}"))
    assert f"[matching] {says}" in str(e.value)
