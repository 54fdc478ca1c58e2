"""[notify] settings from TOML and recipient selection."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sif_agent.locator.notify import NotifyConfigError, NotifyError, NotifySettings, Recipients

EXAMPLE = """
[notify]
host = "smtp.itc.example.org"
starttls = true
ca_file = "certs/smtp-ca.pem"
username = "slf-locator"
password_env = "SLF_SMTP_PASSWORD"
sender = "Student Locator <slf-locator@itc.example.org>"
subject_prefix = "[SLF ITC01]"
resolution_url = "https://ssid.state.example/resolve/{transaction_id}"

[notify.recipients]
default = ["slf-ops@itc.example.org"]

[notify.recipients.districts]
"043752" = ["registrar@district.example.org", "office@school.example.org"]

[notify.recipients.schools]
"012345" = ["office@school.example.org", "counselor@school.example.org"]
"""


def load(text: str = EXAMPLE, **override) -> NotifySettings:
    table = tomllib.loads(text)["notify"]
    table.update(override)
    return NotifySettings.from_toml(table, base_dir=Path("/etc/slf"))


def test_from_toml():
    s = load()
    assert (s.host, s.port, s.starttls, s.ssl) == ("smtp.itc.example.org", 587, True, False)
    assert s.ca_file == Path("/etc/slf/certs/smtp-ca.pem")
    assert (s.username, s.password_env, s.timeout, s.subject_prefix) == (
        "slf-locator", "SLF_SMTP_PASSWORD", 30.0, "[SLF ITC01]")
    assert s.sender_address == "slf-locator@itc.example.org"
    assert s.resolution_link("ABC") == "https://ssid.state.example/resolve/ABC"


def test_default_ports():
    base = {"host": "h", "sender": "a@b.example", "resolution_url": "https://x/{transaction_id}"}
    assert NotifySettings.from_toml(base).port == 25
    assert NotifySettings.from_toml({**base, "ssl": True}).port == 465
    assert NotifySettings.from_toml({**base, "starttls": True, "port": 2525}).port == 2525


def test_recipients_school_plus_district_deduped_else_default():
    r = load().recipients
    assert r.for_student("043752", "012345") == (
        "office@school.example.org", "counselor@school.example.org", "registrar@district.example.org")
    assert r.for_student("043752", "099999") == ("registrar@district.example.org", "office@school.example.org")
    assert r.for_student("049999", None) == ("slf-ops@itc.example.org",)
    assert r.for_operators() == ("slf-ops@itc.example.org",)  # no operators list: the default


@pytest.mark.parametrize("override, words", [
    ({"password": "hunter2"}, "never stored in the file"),
    ({"ssl": True}, "exclude each other"),
    ({"starttls": False}, "clear text"),
    ({"password_env": ""}, "go together"),
    ({"resolution_url": "https://ssid/resolve"}, "{transaction_id}"),
    ({"resolution_url": "https://ssid/{district}/{transaction_id}"}, "no other placeholder"),
    ({"sender": "not an address"}, "not an e-mail address"),
    ({"smtp_host": "x"}, "unknown setting(s) in [notify]: smtp_host"),
    ({"port": "587"}, "whole number"),
    ({"recipients": {"districts": {"043752": ["bad"]}}}, "'bad' is not an e-mail address"),
    ({"recipients": {"everyone": ["a@b.example"]}}, "unknown setting(s) in [notify.recipients]"),
])
def test_bad_settings_are_explained(override, words):
    with pytest.raises(NotifyConfigError) as e:
        load(**override)
    assert words in str(e.value)
    assert isinstance(e.value, NotifyError) and not e.value.transient


def test_password_comes_from_the_named_env_var_only():
    s = load()
    assert s.password({"SLF_SMTP_PASSWORD": "pw"}) == "pw"
    with pytest.raises(NotifyConfigError, match="environment variable SLF_SMTP_PASSWORD .* is not set"):
        s.password({})
    assert "pw" not in repr(s)


def test_recipients_from_nothing():
    assert Recipients.from_toml(None).for_student("1", "2") == ()
