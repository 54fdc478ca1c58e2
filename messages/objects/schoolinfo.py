"""SchoolInfo: a school, giving the locator the school and district ids to send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..xmlobject import XmlObject
from .base import F, Typed
from .common import EXTENDED_ELEMENTS, Address, ExtendedElement


@dataclass(frozen=True, kw_only=True)
class SchoolInfo(Typed):
    ref_id: str
    local_id: str | None = None
    state_province_id: str | None = None
    nces_id: str | None = None
    school_name: str | None = None
    lea_info_ref_id: str | None = None
    school_type: str | None = None
    addresses: tuple[Address, ...] = ()
    metadata: XmlObject | None = None
    extended_elements: tuple[ExtendedElement, ...] = ()
    other: tuple[XmlObject, ...] = ()

    TAG: ClassVar[str] = "SchoolInfo"
    FIELDS: ClassVar = (
        F("ref_id", "RefId", "attr"),
        F("local_id", "LocalId"),
        F("state_province_id", "StateProvinceId"),
        F("nces_id", "NCESId"),
        F("school_name", "SchoolName"),
        F("lea_info_ref_id", "LEAInfoRefId"),
        F("school_type", "SchoolType"),
        F("addresses", "AddressList", "wrapped", Address, "Address"),
        F("metadata", "SIF_Metadata", "raw"),
        EXTENDED_ELEMENTS,
    )
    ORDER: ClassVar = (
        "LocalId", "StateProvinceId", "NCESId", "SchoolName", "LEAInfoRefId", "OtherLEA",
        "SchoolType", "SchoolFocusList", "SchoolURL", "PrincipalInfo", "SchoolContactList",
        "AddressList", "PhoneNumberList", "IdentificationInfoList", "SessionType", "GradeLevels",
        "Title1Status", "OperationalStatus", "CongressionalDistrict", "SIF_Metadata",
        "SIF_ExtendedElements",
    )
