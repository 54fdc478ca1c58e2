"""A small declarative mapping between frozen dataclasses and SIF object XML.

Each typed object lists its fields in schema order as :class:`F` specs; one
generic reader and one generic writer serve every object, so the element order
lives in exactly one place per type. Objects that we model only in part keep the
children they do not model in ``other`` and write them back in schema order, so
reading and rewriting an SIS's object never drops data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from lxml import etree

from ..errors import Error
from ..xmlobject import NS, XmlObject

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


@dataclass(frozen=True)
class F:
    """One field: python attribute, XML name and kind.

    kinds: ``attr`` (xml is the attribute name), ``text`` (child element text),
    ``texts`` (repeated child, tuple of str), ``content`` (the element's own
    text), ``obj``/``objs`` (one / repeated nested Typed ``cls``), ``wrapped``
    (child ``xml`` holding repeated ``item`` elements: text or ``cls``),
    ``raw`` (child kept as XmlObject), ``error`` (a SIF_Error).
    ``always`` writes an empty element when the value is empty or None.
    """

    attr: str
    xml: str
    kind: str = "text"
    cls: Any = None
    item: str | None = None
    always: bool = False


def _is_nil(el: etree._Element) -> bool:
    return el.get(XSI_NIL) in ("true", "1") and not (el.text or "").strip() and len(el) == 0


class Typed:
    """Mixin for frozen dataclasses that map to SIF XML through ``FIELDS``."""

    TAG: ClassVar[str]
    FIELDS: ClassVar[tuple[F, ...]]
    #: Every child element name of the full schema type, in order; set on types we
    #: model only in part, which then carry ``other: tuple[XmlObject, ...]``.
    ORDER: ClassVar[tuple[str, ...]] = ()

    # ----------------------------------------------------------------- writing
    def to_element(self, tag: str | None = None) -> etree._Element:
        el = etree.Element(q(tag or self.TAG), nsmap={None: NS})
        self._write(el)
        return el

    def _write(self, el: etree._Element) -> None:
        for f in self.FIELDS:
            value = getattr(self, f.attr)
            if f.kind == "attr":
                if value is not None:
                    el.set(f.xml, str(value))
            elif f.kind == "content":
                if value is not None:
                    el.text = str(value)
        for f in self.FIELDS:
            if f.kind in ("attr", "content"):
                continue
            _write_field(el, f, getattr(self, f.attr))
        others = getattr(self, "other", ())
        if others:
            _merge_in_order(el, others, self.ORDER)

    # ----------------------------------------------------------------- reading
    @classmethod
    def from_element(cls, el: etree._Element):
        values: dict[str, Any] = {}
        known: set[str] = set()
        for f in cls.FIELDS:
            if f.kind == "attr":
                values[f.attr] = _strip(el.get(f.xml))
                continue
            if f.kind == "content":
                values[f.attr] = (el.text or "").strip()
                continue
            known.add(f.xml)
            values[f.attr] = _read_field(el, f)
        if cls.ORDER:
            values["other"] = tuple(
                XmlObject(c) for c in el
                if isinstance(c.tag, str) and etree.QName(c).localname not in known
            )
        return cls(**values)


def _strip(value: str | None) -> str | None:
    return value.strip() if value is not None else None


def _write_field(el: etree._Element, f: F, value: Any) -> None:
    sub = etree.SubElement
    if f.kind == "text":
        if value is None or value == "":
            if f.always:
                sub(el, q(f.xml))  # written empty: <StateProvinceId/>
            return
        sub(el, q(f.xml)).text = str(value)
    elif f.kind == "texts":
        for v in value:
            sub(el, q(f.xml)).text = str(v)
    elif f.kind == "obj":
        if value is not None:
            el.append(value.to_element(f.xml))
    elif f.kind == "objs":
        for v in value:
            el.append(v.to_element(f.xml))
    elif f.kind == "wrapped":
        if value:
            wrapper = sub(el, q(f.xml))
            for v in value:
                if f.cls is None:
                    sub(wrapper, q(f.item)).text = str(v)
                else:
                    wrapper.append(v.to_element(f.item))
    elif f.kind == "raw":
        if value is not None:
            el.append(value.element())
    elif f.kind == "error":
        if value is not None:
            e = sub(el, q(f.xml))
            sub(e, q("SIF_Category")).text = str(value.category)
            sub(e, q("SIF_Code")).text = str(value.code)
            sub(e, q("SIF_Desc")).text = value.desc
            if value.extended_desc is not None:
                sub(e, q("SIF_ExtendedDesc")).text = value.extended_desc
    else:  # pragma: no cover - a programming error in a FIELDS table
        raise ValueError(f"unknown field kind {f.kind}")


def _read_field(el: etree._Element, f: F) -> Any:
    if f.kind == "text":
        child = el.find(q(f.xml))
        if child is None or _is_nil(child):
            return "" if f.always and child is not None else None
        return (child.text or "").strip()
    if f.kind == "texts":
        return tuple((c.text or "").strip() for c in el.iterfind(q(f.xml)))
    if f.kind == "obj":
        child = el.find(q(f.xml))
        return None if child is None or _is_nil(child) else f.cls.from_element(child)
    if f.kind == "objs":
        return tuple(f.cls.from_element(c) for c in el.iterfind(q(f.xml)))
    if f.kind == "wrapped":
        wrapper = el.find(q(f.xml))
        if wrapper is None:
            return ()
        items = wrapper.iterfind(q(f.item))
        if f.cls is None:
            return tuple((c.text or "").strip() for c in items)
        return tuple(f.cls.from_element(c) for c in items)
    if f.kind == "raw":
        child = el.find(q(f.xml))
        return None if child is None else XmlObject(child)
    if f.kind == "error":
        child = el.find(q(f.xml))
        if child is None or _is_nil(child):
            return None

        def text(name: str) -> str | None:
            c = child.find(q(name))
            return None if c is None else (c.text or "").strip()

        try:
            return Error(
                category=int(text("SIF_Category") or 0),
                code=int(text("SIF_Code") or 0),
                desc=text("SIF_Desc") or "",
                extended_desc=text("SIF_ExtendedDesc"),
            )
        except ValueError:
            from ..errors import invalid_value

            raise invalid_value("SIF_Error/SIF_Category and SIF_Code must be whole numbers",
                                line=child.sourceline, element="SIF_Error") from None
    raise ValueError(f"unknown field kind {f.kind}")  # pragma: no cover


def _merge_in_order(el: etree._Element, others: tuple[XmlObject, ...], order: tuple[str, ...]) -> None:
    """Insert preserved children at their schema positions among the written ones."""
    rank = {name: float(i) for i, name in enumerate(order)}
    # names newer than our ORDER (later SIF versions) go just before SIF_Metadata
    last = rank.get("SIF_Metadata", float(len(order))) - 0.5
    for obj in others:
        r = rank.get(obj.name, last)
        new = obj.element()
        for i, child in enumerate(el):
            if rank.get(etree.QName(child).localname, last) > r:
                el.insert(i, new)
                break
        else:
            el.append(new)
