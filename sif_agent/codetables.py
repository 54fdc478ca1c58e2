"""Code translation tables (seed: "Code Translations").

A table maps codes ``from → to`` (e.g. grade ``0K → KG``, a district's local
ethnicity letters → NCES 0849 race codes). Each table says on which side it is
applied:

* ``district`` — by the Student Locator, before the StudentLocator is built, so
  the translated code travels on the wire;
* ``state`` — by the Student Resolver, on the values it receives, before they
  reach the SSID database; the locator never applies these.

and what happens to a code the table does not list: ``pass`` (sent unchanged)
or ``error`` (:class:`UnknownCode`). Tables are declared in a mapping file's
``[codes.<name>]`` section, inline (``map = {"0K" = "KG"}``) and/or in a CSV
file with a ``from,to`` header (``file = "codes/grade_level.csv"``, relative to
the mapping file; ``#`` lines and blank lines are skipped).

Pure: stdlib only, so the resolver can use the same tables (this module imports
nothing from the locator; it can move to a shared package unchanged).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

Side = Literal["district", "state"]
SIDES: tuple[str, ...] = ("district", "state")
UNKNOWN_POLICIES: tuple[str, ...] = ("pass", "error")
TABLE_KEYS = frozenset({"side", "unknown", "file", "map", "description"})


class CodeTableError(ValueError):
    """A code table that cannot be loaded (bad side, bad CSV, duplicate code...)."""


class UnknownCode(ValueError):
    """A code not listed in a table whose policy is ``unknown = "error"``."""

    def __init__(self, table: str, value: str) -> None:
        super().__init__(f"code {value!r} is not in code table {table!r}")
        self.table = table
        self.value = value


class UnknownCodes(ValueError):
    """Raised by :func:`apply`: every field whose code could not be translated."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class CodeTable:
    name: str
    side: str  # "district" | "state"
    codes: Mapping[str, str] = field(default_factory=dict)
    unknown: str = "pass"  # "pass" | "error"
    description: str = ""

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise CodeTableError(f"code table {self.name!r}: side must be one of {SIDES}, not {self.side!r}")
        if self.unknown not in UNKNOWN_POLICIES:
            raise CodeTableError(
                f"code table {self.name!r}: unknown must be one of {UNKNOWN_POLICIES}, not {self.unknown!r}")
        object.__setattr__(self, "codes", MappingProxyType(dict(self.codes)))

    def translate(self, value: str) -> str:
        """The translated code; unknown codes pass through or raise :class:`UnknownCode`."""
        key = value.strip()
        if key in self.codes:
            return self.codes[key]
        if self.unknown == "error":
            raise UnknownCode(self.name, key)
        return value


def translate(side: str, tables: Iterable[CodeTable], value: str) -> str:
    """Apply, in order, only the tables of ``side`` to one value."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    for table in tables:
        if table.side == side:
            value = table.translate(value)
    return value


def apply(side: str, fields: Mapping[str, str],
          tables_by_field: Mapping[str, Sequence[CodeTable]]) -> dict[str, str]:
    """Translate every field that has tables of ``side``; others are returned unchanged.

    ``fields`` maps a StudentLocator path to its value (``Collected.fields`` on the
    locator, the request's conditions on the resolver). Raises :class:`UnknownCodes`
    naming every field whose code an ``unknown = "error"`` table does not list.
    """
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    for path, value in fields.items():
        try:
            out[path] = translate(side, tables_by_field.get(path, ()), value)
        except UnknownCode as e:
            errors[path] = str(e)
    if errors:
        raise UnknownCodes(errors)
    return out


# ------------------------------------------------------------------ loading
def read_csv(path: Path, *, table: str) -> dict[str, str]:
    """``from,to`` rows of a CSV file (header required; ``#`` and blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise CodeTableError(f"code table {table!r}: cannot read {path}: {e.strerror or e}") from None
    codes: dict[str, str] = {}
    header_seen = False
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if not header_seen:
            if cells[:2] != ["from", "to"] or len(cells) != 2:
                raise CodeTableError(f"{path}:{lineno}: code table {table!r} must start with a 'from,to' header")
            header_seen = True
            continue
        if len(cells) != 2 or not cells[0]:
            raise CodeTableError(f"{path}:{lineno}: code table {table!r}: expected 'from,to', got {row!r}")
        if cells[0] in codes:
            raise CodeTableError(f"{path}:{lineno}: code table {table!r}: code {cells[0]!r} listed twice")
        codes[cells[0]] = cells[1]
    if not header_seen:
        raise CodeTableError(f"{path}: code table {table!r} is empty (needs a 'from,to' header)")
    return codes


def table_from_spec(name: str, spec: object, *, base_dir: Path | None, origin: str) -> CodeTable:
    """A table from its ``[codes.<name>]`` TOML section; errors name ``origin`` (the file)."""
    where = f"{origin}: [codes.{name}]"
    if not isinstance(spec, dict):
        raise CodeTableError(f"{where} must be a table")
    unknown_keys = sorted(set(spec) - TABLE_KEYS)
    if unknown_keys:
        raise CodeTableError(f"{where}: unknown key(s) {unknown_keys}; allowed: {sorted(TABLE_KEYS)}")
    if "side" not in spec:
        raise CodeTableError(f"{where}: 'side' is required (\"district\" or \"state\")")
    codes: dict[str, str] = {}
    if "file" in spec:
        if not isinstance(spec["file"], str):
            raise CodeTableError(f"{where}: 'file' must be a string")
        path = Path(spec["file"])
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        try:
            codes.update(read_csv(path, table=name))
        except CodeTableError as e:
            raise CodeTableError(f"{where}: {e}") from None
    inline = spec.get("map", {})
    if not isinstance(inline, dict) or not all(isinstance(v, str) for v in inline.values()):
        raise CodeTableError(f"{where}: 'map' must be a table of strings, e.g. map = {{ \"0K\" = \"KG\" }}")
    for k, v in inline.items():
        if k in codes:
            raise CodeTableError(f"{where}: code {k!r} is in both 'file' and 'map'")
        codes[k] = v
    if not codes:
        raise CodeTableError(f"{where}: no codes (give 'file' and/or 'map')")
    try:
        return CodeTable(name=name, side=spec["side"], codes=codes, unknown=spec.get("unknown", "pass"),
                         description=str(spec.get("description", "")))
    except CodeTableError as e:
        raise CodeTableError(f"{where}: {e}") from None
