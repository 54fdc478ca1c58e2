"""Status codes, error categories and codes, errors ⇄ SIF_Error, versions."""

from __future__ import annotations

import pytest

from messages import Error, ErrorCategory, SIFError, StatusCode, describe, versions
from messages.codes import CODES_BY_CATEGORY, RequestResponseCode, is_defined


def test_status_codes_are_the_2x_set():
    assert sorted(int(s) for s in StatusCode) == [0, 1, 2, 3, 7, 8, 9]
    assert "sleeping" in StatusCode.RECEIVER_SLEEPING.description


def test_every_category_0_to_14_is_described():
    assert [int(c) for c in ErrorCategory] == list(range(15))
    for category in ErrorCategory:
        assert category.description


@pytest.mark.parametrize("category,code,text", [
    (8, 4, "No provider"),
    (8, 18, "cancelled by the requesting agent"),
    (5, 9, "push mode"),
    (12, 3, "Version not supported"),
    (1, 6, "Missing mandatory"),
    (4, 12, "Delete"),
    (6, 4, "already has a provider"),
])
def test_describe_known_pairs(category, code, text):
    assert text in describe(category, code)
    assert is_defined(category, code)


def test_codes_absent_from_the_spec_are_not_defined():
    assert not is_defined(1, 5)  # XML validation has no code 5
    assert not is_defined(8, 2)
    assert not is_defined(99, 1)
    assert is_defined(11, 4242)  # System admits any code
    assert "unknown category" in describe(99, 1)


def test_every_category_enum_has_generic_code_1():
    for category, enum in CODES_BY_CATEGORY.items():
        assert enum(1).description, category


def test_sif_error_round_trips_through_sif_error_element():
    exc = SIFError(8, RequestResponseCode.NO_PROVIDER, "No provider for StudentLocator", line=3, element="SIF_Request")
    err = exc.to_error()
    assert (err.category, err.code) == (8, 4)
    assert "line 3" in err.extended_desc
    back = SIFError.from_error(err)
    assert (back.category, back.code, back.desc) == (8, 4, "No provider for StudentLocator")
    assert str(exc).startswith("8/4 ")


def test_default_description_comes_from_the_code_table():
    assert SIFError(4, 9).desc == "SIF_SourceId is not registered"


def test_error_description_is_capped_at_1024_characters():
    assert len(Error(category=11, code=1, desc="x" * 5000).desc) == 1024


@pytest.mark.parametrize("offered,expected", [
    (("2.*",), "2.6"),
    (("2.0r1", "1.5r1"), "2.0r1"),
    (("2.0r*",), "2.0r1"),
    (("*",), "2.6"),
    (("1.5r1", "1.1"), None),
    (("2.3", "2.1"), "2.3"),
    (("3.0", "2.2"), "2.2"),
])
def test_version_negotiation(offered, expected):
    assert versions.negotiate(offered) == expected


def test_unsupported_version_is_12_3():
    with pytest.raises(SIFError) as info:
        versions.check_supported("3.0")
    assert (info.value.category, info.value.code) == (12, 3)


def test_version_order():
    assert sorted(["2.1", "2.0r1", "2.6", "2.0"], key=versions.key) == ["2.0", "2.0r1", "2.1", "2.6"]
    assert versions.admitted(("2.*",), "2.4") and not versions.admitted(("2.0r1",), "2.1")
