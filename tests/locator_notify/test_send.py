"""Sending over a real SMTP server on loopback (aiosmtpd): plain, STARTTLS + AUTH, failures."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from messages.errors import Error
from sif_agent.locator.notify import (
    NotifyConfigError,
    NotifyError,
    StudentRef,
    ambiguous_message,
    error_message,
    fault_message,
    problems_from,
    send,
)

from .conftest import CANDIDATES, PASSWORD_ENV, TXN, USER, free_port, request

STUDENT = StudentRef.from_request(request(), school_name="Lincoln Elementary")
FIXED = datetime(2026, 11, 26, 8, 30, tzinfo=timezone.utc)


async def test_plain_ambiguous_delivered_to_school_and_district(plain_server):
    sink, settings = plain_server
    msg = ambiguous_message(settings, STUDENT, CANDIDATES)
    receipt = await send(settings, msg, environ={}, clock=lambda: FIXED)
    assert receipt.message_id == f"<slf.{TXN}.ambiguous@itc.example.org>"
    assert receipt.recipients == ("office@school.example.org", "counselor@school.example.org",
                                  "registrar@district.example.org")
    assert (receipt.sent_at, receipt.kind, receipt.transaction_id, receipt.refused) == (
        FIXED, "ambiguous", TXN, ())
    [got] = sink.received
    assert got.mail_from == "slf-locator@itc.example.org"
    assert sorted(got.rcpt_tos) == sorted(receipt.recipients)
    assert got.message["Subject"].startswith("[SLF] Action needed: student LOC-1001 (district 043752)")
    body = got.message.get_content()
    assert "State ID RS7654321 — confidence 0.93 (93%)" in body
    assert "Ramírez, José" in body  # UTF-8 survives the trip
    assert f"https://ssid.state.example/resolve/{TXN}" in body


async def test_resend_keeps_the_message_id(plain_server):
    sink, settings = plain_server
    first = await send(settings, ambiguous_message(settings, STUDENT, CANDIDATES), environ={})
    again = await send(settings, ambiguous_message(settings, STUDENT, CANDIDATES), environ={})
    assert first.message_id == again.message_id
    assert [r.message["Message-ID"] for r in sink.received] == [first.message_id] * 2


async def test_error_mail_names_missing_fields(plain_server):
    sink, settings = plain_server
    msg = error_message(settings, STUDENT, problems_from(["Demographics/BirthDate"]),
                        state_error=Error(category=8, code=1, desc="BirthDate is required"))
    await send(settings, msg, environ={})
    [got] = sink.received
    assert got.message["Subject"] == "[SLF] Fix needed: student LOC-1001 (district 043752) — Birth date"
    assert "* Birth date: missing" in got.message.get_content()


async def test_fault_mail_to_operators(plain_server):
    sink, settings = plain_server
    receipt = await send(settings, fault_message(settings, STUDENT, "8/16 request timed out"), environ={})
    assert receipt.recipients == ("helpdesk@itc.example.org",)
    assert sink.received[0].rcpt_tos == ["helpdesk@itc.example.org"]


async def test_starttls_and_auth(tls_server, env):
    sink, settings = tls_server
    receipt = await send(settings, ambiguous_message(settings, STUDENT, CANDIDATES), environ=env)
    assert len(receipt.recipients) == 3
    assert sink.logins and sink.logins[-1][1] == USER
    assert sink.logins[-1][0] in ("PLAIN", "LOGIN")
    assert sink.received[0].message["Message-ID"] == receipt.message_id


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
async def test_auth_login_and_plain_both_accepted(tls_server, env, monkeypatch, mechanism):
    import smtplib

    sink, settings = tls_server
    real_login = smtplib.SMTP.login

    def only(self, user, password, *, initial_response_ok=True):
        self.esmtp_features["auth"] = mechanism
        return real_login(self, user, password, initial_response_ok=initial_response_ok)

    monkeypatch.setattr(smtplib.SMTP, "login", only)
    await send(settings, fault_message(settings, STUDENT, "x"), environ=env)
    assert sink.logins == [(mechanism, USER)]


async def test_wrong_password_is_permanent_and_names_the_env_var(tls_server):
    sink, settings = tls_server
    with pytest.raises(NotifyError) as e:
        await send(settings, fault_message(settings, STUDENT, "x"), environ={PASSWORD_ENV: "wrong"})
    assert not e.value.transient and e.value.smtp_code == 535
    assert PASSWORD_ENV in str(e.value) and "wrong" not in str(e.value)
    assert not sink.received


async def test_missing_password_env_var_is_a_clear_error(tls_server):
    sink, settings = tls_server
    with pytest.raises(NotifyConfigError) as e:
        await send(settings, fault_message(settings, STUDENT, "x"), environ={})
    assert f"environment variable {PASSWORD_ENV}" in str(e.value) and "is not set" in str(e.value)
    assert not e.value.transient


async def test_untrusted_certificate_is_permanent(tls_server, env):
    _sink, settings = tls_server
    with pytest.raises(NotifyError, match="certificate was not accepted") as e:
        await send(replace(settings, ca_file=None), fault_message(settings, STUDENT, "x"), environ=env)
    assert not e.value.transient


async def test_starttls_required_but_not_offered(plain_server):
    _sink, settings = plain_server
    with pytest.raises(NotifyError, match="STARTTLS extension not supported") as e:
        await send(replace(settings, starttls=True), fault_message(settings, STUDENT, "x"), environ={})
    assert not e.value.transient


async def test_server_down_is_transient(settings):
    down = replace(settings, port=free_port(), timeout=2.0)
    with pytest.raises(NotifyError) as e:
        await send(down, fault_message(down, STUDENT, "x"), environ={})
    assert e.value.transient and "could not be reached" in str(e.value)


async def test_4xx_reply_is_transient_5xx_permanent(plain_server):
    sink, settings = plain_server
    sink.reply = "451 4.3.0 Try again later"
    with pytest.raises(NotifyError) as e:
        await send(settings, fault_message(settings, STUDENT, "x"), environ={})
    assert e.value.transient and e.value.smtp_code == 451
    sink.reply = "554 5.7.1 Rejected"
    with pytest.raises(NotifyError) as e:
        await send(settings, fault_message(settings, STUDENT, "x"), environ={})
    assert not e.value.transient and e.value.smtp_code == 554


async def test_non_ascii_password_is_a_clear_error(tls_server):
    _sink, settings = tls_server
    with pytest.raises(NotifyConfigError, match=f"password in {PASSWORD_ENV} has non-ASCII") as e:
        await send(settings, fault_message(settings, STUDENT, "x"), environ={PASSWORD_ENV: "pässword"})
    assert "pässword" not in str(e.value)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls(pki, env):
    from aiosmtpd.controller import Controller

    from zone.tls import server_context

    from .conftest import Sink, _settings

    sink, port = Sink(), free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port,
                     ssl_context=server_context(pki.server_cert, pki.server_key),
                     authenticator=sink.authenticator, auth_required=True,
                     auth_require_tls=False)  # aiosmtpd does not count implicit TLS; it is TLS
    ctl.start()
    try:
        settings = _settings(port, ssl=True, ca_file=pki.ca_cert, username=USER, password_env=PASSWORD_ENV)
        receipt = await send(settings, fault_message(settings, STUDENT, "x"), environ=env)
    finally:
        ctl.stop()
    assert receipt.recipients == ("helpdesk@itc.example.org",)
    assert sink.logins and sink.received[0].message["X-SLF-Kind"] == "fault"


async def test_some_recipients_refused_are_in_the_receipt(plain_server):
    sink, settings = plain_server

    async def handle_RCPT(server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("counselor@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    sink.handle_RCPT = handle_RCPT
    receipt = await send(settings, ambiguous_message(settings, STUDENT, CANDIDATES), environ={})
    assert receipt.refused == ("counselor@school.example.org",)
    assert receipt.recipients == ("office@school.example.org", "registrar@district.example.org")
    assert sorted(sink.received[0].rcpt_tos) == sorted(receipt.recipients)
