"""An immutable, comparable wrapper for SIF payload XML (objects we do not type).

Event and response payloads, SIF_Example content and extended-query parts stay
XML; wrapping them lets message dataclasses stay frozen and compare by content
(exclusive C14N) instead of by lxml element identity.
"""

from __future__ import annotations

import copy
from typing import Protocol, runtime_checkable

from lxml import etree

NS = "http://www.sifinfo.org/infrastructure/2.x"


@runtime_checkable
class ToElement(Protocol):
    """Anything a payload slot accepts besides XmlObject: typed objects build themselves."""

    def to_element(self) -> etree._Element: ...


class XmlObject:
    """A detached copy of one element; never mutated after construction."""

    __slots__ = ("_element", "_c14n")

    def __init__(self, element: etree._Element, *, copy_element: bool = True) -> None:
        self._element = copy.deepcopy(element) if copy_element else element
        self._c14n: bytes | None = None

    @classmethod
    def of(cls, value: "XmlObject | ToElement | etree._Element") -> "XmlObject":
        if isinstance(value, XmlObject):
            return value
        if isinstance(value, etree._Element):
            return cls(value)
        if isinstance(value, ToElement):
            return cls(value.to_element(), copy_element=False)
        raise TypeError(f"cannot use {type(value).__name__} as SIF payload XML")

    @classmethod
    def from_bytes(cls, data: bytes) -> "XmlObject":
        from .xmlsafe import parse_xml

        return cls(parse_xml(data), copy_element=False)

    @property
    def name(self) -> str:
        return etree.QName(self._element).localname

    def element(self) -> etree._Element:
        """A fresh copy, safe to attach to another tree or modify."""
        return copy.deepcopy(self._element)

    def view(self) -> etree._Element:
        """The stored element itself, for reading only."""
        return self._element

    def canonical(self) -> bytes:
        if self._c14n is None:
            self._c14n = etree.tostring(self._element, method="c14n", exclusive=True)
        return self._c14n

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XmlObject):
            return NotImplemented
        return self.canonical() == other.canonical()

    def __hash__(self) -> int:
        return hash(self.canonical())

    def __repr__(self) -> str:
        return f"XmlObject(<{self.name}> {len(self.canonical())} bytes)"

    def typed(self):
        """The typed view of this object when we have one (StudentLocator, ...), else self."""
        from .objects import from_element

        return from_element(self._element)
