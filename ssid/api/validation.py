"""Checking request bodies: every problem of every field at once, keyed by JSON path. Pure.

Why here and not only in the OpenAPI document: the document tells clients the rules; this
module enforces them with messages that say how to fix each field, and then hands the names
and birth date to the attribute catalogue's own rules (letters only, plausible dates), so the
API accepts exactly what the rest of the SSID system would. No message ever contains a value
that was submitted.

Field rules come from the seed's tables (CDE/CCCCO "SSID Data Lookup"): first name ≤ 30, last
name ≤ 50, birth date YYYY-MM-DD, CDS code 14 digits (2 county + 5 district + 7 school),
CCCID 3 letters (no I or O) + 4 digits + an optional 8th character reserved for growth
(RFP 1.30: design fields to grow), collected SSID ≤ 10.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..catalogue import IMPORT, Catalogue
from ..ids import id_problems

FIRST_NAME_MAX = 30
LAST_NAME_MAX = 50
SSID_MAX = 10
CDS_LENGTH = 14
#: 3 letters without I or O, 4 digits, then one optional character (digit or letter, no I/O)
CCCID_PATTERN = r"^[A-HJ-NP-Z]{3}[0-9]{4}[0-9A-HJ-NP-Z]?$"
CCCID_MAX = 8
SSID_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{0,9}$"
CDS_PATTERN = r"^[0-9]{14}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
COLLEGE_PATTERN = r"^[0-9A-Z]{3}$"
TERM_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z -]{0,15}$"
EARLIEST_ENROLLMENT = date(1990, 1, 1)

_CCCID = re.compile(CCCID_PATTERN)
_SSID = re.compile(SSID_PATTERN)
_CDS = re.compile(CDS_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_COLLEGE = re.compile(COLLEGE_PATTERN)
_TERM = re.compile(TERM_PATTERN)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

Errors = dict[str, list[str]]

#: lookup field → catalogue attribute (what the matcher and the catalogue call it)
LOOKUP_ATTRIBUTES = {"firstName": "LegalFirstName", "lastName": "LegalLastName", "birthDate": "BirthDate"}

CCCID_RULE = ("must be a CCCID: 3 capital letters other than I and O, then 4 digits, optionally one more "
              "character (e.g. ABC1234)")


@dataclass(frozen=True)
class LookupRequest:
    first_name: str
    last_name: str
    birth_date: str  # YYYY-MM-DD
    cds_code: str
    cccid: str
    ssid: str | None

    @property
    def district(self) -> str:
        """County and district part of the CDS code: where the student went to high school."""
        return self.cds_code[:7]

    @property
    def building(self) -> str:
        return self.cds_code[7:]

    def attributes(self) -> dict[str, str]:
        return {"LegalFirstName": self.first_name, "LegalLastName": self.last_name, "BirthDate": self.birth_date}


@dataclass(frozen=True)
class VerificationRequest:
    ssid: str
    cccid: str
    enrolled_on: str
    college_code: str | None
    term: str | None

    def fields(self) -> dict[str, Any]:
        return {"ssid": self.ssid, "cccid": self.cccid, "enrolledOn": self.enrolled_on,
                "collegeCode": self.college_code, "term": self.term}


def _add(errors: Errors, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def _object(body: Any, known: tuple[str, ...], errors: Errors) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        _add(errors, "$", "the body must be a JSON object with the fields " + ", ".join(known))
        return {}
    odd = 0
    for name in body:
        if name in known:
            continue
        if isinstance(name, str) and _FIELD_NAME.fullmatch(name):
            _add(errors, f"$.{name}", "is not a field of this request: leave it out (the fields are "
                                      f"{', '.join(known)})")
        else:
            odd += 1
    if odd:
        _add(errors, "$", f"{odd} field name(s) are not fields of this request: use only {', '.join(known)}")
    return body


def _string(body: Mapping[str, Any], name: str, errors: Errors, *, required: bool, max_length: int,
            what: str) -> str | None:
    path = f"$.{name}"
    if name not in body or body[name] is None:
        if required:
            _add(errors, path, f"is required: give the {what}")
        return None
    value = body[name]
    if not isinstance(value, str):
        _add(errors, path, f"must be a string (the {what})")
        return None
    value = value.strip()
    if not value:
        if required:
            _add(errors, path, f"is required and must not be blank: give the {what}")
        return None
    if len(value) > max_length:
        _add(errors, path, f"has {len(value)} characters; at most {max_length} are allowed")
        return None
    return value


def _iso_date(value: str | None, path: str, errors: Errors) -> date | None:
    if value is None:
        return None
    if not _DATE.fullmatch(value):
        _add(errors, path, "must be a date written YYYY-MM-DD (e.g. 2008-09-30)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _add(errors, path, "is not a calendar date: check the month (01-12) and the day")
        return None


def _pattern(value: str | None, regex: re.Pattern[str], path: str, rule: str, errors: Errors) -> str | None:
    if value is None:
        return None
    if not regex.fullmatch(value):
        _add(errors, path, rule)
        return None
    return value


def _ssid(value: str | None, path: str, errors: Errors) -> str | None:
    if value is None:
        return None
    if not _SSID.fullmatch(value) or id_problems(value):
        _add(errors, path, f"must be an SSID: 1 to {SSID_MAX} capital letters or digits (hyphen and underscore "
                           "allowed after the first character)")
        return None
    return value


def validate_lookup(body: Any, catalogue: Catalogue, today: date) -> tuple[LookupRequest | None, Errors]:
    """The lookup request, or None and every problem found."""
    errors: Errors = {}
    known = ("firstName", "lastName", "birthDate", "cdsCode", "cccid", "ssid")
    b = _object(body, known, errors)
    if not isinstance(body, Mapping):
        return None, errors
    first = _string(b, "firstName", errors, required=True, max_length=FIRST_NAME_MAX, what="student's first name")
    last = _string(b, "lastName", errors, required=True, max_length=LAST_NAME_MAX, what="student's last name")
    birth_raw = _string(b, "birthDate", errors, required=True, max_length=10, what="birth date (YYYY-MM-DD)")
    birth = _iso_date(birth_raw, "$.birthDate", errors)
    cds = _pattern(_string(b, "cdsCode", errors, required=True, max_length=CDS_LENGTH,
                           what="high school CDS code (14 digits)"),
                   _CDS, "$.cdsCode", "must be the 14-digit CDS code: 2 county, 5 district and 7 school digits",
                   errors)
    cccid = _pattern(_string(b, "cccid", errors, required=True, max_length=CCCID_MAX, what="student's CCCID"),
                     _CCCID, "$.cccid", CCCID_RULE, errors)
    ssid = _ssid(_string(b, "ssid", errors, required=False, max_length=SSID_MAX, what="collected SSID"),
                 "$.ssid", errors)
    # the catalogue's own rules for the attributes the matcher will see (letters only, plausible dates)
    values = {attr: v for attr, v in (("LegalFirstName", first), ("LegalLastName", last),
                                      ("BirthDate", birth.isoformat() if birth else None)) if v}
    checked = catalogue.check(values, IMPORT, today=today)
    path_of = {attr: f"$.{name}" for name, attr in LOOKUP_ATTRIBUTES.items()}
    for p in checked.problems:
        _add(errors, path_of.get(p.field, "$"), p.message)
    if errors:
        return None, errors
    assert first and last and birth and cds and cccid
    return LookupRequest(checked.values["LegalFirstName"], checked.values["LegalLastName"],
                         checked.values["BirthDate"], cds, cccid, ssid), {}


def validate_verification(body: Any, today: date) -> tuple[VerificationRequest | None, Errors]:
    errors: Errors = {}
    known = ("ssid", "cccid", "enrolledOn", "collegeCode", "term")
    b = _object(body, known, errors)
    if not isinstance(body, Mapping):
        return None, errors
    ssid = _ssid(_string(b, "ssid", errors, required=True, max_length=SSID_MAX, what="student's SSID"),
                 "$.ssid", errors)
    cccid = _pattern(_string(b, "cccid", errors, required=True, max_length=CCCID_MAX, what="student's CCCID"),
                     _CCCID, "$.cccid", CCCID_RULE, errors)
    on = _iso_date(_string(b, "enrolledOn", errors, required=True, max_length=10,
                           what="date the enrollment was completed (YYYY-MM-DD)"), "$.enrolledOn", errors)
    if on is not None and not EARLIEST_ENROLLMENT <= on <= today:
        _add(errors, "$.enrolledOn", f"must be between {EARLIEST_ENROLLMENT.isoformat()} and today: check the year")
    college = _pattern(_string(b, "collegeCode", errors, required=False, max_length=3, what="college code"),
                       _COLLEGE, "$.collegeCode", "must be the 3-character college code (digits or capital letters)",
                       errors)
    term = _pattern(_string(b, "term", errors, required=False, max_length=16, what="term"),
                    _TERM, "$.term", "must be 1 to 16 letters, digits, spaces or hyphens (e.g. 2027FA)", errors)
    if errors:
        return None, errors
    assert ssid and cccid and on
    return VerificationRequest(ssid, cccid, on.isoformat(), college, term), {}


__all__ = ["CCCID_PATTERN", "LookupRequest", "VerificationRequest", "validate_lookup", "validate_verification"]
