"""Errors that carry their SIF wire codes.

A :class:`SIFError` is raised wherever a message is refused; it becomes the
SIF_Error of an error SIF_Ack or SIF_Response, and a SIF_Error read off the wire
becomes a :class:`SIFError` again. Transport failures are not SIF errors and live
with the transports that retry them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codes import (
    ErrorCategory,
    GenericCode,
    RequestResponseCode,
    XmlValidationCode,
    describe,
)

MAX_DESC = 1024  # SIF_Desc is limited to 1024 characters by the schema


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def quote(value: str, limit: int = 80) -> str:
    """repr() of untrusted text for an error message, shortened."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


@dataclass(frozen=True, kw_only=True)
class Error:
    """SIF_Error: Category, Code, Desc (≤1024 chars) and an optional ExtendedDesc."""

    category: int
    code: int
    desc: str
    extended_desc: str | None = None

    TAG = "SIF_Error"

    def __post_init__(self) -> None:
        object.__setattr__(self, "desc", _clip(self.desc, MAX_DESC))

    def to_exception(self) -> "SIFError":
        return SIFError(self.category, self.code, self.desc, self.extended_desc)

    def __str__(self) -> str:
        return f"{self.category}/{self.code} {self.desc}"


class SIFError(Exception):
    """A refusal with a SIF category and code; ``where`` names line/element when known."""

    def __init__(
        self,
        category: int,
        code: int,
        desc: str | None = None,
        extended_desc: str | None = None,
        *,
        line: int | None = None,
        element: str | None = None,
    ) -> None:
        self.category = int(category)
        self.code = int(code)
        # Text may quote hostile input: keep it bounded (SIF_Desc itself is ≤ 1024).
        self.desc = _clip(desc or describe(category, code).split(": ", 1)[-1], MAX_DESC)
        self.extended_desc = _clip(extended_desc, 2 * MAX_DESC)
        self.line = line
        self.element = _clip(element, 256)
        super().__init__(str(self))

    @property
    def where(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.element:
            parts.append(f"element {self.element}")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.category}/{self.code} {self.desc}"
        parts = []
        if self.line is not None and f"line {self.line}" not in self.desc:
            parts.append(f"line {self.line}")
        if self.element:
            parts.append(f"element {self.element}")
        return text + (f" ({', '.join(parts)})" if parts else "")

    def to_error(self) -> Error:
        ext = self.extended_desc
        if self.where and not ext:
            ext = f"At {self.where}."
        return Error(category=self.category, code=self.code, desc=self.desc, extended_desc=ext)

    @classmethod
    def from_error(cls, error: Error) -> "SIFError":
        return cls(error.category, error.code, error.desc, error.extended_desc)


# Shorthands for the refusals the message layer itself produces.


def not_well_formed(desc: str, **where) -> SIFError:
    return SIFError(ErrorCategory.XML_VALIDATION, XmlValidationCode.NOT_WELL_FORMED, desc, **where)


def invalid(desc: str, **where) -> SIFError:
    return SIFError(ErrorCategory.XML_VALIDATION, XmlValidationCode.GENERIC_VALIDATION, desc, **where)


def invalid_value(desc: str, **where) -> SIFError:
    return SIFError(ErrorCategory.XML_VALIDATION, XmlValidationCode.INVALID_VALUE, desc, **where)


def missing(desc: str, **where) -> SIFError:
    return SIFError(ErrorCategory.XML_VALIDATION, XmlValidationCode.MISSING_MANDATORY, desc, **where)


def unsupported_message(desc: str, **where) -> SIFError:
    return SIFError(ErrorCategory.GENERIC, GenericCode.MESSAGE_NOT_SUPPORTED, desc, **where)


def unsupported_version(desc: str, **where) -> SIFError:
    return SIFError(ErrorCategory.GENERIC, GenericCode.VERSION_NOT_SUPPORTED, desc, **where)


def unsupported_query(desc: str) -> SIFError:
    return SIFError(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.UNSUPPORTED_QUERY, desc)
