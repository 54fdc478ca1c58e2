"""E-mail notifications of the Student Locator: SMTP settings, message builders, sending.

Three outcomes of a lookup send mail (the issue's "Notifications over SMTP"):

* **ambiguous** — the state found several possible students. The district's staff get the
  candidates (StateProvinceId, Confidence, name, birth date, gender) and a link to the
  state's resolution page, or the console command that resolves it locally.
* **error** — insufficient data or a data error. The district's staff get the fields to fix
  in the SIS; saving the fix sends a StudentPersonal Change, which starts a new lookup.
* **fault** — a technical failure kept for retry. The ITC's operators get the technical
  detail (no student name or demographics).

Settings come from a TOML table (design convention 11); the SMTP password is named by
environment variable (``password_env``), never stored::

    [notify]
    host = "smtp.itc.example.org"
    port = 587                          # default: 465 with ssl, 587 with starttls, else 25
    starttls = true                     # upgrade a plain connection (mutually exclusive with ssl)
    ssl = false                         # implicit TLS from the first byte
    ca_file = "certs/smtp-ca.pem"       # optional; default: the system's CAs
    username = "slf-locator"
    password_env = "SLF_SMTP_PASSWORD"
    sender = "Student Locator <slf-locator@itc.example.org>"
    timeout = 30                        # seconds, per SMTP operation
    subject_prefix = "[SLF]"
    resolution_url = "https://ssid.state.example/resolve/{transaction_id}"

    [notify.recipients]
    default = ["slf-ops@itc.example.org"]          # when no district or school list applies
    operators = ["itc-helpdesk@itc.example.org"]   # faults; default list when absent

    [notify.recipients.districts]                  # by district (LEA) IRN
    "043752" = ["registrar@district.example.org"]

    [notify.recipients.schools]                    # by school (building) IRN
    "012345" = ["office@school.example.org"]

Builders are pure: ``ambiguous_message``, ``error_message`` and ``fault_message`` return an
``email.message.EmailMessage`` (text/plain, UTF-8) with a stable Message-ID per
(transaction, kind), so a retried send is recognisably the same mail. ``send`` delivers one
with smtplib in a worker thread and returns a ``SendReceipt`` for the locator's e-mail log;
transient failures raise ``NotifyError(transient=True)``.

Subjects carry the student's local id and the district, never the name (PII minimisation);
logs carry the transaction id, kind and recipient count only (design convention 12).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import smtplib
import ssl
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote

from messages.errors import Error
from messages.objects.common import Name
from messages.objects.studentlocator import StudentLocator

log = logging.getLogger(__name__)

AMBIGUOUS = "ambiguous"
ERROR = "error"
FAULT = "fault"
KINDS = (AMBIGUOUS, ERROR, FAULT)

#: Console commands named in the mails (the console lands separately; keep these in step).
CONSOLE_RESOLVE = "slf locator console resolve {txn} --pick STATEID"
CONSOLE_NEW = "slf locator console resolve {txn} --new"
CONSOLE_RETRY = "slf locator console retry {txn}"
CONSOLE_CANCEL = "slf locator console cancel {txn}"

_CTRL = re.compile(r"[\x00-\x1f\x7f]+")


class NotifyError(Exception):
    """A notification could not be built or sent.

    ``transient`` is true when trying again later may succeed (server down, timeout, 4xx
    reply); false for configuration problems and permanent (5xx) refusals.
    """

    def __init__(self, message: str, *, transient: bool = False, smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.smtp_code = smtp_code


class NotifyConfigError(NotifyError, ValueError):
    """A [notify] setting is wrong; worded for the person editing the file."""


# ====================================================================== settings
def _addresses(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NotifyConfigError(f"{where} must be a list of e-mail addresses")
    out: list[str] = []
    for v in value:
        v = v.strip()
        _name, addr = parseaddr(v)
        if not v or "@" not in addr or _CTRL.search(v):
            raise NotifyConfigError(f"{where}: {v!r} is not an e-mail address")
        if v not in out:
            out.append(v)
    return tuple(out)


def _dedupe(addrs: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for a in addrs:
        key = parseaddr(a)[1].lower()
        if key not in seen:
            seen.add(key)
            out.append(a)
    return tuple(out)


@dataclass(frozen=True)
class Recipients:
    """Who gets mail: per school (building) IRN, per district IRN, a default, ITC operators.

    Ambiguous and error mails go to the school's list (when it has one) plus the district's,
    without duplicates; when neither has a list, to ``default``. Faults go to ``operators``
    (``default`` when that is empty).
    """

    default: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    districts: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (IRN, addresses), sorted
    schools: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_toml(cls, table: Mapping[str, Any] | None) -> Recipients:
        table = dict(table or {})
        _known(table, {"default", "operators", "districts", "schools"}, "[notify.recipients]")

        def by_irn(key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
            raw = table.get(key, {})
            if not isinstance(raw, Mapping):
                raise NotifyConfigError(f"[notify.recipients.{key}] must be a table of IRN = [addresses]")
            return tuple(sorted((str(irn).strip(), _addresses(v, f"[notify.recipients.{key}] {irn!r}"))
                                for irn, v in raw.items()))

        return cls(default=_addresses(table.get("default", []), "[notify.recipients] default"),
                   operators=_addresses(table.get("operators", []), "[notify.recipients] operators"),
                   districts=by_irn("districts"), schools=by_irn("schools"))

    def district(self, irn: str | None) -> tuple[str, ...]:
        return next((a for k, a in self.districts if irn and k == irn.strip()), ())

    def school(self, irn: str | None) -> tuple[str, ...]:
        return next((a for k, a in self.schools if irn and k == irn.strip()), ())

    def for_student(self, district_irn: str | None, school_irn: str | None) -> tuple[str, ...]:
        found = _dedupe((*self.school(school_irn), *self.district(district_irn)))
        return found or self.default

    def for_operators(self) -> tuple[str, ...]:
        return self.operators or self.default


def _known(table: Mapping, allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise NotifyConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")


_KEYS = {"host", "port", "starttls", "ssl", "ca_file", "username", "password_env", "password",
         "sender", "timeout", "resolution_url", "subject_prefix", "recipients"}


@dataclass(frozen=True)
class NotifySettings:
    """The ``[notify]`` table: SMTP server, credentials by env var, sender, links, recipients."""

    host: str
    sender: str
    resolution_url: str
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password_env: str | None = None
    timeout: float = 30.0
    subject_prefix: str = "[SLF]"
    recipients: Recipients = field(default_factory=Recipients)

    def __post_init__(self) -> None:
        if self.starttls and self.ssl:
            raise NotifyConfigError("[notify] starttls and ssl exclude each other: use ssl for implicit "
                                    "TLS (usually port 465) or starttls for an upgraded connection (587)")
        if not self.host or _CTRL.search(self.host):
            raise NotifyConfigError("[notify] host is required")
        if not 0 < self.port < 65536:
            raise NotifyConfigError(f"[notify] port must be 1-65535, not {self.port}")
        if bool(self.username) != bool(self.password_env):
            raise NotifyConfigError("[notify] username and password_env go together (password_env names "
                                    "the environment variable that holds the SMTP password)")
        if self.username and not (self.starttls or self.ssl):
            raise NotifyConfigError("[notify] a username needs starttls or ssl: the SMTP password would "
                                    "otherwise travel in clear text")
        if self.timeout <= 0:
            raise NotifyConfigError("[notify] timeout must be a positive number of seconds")
        _addresses([self.sender], "[notify] sender")
        fields = {f for _, f, _, _ in string.Formatter().parse(self.resolution_url) if f is not None}
        if fields != {"transaction_id"}:
            raise NotifyConfigError("[notify] resolution_url must contain {transaction_id} and no other "
                                    "placeholder, e.g. https://ssid.state.example/resolve/{transaction_id}")

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], *, base_dir: Path | None = None) -> NotifySettings:
        """From the ``[notify]`` table of a parsed TOML file; ``ca_file`` is relative to ``base_dir``."""
        t = dict(table)
        _known(t, _KEYS, "[notify]")
        if "password" in t:
            raise NotifyConfigError("[notify] passwords are never stored in the file; put it in an "
                                    "environment variable and name that variable in password_env")
        for key in ("host", "sender", "resolution_url"):
            if not isinstance(t.get(key), str) or not t[key].strip():
                raise NotifyConfigError(f"[notify] {key} is required")
        for key in ("starttls", "ssl"):
            if not isinstance(t.get(key, False), bool):
                raise NotifyConfigError(f"[notify] {key} must be true or false")
        for key in ("username", "password_env", "subject_prefix", "ca_file"):
            if key in t and not isinstance(t[key], str):
                raise NotifyConfigError(f"[notify] {key} must be a string")
        use_ssl, use_starttls = t.get("ssl", False), t.get("starttls", False)
        port = t.get("port", 465 if use_ssl else 587 if use_starttls else 25)
        if isinstance(port, bool) or not isinstance(port, int):
            raise NotifyConfigError("[notify] port must be a whole number")
        timeout = t.get("timeout", 30.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise NotifyConfigError("[notify] timeout must be a number of seconds")
        ca_file = None
        if t.get("ca_file"):
            ca_file = Path(t["ca_file"])
            if base_dir is not None and not ca_file.is_absolute():
                ca_file = Path(base_dir) / ca_file
        return cls(host=t["host"].strip(), port=port, starttls=use_starttls, ssl=use_ssl, ca_file=ca_file,
                   username=t.get("username") or None, password_env=t.get("password_env") or None,
                   sender=t["sender"].strip(), timeout=float(timeout),
                   resolution_url=t["resolution_url"].strip(),
                   subject_prefix=t.get("subject_prefix", "[SLF]"),
                   recipients=Recipients.from_toml(t.get("recipients")))

    def resolution_link(self, transaction_id: str) -> str:
        return self.resolution_url.format(transaction_id=quote(transaction_id, safe=""))

    def password(self, environ: Mapping[str, str] = os.environ) -> str | None:
        if not self.password_env:
            return None
        try:
            return environ[self.password_env]
        except KeyError:
            raise NotifyConfigError(f"environment variable {self.password_env} (the SMTP password for "
                                    f"{self.username} at {self.host}) is not set") from None

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or "slf.invalid"


# ====================================================================== what a mail is about
@dataclass(frozen=True)
class StudentRef:
    """The student a mail is about, as the locator's transaction knows them."""

    transaction_id: str
    local_id: str | None
    district_irn: str | None
    school_irn: str | None = None
    school_name: str | None = None
    name: Name | None = None
    birth_date: str | None = None
    gender: str | None = None

    @classmethod
    def from_request(cls, request: StudentLocator, *, school_name: str | None = None) -> StudentRef:
        """From the StudentLocator request the locator sent (LEA and School agency ids)."""
        demo = request.demographics
        return cls(transaction_id=request.transaction_id, local_id=request.local_id,
                   district_irn=request.agency("LEA"), school_irn=request.agency("School"),
                   school_name=school_name, name=request.name_of_record,
                   birth_date=demo.birth_date if demo else None, gender=demo.gender if demo else None)


