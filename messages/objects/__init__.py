"""Typed views of the SIF objects the Student Locator Framework reads and writes."""

from __future__ import annotations

from lxml import etree

from .common import (
    Address,
    Code,
    Demographics,
    ExtendedElement,
    GradeLevel,
    GridLocation,
    Language,
    Name,
    OtherCode,
    OtherId,
    Race,
    RequestingAgencyId,
    Street,
    extended,
)
from .enrollment import StudentSchoolEnrollment
from .schoolinfo import SchoolInfo
from .studentlocator import Contact, IdStatus, StudentLocator, is_transaction_id, new_transaction_id
from .studentpersonal import StudentPersonal

TYPED = {c.TAG: c for c in (StudentLocator, StudentPersonal, StudentSchoolEnrollment, SchoolInfo)}


def from_element(el: etree._Element):
    """The typed view for a known object element; other elements come back as XmlObject."""
    cls = TYPED.get(etree.QName(el).localname)
    if cls is None:
        from ..xmlobject import XmlObject

        return XmlObject(el)
    return cls.from_element(el)


__all__ = [
    "Address", "Code", "Contact", "Demographics", "ExtendedElement", "GradeLevel", "GridLocation",
    "IdStatus", "Language", "Name", "OtherCode", "OtherId", "Race", "RequestingAgencyId",
    "SchoolInfo", "Street", "StudentLocator", "StudentPersonal", "StudentSchoolEnrollment",
    "TYPED", "extended", "from_element", "is_transaction_id", "new_transaction_id",
]
