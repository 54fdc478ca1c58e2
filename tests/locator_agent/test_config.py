"""The locator's TOML: runtime zones + [locator] + [notify], with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sif_agent.config import ConfigError
from sif_agent.locator.config import from_mapping, load
from sif_agent.locator.determination import Mode

ROOT = Path(__file__).resolve().parents[2]


def base(**locator) -> dict:
    loc = {"state_zone": "state", "database": "loc.db",
           "districts": [{"zone": "d", "mode": 2, "school_year": "2027", "district_irn": "043802",
                          "mapping": "ohio"}]}
    loc.update(locator)
    return {"agent": {"source_id": "ITC"},
            "zones": [{"id": "d", "url": "https://d.invalid/z"}, {"id": "state", "url": "https://s.invalid/z"}],
            "locator": loc}


def test_example_config_loads():
    s = load(ROOT / "conf" / "locator.example.toml")
    assert s.state_zone == "state" and s.query_form == "example"
    [d] = s.districts
    assert (d.zone, d.mode, d.school_year, d.district_irn, d.mapping.name) == (
        "district-043802", Mode.ON_ADDS, "2027", "043802", "ohio")
    assert s.notify is not None and s.notify.recipients.district("043802")


def test_minimal_mapping_and_relative_database(tmp_path):
    s = from_mapping(base(), tmp_path)
    assert s.database == f"sqlite+aiosqlite:///{tmp_path}/loc.db"
    assert s.districts[0].mode is Mode.AFTER_FIRST_CHANGE and s.notify is None
    assert s.district("d") is s.districts[0] and s.district("state") is None


@pytest.mark.parametrize("change, words", [
    ({"state_zone": "nowhere"}, "state_zone must name one of"),
    ({"query_form": "xpath"}, "query_form"),
    ({"districts": []}, "at least one [[locator.districts]]"),
    ({"districts": [{"zone": "x", "school_year": "2027", "district_irn": "1", "mapping": "ohio"}]}, "'zone' must name"),
    ({"districts": [{"zone": "d", "mode": 7, "school_year": "2027", "district_irn": "1", "mapping": "ohio"}]},
     "determination mode"),
    ({"districts": [{"zone": "d", "school_year": "26-27", "district_irn": "1", "mapping": "ohio"}]}, "school_year"),
    ({"districts": [{"zone": "d", "school_year": "2027", "mapping": "ohio"}]}, "district_irn"),
    ({"districts": [{"zone": "d", "school_year": "2027", "district_irn": "1", "mapping": "nope"}]}, "nope"),
    ({"districts": [{"zone": "d", "school_year": "2027", "district_irn": "1", "mapping": "ohio",
                     "state_id_pattern": "(["}]}, "state_id_pattern"),
    ({"districts": [{"zone": "state", "school_year": "2027", "district_irn": "1", "mapping": "ohio"}]},
     "cannot also be a district"),
    ({"colour": "blue"}, "unknown setting"),
])
def test_errors_say_what_to_fix(change, words, tmp_path):
    with pytest.raises(ConfigError) as info:
        from_mapping(base(**change), tmp_path)
    assert words in str(info.value)


def test_notify_errors_become_config_errors(tmp_path):
    data = base()
    data["notify"] = {"host": "smtp", "sender": "a@b.c", "resolution_url": "https://x/{transaction_id}",
                      "password": "secret"}
    with pytest.raises(ConfigError, match="password_env"):
        from_mapping(data, tmp_path)


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml"):
        load(tmp_path / "missing.toml")
