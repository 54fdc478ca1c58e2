"""The pure message builders: recipients, subjects, bodies, Message-ID."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from messages.errors import Error
from sif_agent.locator.notify import (
    FieldProblem,
    NotifyError,
    StudentRef,
    ambiguous_message,
    error_message,
    fault_message,
    message_id,
    problems_from,
)

from .conftest import CANDIDATES, DISTRICT, OTHER_DISTRICT, SCHOOL, TXN, request

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=timezone.utc)


def student(**kw) -> StudentRef:
    return StudentRef.from_request(request(**kw), school_name="Lincoln Elementary")


def test_student_from_request():
    s = student()
    assert (s.transaction_id, s.local_id, s.district_irn, s.school_irn) == (TXN, "LOC-1001", DISTRICT, SCHOOL)
    assert (s.name.last_name, s.birth_date, s.gender) == ("Ramírez", "2012-03-04", "M")


def test_ambiguous(settings):
    msg = ambiguous_message(settings, student(), CANDIDATES, now=NOW)
    assert msg["To"] == ("office@school.example.org, counselor@school.example.org, "
                         "registrar@district.example.org")
    subject = msg["Subject"]
    assert subject.startswith("[SLF] Action needed: student LOC-1001 (district 043752)")
    assert "2 state IDs" in subject
    assert "Ramírez" not in subject and "José" not in subject and "2012" not in subject  # no PII
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    body = msg.get_content()
    # most likely first, with confidence, name, birth date and gender
    first, second = body.index("RS7654321"), body.index("RS1234567")
    assert first < second
    assert "State ID RS7654321 — confidence 0.93 (93%)" in body
    assert "State ID RS1234567 — confidence 0.71 (71%)" in body
    assert "Ramírez, José" in body and "Ramirez, Jose" in body
    assert "2012-04-03" in body and "M (male)" in body
    assert "Ramírez, José Luis" in body and "LOC-1001" in body and "Lincoln Elementary (IRN 012345)" in body
    assert f"https://ssid.state.example/resolve/{TXN}" in body
    assert f"slf locator console resolve {TXN} --pick STATEID" in body
    assert f"slf locator console resolve {TXN} --new" in body
    assert msg["Message-ID"] == f"<slf.{TXN}.ambiguous@itc.example.org>"
    assert msg["Date"] == "Thu, 26 Nov 2026 08:30:00 +0000"
    assert msg["Auto-Submitted"] == "auto-generated"


def test_message_id_is_stable_per_transaction_and_kind(settings):
    a = ambiguous_message(settings, student(), CANDIDATES, now=NOW)
    b = ambiguous_message(settings, student(), CANDIDATES[:1])
    e = error_message(settings, student(), problems_from(["Demographics/BirthDate"]))
    assert a["Message-ID"] == b["Message-ID"] == message_id(settings, TXN, "ambiguous")
    assert e["Message-ID"] != a["Message-ID"]
    with pytest.raises(ValueError):
        message_id(settings, TXN, "hello")


def test_error_names_the_fields_and_the_automatic_new_lookup(settings):
    problems = problems_from(["Demographics/BirthDate", 'Name[@Type="04"]/FirstName'],
                             {"Demographics/Gender": "X"})
    msg = error_message(settings, student(school=None), problems,
                        state_error=Error(category=8, code=1, desc="Insufficient data: BirthDate is required"), now=NOW)
    assert msg["To"] == "registrar@district.example.org, Office <office@school.example.org>"
    assert msg["Subject"] == ("[SLF] Fix needed: student LOC-1001 (district 043752) — Birth date, "
                              "Legal first name, Gender")
    body = msg.get_content()
    assert "* Birth date: missing — fix in the student's demographics (format YYYY-MM-DD)" in body
    assert "* Legal first name: missing" in body
    assert "* Gender: invalid value 'X'" in body
    assert "(StudentLocator field Demographics/BirthDate)" in body
    assert "Insufficient data: BirthDate is required (SIF error 8/1)" in body
    assert "starts a new state ID" in body and "lookup with the corrected data automatically" in body
    assert msg["Message-ID"] == f"<slf.{TXN}.error@itc.example.org>"


def test_error_unknown_field_and_free_text_problem(settings):
    msg = error_message(settings, student(), [FieldProblem("OtherId", "must be 9 digits", "12")])
    assert "* OtherId: must be 9 digits" in msg.get_content()
    assert msg["Subject"].endswith("— OtherId")


def test_fault_goes_to_operators_without_student_pii(settings):
    when = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    msg = fault_message(settings, student(), ConnectionResetError("state zone reset the connection"),
                        attempts=3, next_attempt=when, zone_id="state", now=NOW)
    assert msg["To"] == "helpdesk@itc.example.org"
    assert msg["Subject"] == f"[SLF] Fault: transaction {TXN} for student LOC-1001 (district 043752) kept for retry"
    body = msg.get_content()
    assert "ConnectionResetError: state zone reset the connection" in body
    assert "Attempts so far:  3" in body and "2026-11-26 09:00:00 UTC" in body
    assert f"slf locator console retry {TXN}" in body
    assert "Ramírez" not in body and "2012-03-04" not in body
    assert msg["Message-ID"] == f"<slf.{TXN}.fault@itc.example.org>"


def test_unknown_district_falls_back_to_default(settings):
    msg = ambiguous_message(settings, student(district=OTHER_DISTRICT, school="777777"), CANDIDATES)
    assert msg["To"] == "slf-ops@itc.example.org"


def test_no_recipients_at_all_is_a_clear_error(settings):
    from dataclasses import replace

    from sif_agent.locator.notify import Recipients
    bare = replace(settings, recipients=Recipients())
    with pytest.raises(NotifyError, match="no recipients .* student LOC-1001 \\(district 043752\\)"):
        ambiguous_message(bare, student(), CANDIDATES)


def test_header_injection_is_neutralised(settings):
    evil = student(local_id="X1\r\nBcc: victim@example.org")
    msg = ambiguous_message(settings, evil, CANDIDATES)
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Bcc"] is None
    from email import message_from_string, policy
    again = message_from_string(msg.as_string(), policy=policy.default)
    assert again["Bcc"] is None and "LOC" not in again["To"]
