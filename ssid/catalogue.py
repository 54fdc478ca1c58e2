"""The attribute catalogue: which student attributes the state collects and how each is checked.

Why configuration and not code (RFP 1.5, 1.21.1.2.1–1.21.1.2.6.1, 1.30): the state chooses up
to fifteen attributes, their acceptable code lists and validation rules, which are required,
and which *combinations* a task needs ("retrieve an ID" may need five, "generate a new ID"
nine) for each user group, and changes all of that over time without a release. Field lengths
are a rule here, not a column width: the database stores attribute text unbounded, so a
length grows by editing ``max_length``.

Why all problems at once, each with the fix (RFP 1.22.3, 1.28): a district clerk correcting a
rejected record should see every field to fix in one pass, told what to enter rather than only
that something is wrong. Messages never repeat the submitted value (it is a child's personal
data and ends up in logs and files).

SSN is never mandatory (RFP 1.4): a configuration that makes it required, for any task or any
group, is refused when it is loaded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .matching.standardize import TYPOGRAPHIC

MAX_ATTRIBUTES = 15
KINDS = ("name", "text", "date", "code", "ssn", "digits")
#: tasks the system knows; configuration may add others (a web form, a REST client)
RETRIEVE, GENERATE, MODIFY, IMPORT = "retrieve", "generate", "modify", "import"
#: attributes the matcher and the duplicate rules cannot do without
ESSENTIAL = ("LegalFirstName", "LegalLastName", "BirthDate")
#: columns of the batch layout that are not attributes (Supplement Two D)
LAYOUT_COLUMNS = frozenset({"UserID", "DateTimeCreated", "Building_IRN", "District_IRN", "StudentID",
                            "UserDefined", "ResultCode", "ResultMessage"})
#: where a catalogue attribute goes in the matcher's StudentRecord, by attribute name
MATCH_FIELDS: Mapping[str, str] = {
    "LegalFirstName": "first_name", "LegalMiddleName": "middle_name", "LegalLastName": "last_name",
    "NameSuffix": "suffix", "BirthDate": "birth_date", "Gender": "gender", "BirthPlaceCity": "birth_city",
    "RaceEthnicity": "race_ethnicity", "NativeLanguage": "native_language", "SSN": "ssn",
    "MothersMaidenName": "mothers_maiden_name",
}
#: a name: letters (any alphabet), spaces, hyphens, apostrophes and periods, with at least one letter
_NAME_OK = re.compile(r"(?:[^\W\d_]|[ \-'.])+")
_NOT_IN_NAME = re.compile(r"[^\w \-'.]|[\d_]")
_PLAIN_MARKS = str.maketrans(TYPOGRAPHIC)
_LETTER = re.compile(r"[^\W\d_]")
_ATTR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MEMO_SIZE = 50_000  # checked values remembered per attribute (a legacy import checks millions)


class CatalogueError(ValueError):
    """A catalogue configuration that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("attribute catalogue: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field, and how to fix it (never the value itself)."""

    field: str
    code: str  # missing | too_long | bad_format | bad_code | bad_date | out_of_range | not_allowed
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Attribute:
    name: str
    label: str
    kind: str = "text"
    required: bool = False  # needed to store a new student (the default for "generate")
    max_length: int = 50
    codes: Mapping[str, str] = field(default_factory=dict)  # acceptable code -> description
    pattern: str | None = None  # a regular expression the whole value must match
    min_date: date | None = None
    max_date: date | str | None = None  # a date or "today"
    help: str = ""  # how to enter it, shown with every problem and in the online help

    # derived once (a check runs millions of times in a legacy import)
    _canonical: Mapping[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    # results of checking a value whose answer does not depend on the day (names and codes repeat)
    _memo: dict[str, tuple[str, tuple[Problem, ...]]] = field(init=False, repr=False, compare=False,
                                                              default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_canonical", {c.upper(): c for c in self.codes})
        if self.pattern:
            try:
                object.__setattr__(self, "_regex", re.compile(self.pattern))
            except re.error:
                pass  # reported by the catalogue's structural check

    @property
    def is_ssn(self) -> bool:
        return self.kind == "ssn" or self.name.upper() == "SSN"

    @property
    def match_field(self) -> str:
        return MATCH_FIELDS.get(self.name, "")

    def _problem(self, code: str, message: str, hint: bool = True) -> Problem:
        return Problem(self.name, code, message + (f" ({self.help})" if hint and self.help else ""))

    def check(self, raw: str, today: date) -> tuple[str, list[Problem]]:
        """The stored form of a non-blank value and its problems."""
        if self.kind == "date":
            return self._check_date(raw.strip(), today)
        hit = self._memo.get(raw)
        if hit is None:
            value, found = self._check_value(raw.strip())
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            hit = self._memo[raw] = (value, tuple(found))
        return hit[0], list(hit[1])

    def _check_value(self, value: str) -> tuple[str, list[Problem]]:
        kind = self.kind
        problems: list[Problem] = []
        if kind == "ssn":
            digits = value.replace("-", "").replace(" ", "")
            if not (len(digits) == 9 and digits.isdigit()):
                return value, [self._problem("bad_format", "must be 9 digits (dashes allowed, e.g. 123-45-6789), "
                                                           "or left blank: SSN is optional", False)]
            value = digits
        elif kind == "name":
            if not value.isascii():
                # "é" typed as e + accent is the same letter; O’Brien and Smith–Jones are O'Brien and Smith-Jones
                value = unicodedata.normalize("NFC", value).translate(_PLAIN_MARKS)
            if not _NAME_OK.fullmatch(value):
                shown = " ".join(f'"{ch}"' for ch in dict.fromkeys(_NOT_IN_NAME.findall(value)))
                problems.append(self._problem("bad_format", f"may hold letters, spaces, hyphens (-), apostrophes (') "
                                                            f"and periods only: remove {shown}", False))
            elif not _LETTER.search(value):
                problems.append(self._problem("bad_format", "must contain a letter", False))
        elif kind == "code":
            if self._canonical:
                code = self._canonical.get(value.upper())
                if code is None:
                    listed = ", ".join(self.codes) if len(self.codes) <= 20 else \
                        f"the {len(self.codes)} codes listed by `slf ssid catalogue`"
                    return value, [self._problem("bad_code", f"is not an acceptable code: use one of {listed}",
                                                 False)]
                value = code
            else:
                value = value.upper()
        elif kind == "digits" and not value.isdigit():
            problems.append(self._problem("bad_format", "use digits only"))
        if len(value) > self.max_length:
            problems.append(self._problem("too_long", f"has {len(value)} characters; at most {self.max_length} are "
                                          "allowed: shorten it (the state can raise the limit in the catalogue)",
                                          False))
        if self._regex is not None and not self._regex.fullmatch(value):
            problems.append(self._problem("bad_format", "does not have the required form"))
        return value, problems

    def _check_date(self, value: str, today: date) -> tuple[str, list[Problem]]:
        parsed = parse_date(value)
        if parsed is None:
            return value, [self._problem("bad_date", "is not a date: write it as YYYY-MM-DD (e.g. 2012-09-30) or "
                                                     "MM/DD/YYYY", False)]
        problems = []
        high = today if self.max_date == "today" else self.max_date
        if self.min_date is not None and parsed < self.min_date:
            problems.append(self._problem("out_of_range", f"must be on or after {self.min_date.isoformat()}: "
                                                          "check the year", False))
        if isinstance(high, date) and parsed > high:
            problems.append(self._problem("out_of_range", f"must be on or before {high.isoformat()}: check the "
                                                          "year, and that day and month are not swapped", False))
        return parsed.isoformat(), problems


@dataclass(frozen=True)
class Checked:
    """The outcome of checking one record: cleaned values (blank ones dropped) and problems."""

    values: dict[str, str]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self) -> str:
        """All problems as one line (a batch file's ResultMessage, an SLF_ERROR_LOG text)."""
        return "; ".join(str(p) for p in self.problems)


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def problems_summary(problems: Sequence[Problem], task_phrase: str,
                     name_of: Callable[[str], str] = lambda field: field) -> str:
    """"Insufficient data to <task>: missing A, B; invalid C." — every field named up front, each
    once (by ``name_of``: a batch column, an SLF column), so even a cut message lists them all."""
    missing = list(dict.fromkeys(name_of(p.field) for p in problems if p.code == "missing"))
    invalid = list(dict.fromkeys(name_of(p.field) for p in problems if p.code != "missing"))
    head = []
    if missing:
        head.append(f"missing {', '.join(missing)}")
    if invalid:
        head.append(f"invalid {', '.join(invalid)}")
    what = "Insufficient data" if not invalid else "Invalid data" if not missing else "Insufficient or invalid data"
    return f"{what} to {task_phrase}: {'; '.join(head)}."


def parse_date(text: str) -> date | None:
    """YYYY-MM-DD or MM/DD/YYYY (the batch layout's two forms); None otherwise."""
    text = text.strip()
    m = _ISO_DATE.fullmatch(text)
    if m:
        y, mo, d = m.groups()
    else:
        m = _US_DATE.fullmatch(text)
        if not m:
            return None
        mo, d, y = m.groups()
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        return None


@dataclass(frozen=True)
class Catalogue:
    attributes: tuple[Attribute, ...]
    tasks: Mapping[str, frozenset[str]] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    _required: dict[tuple[str, str | None], frozenset[str]] = field(init=False, repr=False, compare=False,
                                                                     default_factory=dict)

    def __post_init__(self) -> None:
        problems = _structural_problems(self)
        if problems:
            raise CatalogueError(problems)

    # ---- look-ups ----

    @property
    def names(self) -> tuple[str, ...]:
        """Attribute names in catalogue order (the batch file's attribute columns)."""
        return tuple(a.name for a in self.attributes)

    def get(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(a.name == name for a in self.attributes)

    def required(self, task: str, group: str | None = None) -> tuple[str, ...]:
        """Attributes the task needs for this user group, in catalogue order.

        The group's own list for the task wins, then the catalogue's list for the task; without
        either, "generate" and "modify" need the attributes marked required, "import" (legacy
        records, kept as they are) and "retrieve" need what ``ESSENTIAL`` lists.
        """
        names: frozenset[str] | None = None
        if group is not None and group in self.groups and task in self.groups[group]:
            names = self.groups[group][task]
        elif task in self.tasks:
            names = self.tasks[task]
        elif task in (GENERATE, MODIFY):
            names = frozenset(a.name for a in self.attributes if a.required)
        elif task == RETRIEVE:
            names = frozenset(ESSENTIAL)
        else:
            names = frozenset()
        return tuple(n for n in self.names if n in names)

    # ---- checking ----

    def check(self, values: Mapping[str, Any], task: str = GENERATE, group: str | None = None, *,
              today: date | None = None) -> Checked:
        """Check a record for a task: every problem of every field, at once."""
        if group is not None and group not in self.groups and group != "default":
            return Checked({}, (Problem("group", "not_allowed",
                                        f"unknown user group {group!r}: use one of "
                                        f"{', '.join(['default', *self.groups]) }"),))
        today = today or date.today()
        need = self._required.get((task, group))
        if need is None:
            need = self._required[(task, group)] = frozenset(self.required(task, group))
        cleaned: dict[str, str] = {}
        problems: list[Problem] = []
        for a in self.attributes:
            raw = values.get(a.name)
            text = "" if raw is None else str(raw)
            if not text.strip():
                if a.name in need:
                    hint = f" ({a.help})" if a.help else ""
                    problems.append(Problem(a.name, "missing", f"is required to {_task_phrase(task)}: enter "
                                            f"the student's {a.label.lower()}{hint}"))
                continue
            value, found = a.check(text, today)
            problems.extend(found)
            if not found:
                cleaned[a.name] = value
        return Checked(cleaned, tuple(problems))

    def describe(self) -> list[dict[str, Any]]:
        """The catalogue as plain data (online help, `slf ssid catalogue`)."""
        out = []
        for a in self.attributes:
            out.append({"name": a.name, "label": a.label, "kind": a.kind, "required": a.required,
                        "max_length": a.max_length, "codes": dict(a.codes), "pattern": a.pattern,
                        "min_date": a.min_date.isoformat() if a.min_date else None,
                        "max_date": a.max_date.isoformat() if isinstance(a.max_date, date) else a.max_date,
                        "help": a.help})
        return out

    # ---- configuration ----

    @classmethod
    def from_config(cls, data: Mapping[str, Any], default_attributes: Sequence[Attribute] = (),
                    default_tasks: Mapping[str, frozenset[str]] | None = None) -> Catalogue:
        """Read ``{"attributes": [...], "tasks": {...}, "groups": {...}}`` (the TOML tables).

        Without ``attributes`` the ``default_attributes`` are used, and the file's task lists
        are laid over ``default_tasks``. Every problem is reported at once.
        """
        problems: list[str] = []
        attributes: list[Attribute] = []
        for i, item in enumerate(data.get("attributes") or ()):
            try:
                attributes.append(_attribute(item))
            except (KeyError, TypeError, ValueError) as exc:
                where = item.get("name") if isinstance(item, Mapping) else None
                problems.append(f"[[attributes]] #{i + 1}{f' ({where})' if where else ''}: {exc}")
        if not data.get("attributes"):
            attributes = list(default_attributes)
        tasks = {} if data.get("attributes") else dict(default_tasks or {})
        for task, spec in (data.get("tasks") or {}).items():
            tasks[task] = _names(spec, f"[tasks.{task}]", problems)
        groups: dict[str, dict[str, frozenset[str]]] = {}
        for group, spec in (data.get("groups") or {}).items():
            if not isinstance(spec, Mapping):
                problems.append(f"[groups.{group}] must be a table with a tasks table")
                continue
            groups[group] = {task: _names(t, f"[groups.{group}.tasks.{task}]", problems)
                             for task, t in (spec.get("tasks") or {}).items()}
        try:
            catalogue = cls(tuple(attributes), tasks, groups)
        except CatalogueError as exc:
            problems.extend(exc.problems)
        if problems:
            raise CatalogueError(problems)
        return catalogue


def _task_phrase(task: str) -> str:
    return {RETRIEVE: "retrieve a student ID", GENERATE: "generate a new student ID",
            MODIFY: "modify a student record", IMPORT: "import a legacy record"}.get(task, f"do {task!r}")


def _names(spec: Any, where: str, problems: list[str]) -> frozenset[str]:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("required", []), list):
        problems.append(f"{where} must have required = [attribute names]")
        return frozenset()
    return frozenset(str(n) for n in spec.get("required", []))


def _date_or_none(value: Any, what: str) -> date | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    if value == "today":
        return "today"
    parsed = parse_date(str(value))
    if parsed is None:
        raise ValueError(f"{what} must be a date YYYY-MM-DD (or \"today\" for max_date)")
    return parsed


def _attribute(item: Mapping[str, Any]) -> Attribute:
    known = {"name", "label", "kind", "required", "max_length", "codes", "pattern", "min_date", "max_date", "help"}
    unknown = set(item) - known
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}; the keys are {', '.join(sorted(known))}")
    codes = item.get("codes") or {}
    if isinstance(codes, list):
        codes = {str(c): "" for c in codes}
    min_date = _date_or_none(item.get("min_date"), "min_date")
    if min_date == "today":
        raise ValueError("min_date cannot be \"today\"")
    return Attribute(
        name=str(item["name"]), label=str(item.get("label") or item["name"]), kind=str(item.get("kind", "text")),
        required=bool(item.get("required", False)), max_length=int(item.get("max_length", 50)),
        codes={str(k): str(v) for k, v in codes.items()}, pattern=item.get("pattern") or None,
        min_date=min_date, max_date=_date_or_none(item.get("max_date"), "max_date"),
        help=str(item.get("help") or ""))


def _structural_problems(c: Catalogue) -> list[str]:
    out: list[str] = []
    names = [a.name for a in c.attributes]
    if len(names) > MAX_ATTRIBUTES:
        out.append(f"{len(names)} attributes configured; at most {MAX_ATTRIBUTES} are allowed: remove "
                   f"{len(names) - MAX_ATTRIBUTES}")
    for n in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"attribute {n} is configured twice: keep one")
    for a in c.attributes:
        if not _ATTR_NAME.fullmatch(a.name):
            out.append(f"attribute name {a.name!r}: use letters, digits and _ (it is a CSV column name)")
        if a.name in LAYOUT_COLUMNS:
            out.append(f"attribute name {a.name} is a batch layout column: choose another name")
        if a.kind not in KINDS:
            out.append(f"{a.name}: kind {a.kind!r} is unknown; use one of {', '.join(KINDS)}")
        if not 1 <= a.max_length <= 10_000:
            out.append(f"{a.name}: max_length must be between 1 and 10000")
        if a.pattern:
            try:
                re.compile(a.pattern)
            except re.error as exc:
                out.append(f"{a.name}: pattern is not a valid regular expression ({exc})")
        if a.kind == "code" and not a.codes and not a.pattern:
            out.append(f"{a.name}: a code attribute needs its acceptable codes (codes = {{...}}) or a pattern")
        if a.is_ssn and a.required:
            out.append(f"{a.name}: SSN can never be a mandatory attribute (RFP 1.4): set required = false")
    for n in ESSENTIAL:
        if n not in names:
            out.append(f"attribute {n} is missing: matching and duplicate checks need "
                       f"{', '.join(ESSENTIAL)}")
    ssn_names = {a.name for a in c.attributes if a.is_ssn}
    lists = [(f"[tasks.{t}]", s) for t, s in c.tasks.items()]
    lists += [(f"[groups.{g}.tasks.{t}]", s) for g, ts in c.groups.items() for t, s in ts.items()]
    for where, required in lists:
        for n in sorted(required - set(names)):
            out.append(f"{where}: {n} is not an attribute of the catalogue")
        for n in sorted(required & ssn_names):
            out.append(f"{where}: {n} cannot be required: SSN is never a mandatory attribute (RFP 1.4); "
                       "remove it from the list")
    return out


