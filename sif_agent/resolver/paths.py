"""The SIF element paths of SIF_Condition (``Name[@Type="04"]/LastName``, ``@IdStatus`` ...).

Why here: a conditions-form StudentLocator request names each value by such a path, and
each SLF column says which path it reads. The resolver folds the conditions into one
StudentLocator element (:func:`put`) so that both query forms are read the same way
(:func:`first`). The locator has the same small grammar in ``locator/mapping.py``; the two
packages may not import each other (``.importlinter``), hence this copy (a candidate for a
shared module).

Grammar (parsed, never evaluated): ``Step ('/' Step)* ('/' '@' Attr)?`` or ``@Attr``; a Step
is a name with optional predicates ``[@Attr="v"]`` or ``[Child/Sub="v"]`` (either quote).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from messages import NS


class PathError(ValueError):
    """A malformed path; the message says where."""


@dataclass(frozen=True)
class Predicate:
    value: str
    attr: str | None = None
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    name: str
    predicates: tuple[Predicate, ...] = ()


@dataclass(frozen=True)
class SifPath:
    text: str
    steps: tuple[Step, ...]
    attr: str | None = None


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@lru_cache(maxsize=1024)
def parse_path(text: str) -> SifPath:
    s = (text or "").strip()
    if not s:
        raise PathError("empty path")
    pos = 0

    def fail(why: str) -> PathError:
        return PathError(f"malformed path {s!r} at character {pos + 1}: {why}")

    def name() -> str:
        nonlocal pos
        m = _NAME.match(s, pos)
        if not m:
            raise fail("expected a name")
        pos = m.end()
        return m.group()

    def expect(ch: str) -> None:
        nonlocal pos
        if pos >= len(s) or s[pos] != ch:
            raise fail(f"expected {ch!r}")
        pos += 1

    def quoted() -> str:
        nonlocal pos
        if pos >= len(s) or s[pos] not in "\"'":
            raise fail("expected a quoted value")
        end = s.find(s[pos], pos + 1)
        if end < 0:
            raise fail("unterminated quoted value")
        value, pos = s[pos + 1:end], end + 1
        return value

    steps: list[Step] = []
    attr = None
    while True:
        if pos < len(s) and s[pos] == "@":
            pos += 1
            attr = name()
            if pos != len(s):
                raise fail("an attribute must be the last step")
            break
        step = name()
        preds: list[Predicate] = []
        while pos < len(s) and s[pos] == "[":
            pos += 1
            if pos < len(s) and s[pos] == "@":
                pos += 1
                a = name()
                expect("=")
                preds.append(Predicate(quoted(), attr=a))
            else:
                kids = [name()]
                while pos < len(s) and s[pos] == "/":
                    pos += 1
                    kids.append(name())
                expect("=")
                preds.append(Predicate(quoted(), children=tuple(kids)))
            expect("]")
        steps.append(Step(step, tuple(preds)))
        if pos == len(s):
            break
        expect("/")
    return SifPath(s, tuple(steps), attr)


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _matches(el: etree._Element, preds: tuple[Predicate, ...]) -> bool:
    for p in preds:
        if p.attr is not None:
            got = el.get(p.attr)
        else:
            node = el
            for n in p.children:
                node = node.find(_q(n)) if node is not None else None
            got = None if node is None else (node.text or "")
        if got is None or got.strip() != p.value:
            return False
    return True


def first(root: etree._Element, path: SifPath | str) -> str | None:
    """The first non-empty value the path selects under ``root`` (trimmed), or None."""
    p = parse_path(path) if isinstance(path, str) else path
    nodes = [root]
    for step in p.steps:
        nodes = [c for n in nodes for c in n.iterfind(_q(step.name)) if _matches(c, step.predicates)]
    values = [n.get(p.attr) for n in nodes] if p.attr is not None else [n.text for n in nodes]
    return next((v.strip() for v in values if v is not None and v.strip()), None)


def put(root: etree._Element, path: SifPath | str, value: str) -> None:
    """Create (or reuse) the nodes a path names under ``root`` and set the value there."""
    p = parse_path(path) if isinstance(path, str) else path
    el = root
    for step in p.steps:
        found = next((c for c in el.iterfind(_q(step.name)) if _matches(c, step.predicates)), None)
        if found is None or (step is p.steps[-1] and p.attr is None and (found.text or "").strip()):
            found = etree.SubElement(el, _q(step.name))
            for pred in step.predicates:
                if pred.attr is not None:
                    found.set(pred.attr, pred.value)
                else:
                    node = found
                    for n in pred.children:
                        nxt = node.find(_q(n))
                        node = nxt if nxt is not None else etree.SubElement(node, _q(n))
                    node.text = pred.value
        el = found
    if p.attr is not None:
        el.set(p.attr, value)
    else:
        el.text = value
