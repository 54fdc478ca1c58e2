"""Agent configuration: TOML into frozen settings; secrets only by environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from sif_agent.config import ConfigError, from_mapping, load

EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "agent.example.toml"


def test_example_file_loads_with_every_setting():
    s = load(EXAMPLE)
    assert s.source_id == "ITC01-StudentLocator"
    district, state = s.zones
    assert district.versions == ("2.0r1",) and district.mode == "Pull" and district.pull_interval == 5.0
    assert district.objects.subscribe == ("StudentPersonal", "StudentSchoolEnrollment")
    assert district.objects.publish_change == ("StudentPersonal",)
    assert district.tls.ca == EXAMPLE.parent / "../var/pki/ca.pem"
    assert district.tls.cert.name == "ITC01-StudentLocator.pem"
    assert district.retry.attempts == 8 and district.retry.maximum == 60.0
    assert state.objects.request == ("StudentLocator",) and state.versions == ("2.1", "2.0r1")
    assert state.basic.user == "ITC01-StudentLocator"
    assert s.outbox.startswith("sqlite+aiosqlite:///") and s.outbox.endswith("locator-outbox.db")


def test_basic_password_comes_from_the_named_environment_variable():
    state = load(EXAMPLE).zone("state")
    assert state.basic.password({"SLF_STATE_ZONE_PASSWORD": "s3cret"}) == "s3cret"
    with pytest.raises(ConfigError, match="SLF_STATE_ZONE_PASSWORD"):
        state.basic.password({})


def _doc(**zone):
    return {"agent": {"source_id": "A"}, "zones": [{"id": "z", "url": "https://z/zones/z", **zone}]}


@pytest.mark.parametrize("zone, message", [
    ({"basic": {"user": "A", "password": "x"}}, "never stored"),
    ({"mode": "Push", "push": {"listen": "8444"}}, "HOST:PORT"),
    ({"mode": "Push", "push": {"port": 8444}}, "unknown setting"),
    ({"mode": "Carrier pigeon"}, "Pull or Push"),
    ({"versions": ["1.5r1"]}, "not supported"),
    ({"pull_interval": 0}, "positive"),
    ({"colour": "blue"}, "unknown setting"),
    ({"tls": {"key": "k.pem"}}, "tls.key needs tls.cert"),
])
def test_mistakes_are_reported_for_the_person_editing_the_file(zone, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping(_doc(**zone))


def test_zone_source_id_defaults_to_the_agents_and_settings_are_frozen():
    s = from_mapping(_doc(), Path("/etc/slf"))
    assert s.zones[0].source_id == "A"
    assert s.outbox == "sqlite+aiosqlite:////etc/slf/var/agent-outbox.db"
    with pytest.raises(AttributeError):
        s.zones[0].url = "http://elsewhere"  # type: ignore[misc]