# ---- the Ohio defaults (Supplement Two, 2.A and 2.B) ----

_NAME_HELP = "letters, spaces, hyphens and apostrophes, as on the birth certificate"
OHIO_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("LegalFirstName", "Legal first name", "name", True, 35, help=_NAME_HELP),
    Attribute("LegalMiddleName", "Legal middle name", "name", True, 35,
              help="the full middle name; enter NMN if the student has none"),
    Attribute("LegalLastName", "Legal last name", "name", True, 50, help=_NAME_HELP),
    Attribute("BirthDate", "Birth date", "date", True, 10, min_date=date(1950, 1, 1), max_date="today",
              help="YYYY-MM-DD or MM/DD/YYYY"),
    Attribute("Gender", "Gender", "code", True, 1, codes={"F": "Female", "M": "Male", "X": "Non-binary"},
              help="F, M or X"),
    Attribute("BirthPlaceCity", "Birth place city", "name", True, 50, help="the city of birth, spelled out"),
    Attribute("RaceEthnicity", "Summative race/ethnicity", "code", True, 1,
              codes={"A": "Asian", "B": "Black, Non-Hispanic", "H": "Hispanic/Latino",
                     "I": "American Indian or Alaska Native", "M": "Multiracial",
                     "P": "Native Hawaiian or other Pacific Islander", "W": "White, Non-Hispanic"},
              help="the ODE summative race/ethnicity code"),
    Attribute("NativeLanguage", "Native language", "code", True, 3, pattern=r"[A-Z]{3}",
              help="the ODE three-letter language code, e.g. ENG"),
    Attribute("AdmissionReason", "Admission reason code", "code", True, 2, pattern=r"[0-9]{1,2}",
              help="the ODE admission reason code, e.g. 1"),
    Attribute("SSN", "Social Security number", "ssn", False, 11, help="optional; 9 digits"),
    Attribute("MothersMaidenName", "Mother's maiden name", "name", False, 50, help="optional"),
)
OHIO_TASKS: Mapping[str, frozenset[str]] = {
    RETRIEVE: frozenset({"LegalFirstName", "LegalLastName", "BirthDate", "Gender", "BirthPlaceCity"}),
    GENERATE: frozenset(a.name for a in OHIO_ATTRIBUTES if a.required),
    MODIFY: frozenset(ESSENTIAL),
    IMPORT: frozenset(),
}


def ohio_catalogue(groups: Mapping[str, Mapping[str, Iterable[str]]] | None = None) -> Catalogue:
    """The seed's attribute list as a catalogue (used when no configuration is given)."""
    g = {name: {t: frozenset(v) for t, v in tasks.items()} for name, tasks in (groups or {}).items()}
    return Catalogue(OHIO_ATTRIBUTES, dict(OHIO_TASKS), g)
