"""StudentLocator (SIF 2.x, US): the request/response object of the SLF.

Every element and IdStatus value of the 2.x object, in schema order.
StateProvinceId is always written (empty when unknown) because the data-model
schemas make it mandatory; TransactionId is 32 uppercase hex digits.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from ..errors import Error
from ..xmlobject import XmlObject
from .base import F, Typed
from .common import (
    EXTENDED_ELEMENTS,
    Address,
    Code,
    Demographics,
    ExtendedElement,
    Name,
    OtherId,
    RequestingAgencyId,
)

GUID_RE = re.compile(r"^[0-9A-F]{32}$")


class IdStatus(str, Enum):
    """StudentLocator/@IdStatus and who sends it."""

    REQUEST = "Request"  # district: find or assign an id
    RELEASE = "Release"  # district: the student left this LEA
    VALID = "Valid"  # state: here is the id
    AMBIGUOUS = "Ambiguous"  # state: no unique match; candidates follow
    RESOLVE = "Resolve"  # district: the candidate we picked
    NEW = "New"  # district: none fits, assign a new id
    CANCEL = "Cancel"  # district: cancel the transaction
    CANCELLED = "Cancelled"  # state: the transaction is cancelled
    ERROR = "Error"  # state: SIF_Error says why the lookup failed

    def __str__(self) -> str:
        return self.value


def new_transaction_id() -> str:
    return uuid.uuid4().hex.upper()


def is_transaction_id(text: str) -> bool:
    return bool(GUID_RE.match(text or ""))


@dataclass(frozen=True, kw_only=True)
class Contact(Typed):
    """StudentLocator/Contact: a parent or guardian (matching hint, e.g. mother's name)."""

    relationship: Code | None = None
    names: tuple[Name, ...] = ()
    other_id: OtherId | None = None
    educational_level: str | None = None

    TAG: ClassVar[str] = "Contact"
    FIELDS: ClassVar = (
        F("relationship", "Relationship", "obj", Code),
        F("names", "Name", "objs", Name),
        F("other_id", "OtherId", "obj", OtherId),
        F("educational_level", "EducationalLevel"),
    )


@dataclass(frozen=True, kw_only=True)
class StudentLocator(Typed):
    id_status: str
    transaction_id: str
    state_province_id: str = ""
    confidence: str | None = None
    local_id: str | None = None
    student_personal_ref_id: str | None = None
    requesting_agency_ids: tuple[RequestingAgencyId, ...] = ()
    grade_level: Code | None = None
    ssn: str | None = None
    names: tuple[Name, ...] = ()
    addresses: tuple[Address, ...] = ()
    demographics: Demographics | None = None
    contacts: tuple[Contact, ...] = ()
    effective_date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    graduation_date: str | None = None
    school_attended_name: str | None = None
    school_attended_location: str | None = None
    other_id: OtherId | None = None
    error: Error | None = None
    metadata: XmlObject | None = None
    extended_elements: tuple[ExtendedElement, ...] = ()

    TAG: ClassVar[str] = "StudentLocator"
    FIELDS: ClassVar = (
        F("id_status", "IdStatus", "attr"),
        F("transaction_id", "TransactionId", "attr"),
        F("state_province_id", "StateProvinceId", always=True),
        F("confidence", "Confidence"),
        F("local_id", "LocalId"),
        F("student_personal_ref_id", "StudentPersonalRefId"),
        F("requesting_agency_ids", "RequestingAgencyId", "objs", RequestingAgencyId),
        F("grade_level", "GradeLevel", "obj", Code),
        F("ssn", "SSN"),
        F("names", "Name", "objs", Name),
        F("addresses", "Address", "objs", Address),
        F("demographics", "Demographics", "obj", Demographics),
        F("contacts", "Contact", "objs", Contact),
        F("effective_date", "EffectiveDate"),
        F("start_date", "StartDate"),
        F("end_date", "EndDate"),
        F("graduation_date", "GraduationDate"),
        F("school_attended_name", "SchoolAttendedName"),
        F("school_attended_location", "SchoolAttendedLocation"),
        F("other_id", "OtherId", "obj", OtherId),
        F("error", "SIF_Error", "error"),
        F("metadata", "SIF_Metadata", "raw"),
        EXTENDED_ELEMENTS,
    )

    def __post_init__(self) -> None:
        if isinstance(self.id_status, IdStatus):
            object.__setattr__(self, "id_status", self.id_status.value)
        if self.state_province_id is None:
            object.__setattr__(self, "state_province_id", "")

    @property
    def status(self) -> IdStatus | None:
        try:
            return IdStatus(self.id_status)
        except ValueError:
            return None

    @property
    def name_of_record(self) -> Name | None:
        """The legal name (@Type 04), else the first name given."""
        return next((n for n in self.names if n.type == "04"), self.names[0] if self.names else None)

    def agency(self, type_: str) -> str | None:
        return next((a.value for a in self.requesting_agency_ids if a.type == type_), None)
