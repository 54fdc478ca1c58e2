"""Real SMTP servers on loopback (aiosmtpd) and realistic notification inputs."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from messages.objects import Demographics, Name
from messages.objects.common import RequestingAgencyId
from messages.objects.studentlocator import StudentLocator
from sif_agent.locator.notify import NotifySettings, Recipients
from zone.tls import make_dev_pki, server_context

TXN = "0123456789ABCDEF0123456789ABCDEF"
DISTRICT = "043752"
SCHOOL = "012345"
OTHER_DISTRICT = "049999"
USER, PASSWORD, PASSWORD_ENV = "slf-locator", "s3cret-pa55", "SLF_TEST_SMTP_PASSWORD"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Sink:
    """aiosmtpd handler: keeps every mail; ``reply`` overrides the DATA answer (e.g. a 451)."""

    received: list[Received] = field(default_factory=list)
    reply: str = "250 Message accepted for delivery"
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if not self.reply.startswith("250"):
            return self.reply
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return self.reply

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user, pw = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append((mechanism, user))
            ok = user == USER and pw == PASSWORD
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)


def _settings(port: int, **kw) -> NotifySettings:
    recipients = Recipients.from_toml({
        "default": ["slf-ops@itc.example.org"],
        "operators": ["helpdesk@itc.example.org"],
        "districts": {DISTRICT: ["registrar@district.example.org", "Office <office@school.example.org>"]},
        "schools": {SCHOOL: ["office@school.example.org", "counselor@school.example.org"]},
    })
    base = dict(host="127.0.0.1", port=port, sender="Student Locator <slf-locator@itc.example.org>",
                resolution_url="https://ssid.state.example/resolve/{transaction_id}", timeout=5.0,
                recipients=recipients)
    base.update(kw)
    return NotifySettings(**base)


@pytest.fixture
def settings() -> NotifySettings:
    """Settings with no server behind them (for the pure builder tests)."""
    return _settings(25)


@pytest.fixture
def plain_server():
    sink = Sink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield sink, _settings(port)
    finally:
        ctl.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_dev_pki(tmp_path_factory.mktemp("smtp-pki"), clients=())


@pytest.fixture
def tls_server(pki):
    """STARTTLS required before AUTH (LOGIN/PLAIN) and before MAIL."""
    sink = Sink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port,
                     tls_context=server_context(pki.server_cert, pki.server_key),
                     require_starttls=True, authenticator=sink.authenticator, auth_required=True,
                     auth_require_tls=True)
    ctl.start()
    try:
        yield sink, _settings(port, starttls=True, ca_file=pki.ca_cert, username=USER,
                              password_env=PASSWORD_ENV)
    finally:
        ctl.stop()


@pytest.fixture
def env():
    return {PASSWORD_ENV: PASSWORD}


def request(local_id: str = "LOC-1001", school: str | None = SCHOOL, district: str = DISTRICT) -> StudentLocator:
    agencies = [RequestingAgencyId(type="LEA", value=district)]
    if school:
        agencies.append(RequestingAgencyId(type="School", value=school))
    return StudentLocator(id_status="Request", transaction_id=TXN, local_id=local_id,
                          requesting_agency_ids=tuple(agencies),
                          names=(Name(type="04", last_name="Ramírez", first_name="José", middle_name="Luis"),),
                          demographics=Demographics(birth_date="2012-03-04", gender="M"))


def candidate(state_id: str, confidence: str, last: str, first: str, birth: str, gender: str) -> StudentLocator:
    return StudentLocator(id_status="Ambiguous", transaction_id=TXN, state_province_id=state_id,
                          confidence=confidence, names=(Name(type="04", last_name=last, first_name=first),),
                          demographics=Demographics(birth_date=birth, gender=gender))


CANDIDATES = (
    candidate("RS1234567", "0.71", "Ramirez", "Jose", "2012-03-04", "M"),
    candidate("RS7654321", "0.93", "Ramírez", "José", "2012-04-03", "M"),
)
