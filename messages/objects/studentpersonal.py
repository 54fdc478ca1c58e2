"""StudentPersonal: the SIS's student record, typed for the fields the SLF uses.

Children we do not model (alerts, phone lists, program flags, ...) are kept in
``other`` and written back in schema order, so a record read and re-emitted by
the locator loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..xmlobject import XmlObject
from .base import F, Typed
from .common import EXTENDED_ELEMENTS, Address, Demographics, ExtendedElement, Name, OtherId


@dataclass(frozen=True, kw_only=True)
class StudentPersonal(Typed):
    ref_id: str
    local_id: str | None = None
    state_province_id: str | None = None
    other_ids: tuple[OtherId, ...] = ()
    name: Name | None = None
    other_names: tuple[Name, ...] = ()
    demographics: Demographics | None = None
    addresses: tuple[Address, ...] = ()
    graduation_date: str | None = None
    metadata: XmlObject | None = None
    extended_elements: tuple[ExtendedElement, ...] = ()
    other: tuple[XmlObject, ...] = ()

    TAG: ClassVar[str] = "StudentPersonal"
    FIELDS: ClassVar = (
        F("ref_id", "RefId", "attr"),
        F("local_id", "LocalId"),
        F("state_province_id", "StateProvinceId"),
        F("other_ids", "OtherIdList", "wrapped", OtherId, "OtherId"),
        F("name", "Name", "obj", Name),
        F("other_names", "OtherNames", "wrapped", Name, "Name"),
        F("demographics", "Demographics", "obj", Demographics),
        F("addresses", "AddressList", "wrapped", Address, "Address"),
        F("graduation_date", "GraduationDate"),
        F("metadata", "SIF_Metadata", "raw"),
        EXTENDED_ELEMENTS,
    )
    ORDER: ClassVar = (
        "AlertMessages", "MedicalAlertMessages", "LocalId", "StateProvinceId", "ElectronicIdList",
        "OtherIdList", "Name", "OtherNames", "Demographics", "AddressList", "PhoneNumberList",
        "EmailList", "ProjectedGraduationYear", "OnTimeGraduationYear", "GraduationDate",
        "MostRecent", "AcceptableUsePolicy", "IDEA", "Migrant", "Title1", "GiftedTalented",
        "EconomicDisadvantage", "ELL", "Homeless", "Section504", "VocationalConcentrator",
        "Immigrant", "NeglectedDelinquent", "FirstUSEnrollment", "SIF_Metadata",
        "SIF_ExtendedElements",
    )