@dataclass(frozen=True)
class FieldProblem:
    """One field the district must fix: the StudentLocator target, what is wrong, the value seen."""

    target: str
    problem: str = "missing"  # "missing" | "invalid" | free text
    value: str | None = None


def problems_from(missing: Iterable[str] = (), invalid: Mapping[str, str] | None = None) -> list[FieldProblem]:
    """From ``mapping.Collected.missing`` / ``.invalid`` (or the same shapes from elsewhere)."""
    out = [FieldProblem(t, "missing") for t in missing]
    out += [FieldProblem(t, "invalid", v) for t, v in (invalid or {}).items()]
    return out


#: StudentLocator targets in words, with where staff usually fix them in the SIS.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "LocalId": ("Local student ID", "the student's demographics / ID page"),
    "StudentPersonalRefId": ("SIS record reference", "ask the ITC: the SIS did not send a record id"),
    'RequestingAgencyId[@Type="LEA"]': ("District IRN", "the school or district setup in the SIS"),
    'RequestingAgencyId[@Type="School"]': ("School (building) IRN", "the student's Home enrollment: "
                                           "school of the enrollment, and that school's IRN"),
    "GradeLevel/Code": ("Grade level", "the student's Home enrollment"),
    'Name[@Type="04"]/LastName': ("Legal last name", "the student's name of record"),
    'Name[@Type="04"]/FirstName': ("Legal first name", "the student's name of record"),
    'Name[@Type="04"]/MiddleName': ("Legal middle name", "the student's name of record"),
    "Demographics/BirthDate": ("Birth date", "the student's demographics (format YYYY-MM-DD)"),
    "Demographics/Gender": ("Gender", "the student's demographics"),
    "Demographics/RaceList/Race/Code": ("Race", "the student's demographics"),
    "Demographics/HispanicLatino": ("Hispanic/Latino", "the student's demographics"),
    "Demographics/PlaceOfBirth": ("Place of birth", "the student's demographics"),
    "Demographics/LanguageList/Language/Code": ("Home language", "the student's demographics"),
    "EffectiveDate": ("Enrollment entry date", "the student's Home enrollment"),
    "SSN": ("Social Security number", "the student's demographics / ID page"),
}


