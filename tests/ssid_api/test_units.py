"""The pure parts: the matcher outcome → answer table, RateLimit headers and windows, the API
settings file, client definitions, problem bodies."""

from __future__ import annotations

import pytest

from ssid.api.clients import client_problems
from ssid.api.lookup import AMBIGUOUS, CONFIRMED, NOT_FOUND, outcome_of
from ssid.api.problems import ApiProblem
from ssid.api.ratelimit import RateState, window_of
from ssid.api.settings import ApiConfigError, ApiSettings, api_settings_for
from ssid.matching import Outcome

from .conftest import EXAMPLE

M, P, N = Outcome.MATCH, Outcome.POTENTIAL, Outcome.NO_MATCH


@pytest.mark.parametrize("outcome, matched, collected, collected_active, expected", [
    (M, "AB1", None, None, (CONFIRMED, "AB1")),
    (M, "AB1", "AB1", "AB1", (CONFIRMED, "AB1")),
    (M, "AB1", "OLD9", "AB1", (CONFIRMED, "AB1")),  # a deactivated collected ID whose survivor matched
    (M, "AB1", "CD2", "CD2", (AMBIGUOUS, None)),  # the evidence disagrees
    (M, "AB1", "ZZ0", None, (AMBIGUOUS, None)),  # an unknown collected ID
    (M, None, None, None, (NOT_FOUND, None)),
    (P, None, None, None, (AMBIGUOUS, None)),
    (P, None, "AB1", "AB1", (AMBIGUOUS, None)),  # a collected ID never turns a potential match into a match
    (N, None, None, None, (NOT_FOUND, None)),
    (N, None, "AB1", "AB1", (NOT_FOUND, None)),
])
def test_outcome_table(outcome, matched, collected, collected_active, expected):
    assert outcome_of(outcome, matched, collected, collected_active) == expected


def test_rate_headers_and_windows():
    assert window_of(7200.0, 3600) == (7200, 3600)
    assert window_of(7259.5, 3600) == (7200, 3541)
    assert window_of(10799.9, 3600) == (7200, 1)
    s = RateState(limit=5000, used=12, window=3600, reset_in=1800)
    assert s.headers() == {"RateLimit-Policy": '"hourly";q=5000;w=3600', "RateLimit": '"hourly";r=4988;t=1800'}
    over = RateState(limit=2, used=3, window=60, reset_in=7)
    assert over.exceeded and over.headers() == {"RateLimit-Policy": '"per-60s";q=2;w=60',
                                                "RateLimit": '"per-60s";r=0;t=7', "Retry-After": "7"}


def test_settings_come_from_the_api_table_of_the_configuration_file(tmp_path):
    from types import SimpleNamespace

    assert api_settings_for(SimpleNamespace(source=EXAMPLE)) == ApiSettings()  # the example spells out the defaults
    assert api_settings_for(SimpleNamespace(source=None)) == ApiSettings()
    own = tmp_path / "own.toml"
    own.write_text("[ssid]\n[api]\ndefault_hourly_limit = 15000\n")
    assert api_settings_for(SimpleNamespace(source=own)).default_hourly_limit == 15000
    bad = tmp_path / "bad.toml"
    bad.write_text('[api]\ntoken_lifetime = 5\nbehind_tls_proxy = "yes"\nhourly = 3\n')
    with pytest.raises(ApiConfigError) as e:
        api_settings_for(SimpleNamespace(source=bad))
    text = str(e.value)
    for part in (str(bad), "token_lifetime must be", "behind_tls_proxy must be true or false", "unknown keys hourly"):
        assert part in text


def test_client_definitions():
    assert client_problems("CCCApply", ["ssid-lookup"], ["*"], 15000, 5) == []
    assert client_problems("County", ["ssid-lookup"], ["19", "1964733", "19647331930106"], None, None) == []
    problems = client_problems(" ", ["lookup"], ["19-647", "123456789012345"], 0, 0)
    assert len(problems) == 5


def test_problem_body_never_invents_types():
    p = ApiProblem("not-found", "No such thing.")
    assert p.body("c1") == {"type": "urn:ssid:api:not-found", "title": "Not Found", "status": 404,
                            "detail": "No such thing.", "correlationId": "c1"}
    with pytest.raises(ValueError):
        ApiProblem("teapot", "no")
