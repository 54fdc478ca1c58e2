"""SIF element paths (``Name[@Type="04"]/LastName``, ``Demographics/RaceList/Race/Code``,
``@IdStatus``): parsed, never evaluated, then read from or written into SIF XML.

The locator's mapping files name StudentLocator fields by such paths, the resolver's SLF
column configuration names the values it reads, and SIF_Condition elements of a conditions-
form StudentLocator query carry them; one grammar serves all three.

Grammar: ``Step ('/' Step)* ('/' '@' Attr)?`` or ``@Attr``; a Step is a name with optional
predicates ``[@Attr="v"]`` or ``[Child/Sub="v"]`` (either quote).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from messages import NS


class PathError(ValueError):
    """A malformed SIF element path; ``pos`` is the 0-based character offset."""

    def __init__(self, path: str, pos: int, why: str) -> None:
        super().__init__(f"malformed path {path!r} at character {pos + 1}: {why}")
        self.path = path
        self.pos = pos
        self.why = why


@dataclass(frozen=True)
class Predicate:
    """``[@Attr="v"]`` (attr set) or ``[Child/Sub="v"]`` (children set)."""

    value: str
    attr: str | None = None
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    name: str
    predicates: tuple[Predicate, ...] = ()


@dataclass(frozen=True)
class SifPath:
    """A parsed path: element steps and an optional final attribute."""

    text: str
    steps: tuple[Step, ...]
    attr: str | None = None

    def __str__(self) -> str:
        return self.text


NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@lru_cache(maxsize=2048)
def parse_path(text: str) -> SifPath:
    """Parse a SIF element path; raises :class:`PathError` if malformed (cached: paths repeat)."""
    if not isinstance(text, str) or not text.strip():
        raise PathError(str(text), 0, "empty path")
    s = text.strip()
    pos = 0

    def name() -> str:
        nonlocal pos
        m = NAME.match(s, pos)
        if not m:
            raise PathError(s, pos, "expected an element or attribute name")
        pos = m.end()
        return m.group()

    def expect(ch: str) -> None:
        nonlocal pos
        if pos >= len(s) or s[pos] != ch:
            raise PathError(s, pos, f"expected {ch!r}")
        pos += 1

    def string() -> str:
        nonlocal pos
        if pos >= len(s) or s[pos] not in "\"'":
            raise PathError(s, pos, "expected a quoted value")
        quote = s[pos]
        end = s.find(quote, pos + 1)
        if end < 0:
            raise PathError(s, pos, "unterminated quoted value")
        value = s[pos + 1:end]
        pos = end + 1
        return value

    steps: list[Step] = []
    attr: str | None = None
    while True:
        if pos < len(s) and s[pos] == "@":
            pos += 1
            attr = name()
            if pos != len(s):
                raise PathError(s, pos, "an attribute must be the last step")
            break
        step_name = name()
        preds: list[Predicate] = []
        while pos < len(s) and s[pos] == "[":
            pos += 1
            if pos < len(s) and s[pos] == "@":
                pos += 1
                a = name()
                expect("=")
                preds.append(Predicate(value=string(), attr=a))
            else:
                kids = [name()]
                while pos < len(s) and s[pos] == "/":
                    pos += 1
                    kids.append(name())
                expect("=")
                preds.append(Predicate(value=string(), children=tuple(kids)))
            expect("]")
        steps.append(Step(step_name, tuple(preds)))
        if pos == len(s):
            break
        expect("/")
        if pos == len(s):
            raise PathError(s, pos, "path ends with '/'")
    return SifPath(s, tuple(steps), attr)


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _child_text(el: etree._Element, names: tuple[str, ...]) -> str | None:
    for n in names:
        el = el.find(_q(n))
        if el is None:
            return None
    return (el.text or "").strip()


def _matches(el: etree._Element, preds: tuple[Predicate, ...]) -> bool:
    for p in preds:
        got = el.get(p.attr) if p.attr is not None else _child_text(el, p.children)
        if got is None or got.strip() != p.value:
            return False
    return True


def _parsed(path: SifPath | str) -> SifPath:
    return parse_path(path) if isinstance(path, str) else path


def select(root: etree._Element, path: SifPath | str) -> list[str]:
    """Every value the path selects under ``root`` (trimmed text or attribute value)."""
    path = _parsed(path)
    nodes = [root]
    for step in path.steps:
        nodes = [c for n in nodes for c in n.iterfind(_q(step.name)) if _matches(c, step.predicates)]
    if path.attr is not None:
        return [v.strip() for v in (n.get(path.attr) for n in nodes) if v is not None]
    return [(n.text or "").strip() for n in nodes]


def first(root: etree._Element, path: SifPath | str) -> str | None:
    """The first non-empty value the path selects, or None."""
    return next((v for v in select(root, path) if v), None)


def put(root: etree._Element, path: SifPath | str, value: str) -> None:
    """Create (or reuse) the nodes a path names under ``root`` and set the value (the value's
    own element is always new, so repeated paths give repeated elements)."""
    path = _parsed(path)
    el = root
    last = len(path.steps) - 1
    for i, step in enumerate(path.steps):
        found = None
        if not (i == last and path.attr is None):  # the value element itself is always new
            found = next((c for c in el.iterfind(_q(step.name)) if _matches(c, step.predicates)), None)
        if found is None:
            found = etree.SubElement(el, _q(step.name))
            for p in step.predicates:
                if p.attr is not None:
                    found.set(p.attr, p.value)
                else:
                    sub = found
                    for n in p.children:
                        sub = sub.find(_q(n)) if sub.find(_q(n)) is not None else etree.SubElement(sub, _q(n))
                    sub.text = p.value
        el = found
    if path.attr is not None:
        el.set(path.attr, value)
    else:
        el.text = value
