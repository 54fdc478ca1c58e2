"""The pure rules of the web UI, table-tested: role configuration, places, throttling, session life,
password policy, the review comparison, and which form fields are changes."""

from __future__ import annotations

import pytest

from ssid.catalogue import OHIO_ATTRIBUTES
from ssid.config import ConfigError, Roles, load
from ssid.slf import SlfMapping
from ssid.store import Alias, Student, User
from ssid.web import config as web_config
from ssid.web.config import DEFAULT_ROLES, from_mapping
from ssid.web.passwords import password_problems
from ssid.web.review import compare
from ssid.web.scope import Binding, Scope, scope_of, sees
from ssid.web.sessions import Session, csrf_ok, csrf_token, is_live
from ssid.web.throttle import wait_seconds
from ssid.web.views_students import _changes
from tests.ssid.conftest import EXAMPLE


def test_the_example_configuration_defines_the_seven_roles_of_the_spec():
    web = web_config.load(load(EXAMPLE))
    assert set(web.roles) == {"state_admin", "state_approver", "district_admin", "district_user", "building_user",
                              "auditor", "itc_operator"}
    assert dict(web.roles) == dict(DEFAULT_ROLES)
    assert web.session_idle == 15 * 60 and web.session_absolute == 8 * 3600


def test_a_role_file_is_checked_all_at_once_with_the_fix():
    with pytest.raises(ConfigError) as exc:
        from_mapping({"session_idle_minutes": 0, "colour": "blue",
                      "roles": {"clerk": {"scope": "county", "permissions": ["search", "fly"]},
                                "helper": {"scope": "district", "permissions": ["deactivate"]}}}, Roles())
    text = str(exc.value)
    for part in ("session_idle_minutes must be a number between 1 and 1440", "unknown keys colour",
                 "[web.roles.clerk] scope must be one of state, district, building", "unknown permissions fly",
                 "[web.roles.helper] grants 'deactivate' but [ssid.roles] deactivate does not list 'helper'"):
        assert part in text


def test_a_maintenance_permission_is_accepted_when_the_store_grants_it_too():
    web = from_mapping({"roles": {"helper": {"label": "Helper", "scope": "district",
                                             "permissions": ["search", "deactivate"]}}},
                       Roles(deactivate=frozenset({"helper"})))
    assert web.permissions({"helper", "unknown"}) == {"search", "deactivate"}


def _user(roles, district=None, building=None) -> User:
    return User("u", None, district, building, None, frozenset(roles), "active", None)


def _student(district, building) -> Student:
    return Student("AB1234567", "active", {}, "", district, building, None, 0.0, 0.0, "issued", None, None, 1)


@pytest.mark.parametrize("roles,district,building,bindings,expected", [
    (["state_admin"], "043802", None, [], Scope(state=True)),
    (["district_user"], "043802", "012345", [], Scope(districts=frozenset({"043802"}))),
    (["itc_operator"], "043802", None, [Binding("044000", "")], Scope(districts=frozenset({"043802", "044000"}))),
    (["building_user"], "043802", "012345", [Binding("", "012399")],
     Scope(buildings=frozenset({"012345", "012399"}))),
    (["district_user"], None, None, [], Scope()),  # bound nowhere: sees nothing
    (["cook"], "043802", None, [], Scope()),  # a role the web does not know grants nothing
])
def test_the_places_a_user_serves_come_from_its_roles_and_bindings(roles, district, building, bindings, expected):
    assert scope_of(_user(roles, district, building), bindings, web_config.WebSettings()) == expected


def test_a_student_is_seen_from_its_first_district_and_every_district_that_submitted_it():
    s = _student("043802", "012345")
    moved = [Alias("AB1234567", 1, {"district": "044000", "building": "054321"}, "slf", 0.0)]
    assert sees(Scope(districts=frozenset({"043802"})), s, [])
    assert not sees(Scope(districts=frozenset({"044000"})), s, [])
    assert sees(Scope(districts=frozenset({"044000"})), s, moved)
    assert sees(Scope(buildings=frozenset({"054321"})), s, moved)
    assert not sees(Scope(), s, moved)


