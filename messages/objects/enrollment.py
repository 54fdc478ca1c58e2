"""StudentSchoolEnrollment: one student's membership in one school for one year."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..xmlobject import XmlObject
from .base import F, Typed
from .common import EXTENDED_ELEMENTS, Code, ExtendedElement


@dataclass(frozen=True, kw_only=True)
class StudentSchoolEnrollment(Typed):
    ref_id: str
    student_personal_ref_id: str
    school_info_ref_id: str
    membership_type: str  # Home | Concurrent | Summer
    time_frame: str  # Historical | Current | Future
    school_year: str  # xs:gYear, e.g. 2027 for 2026-27
    entry_date: str | None = None
    entry_type: Code | None = None
    grade_level: Code | None = None
    exit_date: str | None = None
    exit_type: Code | None = None
    metadata: XmlObject | None = None
    extended_elements: tuple[ExtendedElement, ...] = ()
    other: tuple[XmlObject, ...] = ()

    TAG: ClassVar[str] = "StudentSchoolEnrollment"
    FIELDS: ClassVar = (
        F("ref_id", "RefId", "attr"),
        F("student_personal_ref_id", "StudentPersonalRefId", "attr"),
        F("school_info_ref_id", "SchoolInfoRefId", "attr"),
        F("membership_type", "MembershipType", "attr"),
        F("time_frame", "TimeFrame", "attr"),
        F("school_year", "SchoolYear", "attr"),
        F("entry_date", "EntryDate"),
        F("entry_type", "EntryType", "obj", Code),
        F("grade_level", "GradeLevel", "obj", Code),
        F("exit_date", "ExitDate"),
        F("exit_type", "ExitType", "obj", Code),
        F("metadata", "SIF_Metadata", "raw"),
        EXTENDED_ELEMENTS,
    )
    ORDER: ClassVar = (
        "EntryDate", "EntryType", "GradeLevel", "Homeroom", "Advisor", "Counselor", "Calendar",
        "ExitDate", "ExitStatus", "ExitType", "RecordClosureReason", "PromotionInfo", "FTE",
        "FTPTStatus", "ResidencyStatus", "NonResidentAttendReason", "SIF_Metadata",
        "SIF_ExtendedElements",
    )

    @property
    def is_home(self) -> bool:
        return self.membership_type == "Home"