def field_label(target: str) -> str:
    return FIELD_LABELS.get(target, (target, ""))[0]


# ====================================================================== builders
def _clean(text: object, limit: int = 120) -> str:
    """One line, no control characters (header injection), at most ``limit`` characters."""
    s = _CTRL.sub(" ", str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _who(student: StudentRef) -> str:
    local = _clean(student.local_id or "(no local id)", 40)
    district = _clean(student.district_irn or "?", 20)
    return f"student {local} (district {district})"


def _full_name(name: Name | None) -> str:
    if name is None:
        return "(no name)"
    if name.full_name and not (name.last_name or name.first_name):
        return _clean(name.full_name)
    given = " ".join(p for p in (name.first_name, name.middle_name) if p)
    last = " ".join(p for p in (name.last_name, name.suffix) if p)
    return _clean(", ".join(p for p in (last, given) if p) or "(no name)")


def _gender(code: str | None) -> str:
    return {"M": "M (male)", "F": "F (female)", "U": "U (unknown)"}.get(code or "", code or "—")


def _confidence(value: str | None) -> tuple[float, str]:
    try:
        c = float(value) if value is not None else -1.0
    except ValueError:
        return -1.0, _clean(value or "—", 20)
    if 0.0 <= c <= 1.0:
        return c, f"{value} ({c:.0%})"
    return c, _clean(value or "—", 20)


def message_id(settings: NotifySettings, transaction_id: str, kind: str) -> str:
    """Stable per (transaction, kind): a retried send carries the same Message-ID."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    txn = re.sub(r"[^A-Za-z0-9]", "", transaction_id) or "none"
    return f"<slf.{txn}.{kind}@{settings.domain}>"


def _message(settings: NotifySettings, kind: str, student: StudentRef, to: Sequence[str], subject: str,
             body: str, now: datetime | None) -> EmailMessage:
    if not to:
        raise NotifyError(f"no recipients for a {kind} mail about {_who(student)}: add the district or "
                          "school to [notify.recipients], or a default list")
    msg = EmailMessage()
    msg["Subject"] = _clean(f"{settings.subject_prefix} {subject}".strip(), 200)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime((now or datetime.now(timezone.utc)).astimezone(timezone.utc))
    msg["Message-ID"] = message_id(settings, student.transaction_id, kind)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    msg["X-SLF-Transaction"] = _clean(student.transaction_id, 64)
    msg["X-SLF-Kind"] = kind
    # quoted-printable keeps the body 7-bit clean for relays without 8BITMIME
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return msg


def _student_block(student: StudentRef) -> list[str]:
    school = " ".join(p for p in (_clean(student.school_name) if student.school_name else "",
                                  f"(IRN {_clean(student.school_irn, 20)})" if student.school_irn else "") if p)
    return [
        f"  Local student ID: {_clean(student.local_id or '(none)', 40)}",
        f"  Name:             {_full_name(student.name)}",
        f"  Birth date:       {_clean(student.birth_date or '—', 20)}",
        f"  Gender:           {_gender(student.gender)}",
        f"  School:           {school or '—'}",
        f"  District IRN:     {_clean(student.district_irn or '—', 20)}",
        f"  Transaction:      {_clean(student.transaction_id, 64)}",
    ]


def ambiguous_message(settings: NotifySettings, student: StudentRef, candidates: Sequence[StudentLocator], *,
                      now: datetime | None = None) -> EmailMessage:
    """To the district's staff: the state found several possible students; pick one or ask for new."""
    txn = student.transaction_id
    ranked = sorted(candidates, key=lambda c: _confidence(c.confidence)[0], reverse=True)
    link = settings.resolution_link(txn)
    lines = [
        "The state could not match this student to a single state ID (SSID). It found "
        f"{len(ranked)} possible match{'es' if len(ranked) != 1 else ''}; someone who knows the "
        "student must choose.",
        "",
        "Student (as sent from your SIS):",
        *_student_block(student),
        "",
        "Candidates (most likely first):",
    ]
    for i, c in enumerate(ranked, 1):
        demo = c.demographics
        lines += [
            f"  {i}. State ID {_clean(c.state_province_id or '(none)', 40)} — confidence {_confidence(c.confidence)[1]}",
            f"     Name:       {_full_name(c.name_of_record)}",
            f"     Birth date: {_clean((demo.birth_date if demo else None) or '—', 20)}",
            f"     Gender:     {_gender(demo.gender if demo else None)}",
        ]
        if c.school_attended_name:
            lines.append(f"     Last school: {_clean(c.school_attended_name)}")
    if not ranked:
        lines.append("  (the state sent no candidates)")
    lines += [
        "",
        "What to do — either:",
        "  * open the state's resolution page and pick the right student, or ask for a new ID:",
        f"    {link}",
        "  * or, at the ITC's locator console, pick a candidate by its state ID:",
        f"      {CONSOLE_RESOLVE.format(txn=txn)}",
        "    or, if none of them is this student, ask for a new state ID:",
        f"      {CONSOLE_NEW.format(txn=txn)}",
        "",
        "Until then the student has no state ID in the SIS. Once resolved, the locator writes the "
        "state ID back into the SIS automatically.",
        "",
        "This message was sent automatically by the Student Locator; replies are not read.",
    ]
    subject = f"Action needed: {_who(student)} matches {len(ranked)} state IDs — choose one"
    return _message(settings, AMBIGUOUS, student,
                    settings.recipients.for_student(student.district_irn, student.school_irn),
                    subject, "\n".join(lines) + "\n", now)


def error_message(settings: NotifySettings, student: StudentRef, problems: Sequence[FieldProblem] = (), *,
                  state_error: Error | None = None, now: datetime | None = None) -> EmailMessage:
    """To the district's staff: the lookup failed for missing or invalid data; what to fix in the SIS."""
    labels = [field_label(p.target) for p in problems]
    lines = [
        "The state ID lookup for this student could not be completed because of the student's data "
        "in the SIS.",
        "",
        "Student:",
        *_student_block(student),
        "",
    ]
    if problems:
        lines.append("Fields to fix:")
        for p in problems:
            label, where = FIELD_LABELS.get(p.target, (p.target, ""))
            if p.problem == "missing":
                what = "missing"
            elif p.problem == "invalid":
                what = f"invalid value {_clean(p.value or '', 60)!r}" if p.value is not None else "invalid value"
            else:
                what = _clean(p.problem, 200)
            lines.append(f"  * {label}: {what}" + (f" — fix in {where}" if where else ""))
            if label != p.target:
                lines.append(f"      (StudentLocator field {p.target})")
    if state_error is not None:
        lines += ["", "The state replied:",
                  f"  {_clean(state_error.desc, 1024)} (SIF error {state_error.category}/{state_error.code})"]
        if state_error.extended_desc:
            lines.append(f"  {_clean(state_error.extended_desc, 1024)}")
    lines += [
        "",
        "How to fix it:",
        "  1. Open the student's record in the SIS and correct the fields above.",
        "  2. Save the record. Saving sends the change to the locator, which starts a new state ID "
        "lookup with the corrected data automatically — there is nothing else to do and no need to "
        "contact the ITC.",
        "",
        "This message was sent automatically by the Student Locator; replies are not read.",
    ]
    what = ", ".join(dict.fromkeys(labels)) if labels else "data error"
    subject = f"Fix needed: {_who(student)} — {what}"
    return _message(settings, ERROR, student,
                    settings.recipients.for_student(student.district_irn, student.school_irn),
                    subject, "\n".join(lines) + "\n", now)


def fault_message(settings: NotifySettings, student: StudentRef, error: str | Error | BaseException, *,
                  attempts: int | None = None, next_attempt: datetime | None = None, zone_id: str | None = None,
                  now: datetime | None = None) -> EmailMessage:
    """To the ITC's operators: a technical failure kept for retry (no student name or demographics)."""
    txn = student.transaction_id
    if isinstance(error, BaseException):
        detail = f"{type(error).__name__}: {error}"
    else:
        detail = str(error)
    lines = [
        "A state ID lookup failed for a technical reason. The transaction is kept and will be retried; "
        "no action is needed from the district.",
        "",
        f"  Transaction:      {_clean(txn, 64)}",
        f"  Local student ID: {_clean(student.local_id or '(none)', 40)}",
        f"  District IRN:     {_clean(student.district_irn or '—', 20)}",
    ]
    if student.school_irn:
        lines.append(f"  School IRN:       {_clean(student.school_irn, 20)}")
    if zone_id:
        lines.append(f"  Zone:             {_clean(zone_id, 80)}")
    if attempts is not None:
        lines.append(f"  Attempts so far:  {attempts}")
    if next_attempt is not None:
        lines.append(f"  Next attempt:     {next_attempt.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
    lines += [
        "",
        "Error:",
        *(f"  {_clean(line, 1000)}" for line in detail.splitlines() or [""]),
        "",
        "At the locator console:",
        f"  {CONSOLE_RETRY.format(txn=txn)}    (retry now)",
        f"  {CONSOLE_CANCEL.format(txn=txn)}   (give up on this transaction)",
        "",
        "This message was sent automatically by the Student Locator.",
    ]
    subject = f"Fault: transaction {_clean(txn, 64)} for {_who(student)} kept for retry"
    return _message(settings, FAULT, student, settings.recipients.for_operators(),
                    subject, "\n".join(lines) + "\n", now)


# ====================================================================== sending
@dataclass(frozen=True)
class SendReceipt:
    """What the locator's e-mail log keeps about one delivered mail."""

    message_id: str
    recipients: tuple[str, ...]  # envelope addresses the server accepted
    sent_at: datetime
    kind: str | None = None
    transaction_id: str | None = None
    refused: tuple[str, ...] = ()  # envelope addresses the server refused (others were accepted)


def _transient_code(code: int | None) -> bool:
    return code is not None and 400 <= code < 500


def _tls_context(settings: NotifySettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)


def _send_sync(settings: NotifySettings, message: EmailMessage, envelope_to: list[str],
               password: str | None) -> dict[str, tuple[int, bytes]]:
    context = _tls_context(settings) if (settings.ssl or settings.starttls) else None
    if settings.ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        client.ehlo()
        if settings.starttls:
            # raises SMTPNotSupportedError when the server does not offer STARTTLS: never fall back
            client.starttls(context=context)
            client.ehlo()
        if settings.username:
            try:
                client.login(settings.username, password or "")
            except UnicodeEncodeError:
                raise NotifyConfigError(f"the SMTP user name or the password in {settings.password_env} has "
                                        "non-ASCII characters, which smtplib cannot send; use an ASCII "
                                        "password") from None
        return client.send_message(message, from_addr=settings.sender_address, to_addrs=envelope_to)
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _classify(exc: BaseException, settings: NotifySettings) -> NotifyError:
    where = f"SMTP server {settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        transient = bool(codes) and all(_transient_code(c) for c in codes)
        return NotifyError(f"{where} refused every recipient: "
                           + "; ".join(f"{a}: {c} {m.decode(errors='replace') if isinstance(m, bytes) else m}"
                                       for a, (c, m) in exc.recipients.items()),
                           transient=transient, smtp_code=codes[0] if codes else None)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return NotifyError(f"{where} does not offer what the settings require ({exc}); check starttls, ssl "
                           "and username",
                           transient=False)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return NotifyError(f"{where} refused the login of {settings.username} ({exc.smtp_code} "
                           f"{exc.smtp_error.decode(errors='replace')}); check the password in "
                           f"{settings.password_env}", transient=_transient_code(exc.smtp_code),
                           smtp_code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return NotifyError(f"{where} answered {exc.smtp_code} {text}", transient=_transient_code(exc.smtp_code),
                           smtp_code=exc.smtp_code)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return NotifyError(f"{where}: the server certificate was not accepted ({exc.verify_message}); "
                           "check host and ca_file", transient=False)
    if isinstance(exc, ssl.SSLError):
        return NotifyError(f"{where}: TLS failed ({exc})", transient=True)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError)):
        return NotifyError(f"{where} could not be reached or dropped the connection "
                           f"({type(exc).__name__}: {exc})", transient=True)
    if isinstance(exc, smtplib.SMTPException):
        return NotifyError(f"{where}: {type(exc).__name__}: {exc}", transient=False)
    return NotifyError(f"{where}: {type(exc).__name__}: {exc}", transient=False)


async def send(settings: NotifySettings, message: EmailMessage, *,
               environ: Mapping[str, str] = os.environ, clock=None) -> SendReceipt:
    """Deliver one built message over SMTP (smtplib in a worker thread).

    Envelope recipients are the message's To and Cc addresses. Raises ``NotifyError``:
    ``transient=True`` for failures worth retrying later (connection refused or dropped,
    timeouts, 4xx replies), ``transient=False`` for configuration and permanent refusals,
    including an unset password environment variable (named in the error).
    """
    password = settings.password(environ)  # before connecting: a config error is not transient
    envelope_to = [addr for _n, addr in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))
                   if addr]
    if not envelope_to:
        raise NotifyError("the message has no recipients (To/Cc)")
    kind = message.get("X-SLF-Kind")
    txn = message.get("X-SLF-Transaction")
    try:
        refused = await asyncio.to_thread(_send_sync, settings, message, envelope_to, password)
    except NotifyError:
        raise
    except Exception as exc:  # noqa: BLE001 — classified into NotifyError below
        err = _classify(exc, settings)
        log.warning("notify %s for transaction %s not sent (%s): %s", kind, txn,
                    "will retry" if err.transient else "permanent", err)
        raise err from exc
    sent_at = clock() if clock else datetime.now(timezone.utc)
    accepted = tuple(a for a in envelope_to if a not in refused)
    log.info("notify %s for transaction %s sent to %d recipient(s)%s", kind, txn, len(accepted),
             f", {len(refused)} refused" if refused else "")
    return SendReceipt(message_id=str(message["Message-ID"]), recipients=accepted, sent_at=sent_at,
                       kind=kind, transaction_id=txn, refused=tuple(refused))
