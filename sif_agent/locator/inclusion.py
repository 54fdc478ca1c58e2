"""Inclusion rules: is this student subject to a StudentLocator transaction?

Seed (SLF technical overview, "Inclusion Rules for Students"):

* Rule #1 - only Home school enrollments count (one transaction per student, however many
  schools the student is concurrently enrolled in).
* Rule #2 - only students with an enrollment in the active school year (from the locator's
  configuration), "regardless of whether that student is active or not"; with Home
  enrollments at more than one school, the most recent one gives the school passed on.
* Rule #3 - the SLF adapter may filter the student out with its own business rules, e.g. when
  a valid state ID is already assigned.

Pure functions; every answer carries plain-language reasons for the locator console.

Choices where the seed is silent:

* The school year is compared as the xs:gYear string (``"2027"`` is 2026-27), after trimming.
* Exit dates and TimeFrame never exclude (rule 2's "regardless of whether ... active").
* "Most recent" among the Home enrollments of the active year: latest EntryDate (a missing
  EntryDate counts as earliest), then latest SchoolYear; on a tie an open enrollment (no
  ExitDate) beats an exited one, a later ExitDate beats an earlier one, and finally the
  greatest RefId wins - arbitrary but independent of the order the events arrived in.
* A chosen enrollment whose SchoolInfo is not (yet) known still includes the student, with
  ``school=None`` and a reason saying so: a missing school is a data gap for the mapping's
  required fields, not an inclusion rule.
* Hooks run in order and the first exclusion wins; a hook's exception propagates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from messages.objects import SchoolInfo, StudentSchoolEnrollment

from .student import StudentRecord

_GYEAR = re.compile(r"^-?[0-9]{4,}$")


@dataclass(frozen=True)
class Exclusion:
    """An adapter hook's answer when it filters a student out (rule 3)."""

    reason: str


Hook = Callable[[StudentRecord, StudentSchoolEnrollment], Exclusion | None]


@dataclass(frozen=True)
class Inclusion:
    included: bool
    enrollment: StudentSchoolEnrollment | None = None  # the Home enrollment passed on
    school: SchoolInfo | None = None  # its SchoolInfo, when known
    reasons: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.included

    @property
    def explanation(self) -> str:
        return "; ".join(self.reasons)


def _school_label(school_ref: str, schools: Mapping[str, SchoolInfo]) -> str:
    school = schools.get(school_ref)
    if school is not None:
        for label in (school.local_id, school.state_province_id, school.school_name):
            if label:
                return label
    return school_ref


def _describe(e: StudentSchoolEnrollment, schools: Mapping[str, SchoolInfo]) -> str:
    return f"{e.membership_type} {e.school_year.strip()} at {_school_label(e.school_info_ref_id, schools)}"


def home_enrollments(enrollments: Iterable[StudentSchoolEnrollment]) -> list[StudentSchoolEnrollment]:
    """Rule 1: only Home school enrollments count."""
    return [e for e in enrollments if e.membership_type == "Home"]


def in_school_year(enrollments: Iterable[StudentSchoolEnrollment],
                   school_year: str) -> list[StudentSchoolEnrollment]:
    """Rule 2, first half: enrollments in the given school year, active or not."""
    year = school_year.strip()
    return [e for e in enrollments if (e.school_year or "").strip() == year]


def _recency(e: StudentSchoolEnrollment) -> tuple:
    return (
        e.entry_date is not None and e.entry_date.strip() != "",
        (e.entry_date or "").strip(),
        (e.school_year or "").strip(),
        e.exit_date is None or e.exit_date.strip() == "",
        (e.exit_date or "").strip(),
        e.ref_id,
    )


def most_recent(enrollments: Sequence[StudentSchoolEnrollment]) -> StudentSchoolEnrollment:
    """Rule 2, second half: the most recent enrollment (see the module's tie rules)."""
    if not enrollments:
        raise ValueError("no enrollment to choose from")
    return max(enrollments, key=_recency)


def evaluate(record: StudentRecord, schools: Mapping[str, SchoolInfo], *,
             active_school_year: str, hooks: Iterable[Hook] = ()) -> Inclusion:
    """Apply rules 1-3 to ``record``; say which Home enrollment and school are passed on."""
    year = str(active_school_year).strip()
    if not _GYEAR.match(year):
        raise ValueError(f"active school year must be an xs:gYear such as '2027', not {active_school_year!r}")
    enrollments = list(record.enrollments.values())
    if not enrollments:
        return Inclusion(False, reasons=("excluded: no StudentSchoolEnrollment received for this student",))
    candidates = in_school_year(home_enrollments(enrollments), year)
    if not candidates:
        found = ", ".join(_describe(e, schools) for e in sorted(enrollments, key=lambda e: e.ref_id))
        if not home_enrollments(enrollments):
            why = f"excluded (rule 1): no Home enrollment, only concurrent/summer ones (found {found})"
        else:
            why = f"excluded (rule 2): no Home enrollment in school year {year} (found {found})"
        return Inclusion(False, reasons=(why,))
    chosen = most_recent(candidates)
    reasons = [f"included: Home enrollment in school year {year} at "
               f"{_school_label(chosen.school_info_ref_id, schools)}"
               + (f" (entered {chosen.entry_date})" if chosen.entry_date else "")]
    if len(candidates) > 1:
        others = ", ".join(_describe(e, schools) for e in sorted(candidates, key=lambda e: e.ref_id)
                           if e is not chosen)
        reasons.append(f"the most recent of {len(candidates)} Home enrollments in {year} was "
                       f"chosen (others: {others})")
    if chosen.exit_date:
        reasons.append(f"the student exited on {chosen.exit_date}; included regardless (rule 2)")
    school = schools.get(chosen.school_info_ref_id)
    if school is None:
        reasons.append(f"SchoolInfo {chosen.school_info_ref_id} not received yet")
    for hook in hooks:
        exclusion = hook(record, chosen)
        if exclusion is not None:
            return Inclusion(False, chosen, school, (f"excluded by adapter rule (rule 3): {exclusion.reason}",))
    return Inclusion(True, chosen, school, tuple(reasons))


def exclude_when_state_id_present(pattern: str) -> Hook:
    """A rule-3 hook: exclude a student whose StudentPersonal already carries a StateProvinceId
    matching the state's ID pattern (the whole value must match), e.g. ``^[A-Z]{2}[0-9]{7}$``."""
    regex = re.compile(pattern)

    def hook(record: StudentRecord, enrollment: StudentSchoolEnrollment) -> Exclusion | None:
        personal = record.personal
        value = (personal.state_province_id or "").strip() if personal is not None else ""
        if value and regex.fullmatch(value):
            return Exclusion("the student already has a valid state ID "
                             f"(StateProvinceId matches {pattern})")
        return None

    hook.__name__ = f"exclude_when_state_id_present({pattern!r})"
    return hook
