"""What the Student Locator has learnt about one student in one district zone.

Events arrive in any order and spread over time; the locator folds each
StudentPersonal, StudentSchoolEnrollment and SchoolInfo it receives into a
``StudentRecord``. Determination (is this a new student to look up now?),
inclusion rules and field mapping all read this one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from messages.objects import SchoolInfo, StudentPersonal, StudentSchoolEnrollment


@dataclass
class StudentRecord:
    zone_id: str
    student_ref: str  # StudentPersonal/@RefId
    personal: StudentPersonal | None = None
    enrollments: dict[str, StudentSchoolEnrollment] = field(default_factory=dict)  # by RefId
    #: (object name, action) in arrival order, e.g. ("StudentPersonal", "Add")
    events: list[tuple[str, str]] = field(default_factory=list)

    def saw(self, object_name: str, action: str) -> bool:
        return (object_name, action) in self.events


#: SchoolInfo objects of a district zone, by RefId (shared by every student of the zone).
Schools = dict[str, SchoolInfo]