@pytest.mark.parametrize("user_f,addr_f,now,expected", [
    ([], [], 100.0, 0.0),
    ([10, 20, 30, 40], [], 100.0, 0.0),  # 4 of 5
    ([10, 20, 30, 40, 50], [], 100.0, 810.0),  # the oldest leaves the window at 910
    ([10, 20, 30, 40, 50, 60], [], 100.0, 820.0),  # 6 failures: two must leave
    ([], list(range(20)), 100.0, 800.0),  # the address limit
    ([10, 20, 30, 40, 50], [], 910.0, 0.0),
])
def test_sign_in_waits(user_f, addr_f, now, expected):
    assert wait_seconds(user_f, addr_f, now, 900.0, 5, 20) == pytest.approx(expected)


@pytest.mark.parametrize("created,last,revoked,now,why", [
    (0, 0, None, 899, None),
    (0, 0, None, 900, "the session was idle too long"),
    (0, 28_000, None, 28_799, None),
    (0, 28_700, None, 28_800, "the session reached its maximum length"),
    (0, 0, 5.0, 10, "signed out"),
])
def test_session_life(created, last, revoked, now, why):
    assert is_live(Session("h", "u", created, last, revoked, None), now, 900, 28_800) == why


def test_the_csrf_token_belongs_to_one_session():
    a, b = "token-a" * 5, "token-b" * 5
    assert csrf_ok(a, csrf_token(a)) and not csrf_ok(a, csrf_token(b))
    assert not csrf_ok(a, None) and not csrf_ok(a, "")


@pytest.mark.parametrize("password,problem", [
    ("short", "at least 12 characters"),
    ("aaaaaaaaaaaaaaaa", "more than three different characters"),
    ("dora-is-my-password", "do not include the user id"),
    ("a quiet afternoon by the river", None),
])
def test_password_policy(password, problem):
    found = password_problems(password, "dora")
    assert (problem is None and not found) or any(problem in p for p in found)


def test_the_review_comparison_marks_what_differs_from_the_submission():
    submitted = {"LegalFirstName": "Amera", "LegalLastName": "Okafor", "BirthDate": "2017-04-12"}
    cands = [{"STATE_ID": "AB1234567", "CONFIDENCE": 0.93, "LEGAL_FIRST_NAME": "Amara", "LEGAL_LAST_NAME": "OKAFOR",
              "BIRTH_DATE": "20170412", "HOME_SCHOOL_CODE": "012399"}]
    rows, [c] = compare(submitted, "012345", cands, SlfMapping(), {"LegalFirstName": "First"})
    cells = dict(zip([label for label, _ in rows], c.cells))
    assert cells["First"].differs and cells["First"].value == "Amara"
    assert not cells["LegalLastName"].differs  # case is no difference
    assert not cells["BirthDate"].differs and cells["BirthDate"].value == "2017-04-12"
    assert cells["Building IRN"].differs
    assert not cells["LegalMiddleName"].differs  # nothing submitted: nothing to differ from
    assert c.confidence == pytest.approx(0.93)


def test_form_changes_keep_a_blank_ssn_and_clear_other_blank_fields():
    current = {"LegalFirstName": "Amara", "BirthPlaceCity": "Columbus", "SSN": "123456789"}
    form = {"LegalFirstName": "Amara", "BirthPlaceCity": "", "SSN": ""}
    assert _changes(form, current, OHIO_ATTRIBUTES) == {"BirthPlaceCity": None}
    assert _changes({**form, "clear_SSN": "yes"}, current, OHIO_ATTRIBUTES) == {"BirthPlaceCity": None, "SSN": None}
    assert _changes({**form, "SSN": "987-65-4321"}, current, OHIO_ATTRIBUTES)["SSN"] == "987-65-4321"
