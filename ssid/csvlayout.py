"""The batch-file layout (Supplement Two D) shared by legacy import and batch files.

Why one module: a district's batch file, its result file and the legacy import all use one
layout: ``UserID,DateTimeCreated,Building_IRN,District_IRN,StudentID,`` one column per
catalogue attribute in catalogue order, then ``UserDefined`` (the output adds ``ResultCode``
and ``ResultMessage``). CSV per RFC 4180, UTF-8 with or without a BOM, CRLF or LF line ends,
quoted fields may hold commas and line breaks.

A file with a wrong header is refused before anything is processed, with the expected header
written out so it can be copied. Each row is reported with its row number (1 = the first data
row) and the physical line it starts on, so a person can find it in an editor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .catalogue import Catalogue

LEADING = ("UserID", "DateTimeCreated", "Building_IRN", "District_IRN", "StudentID")
TRAILING = ("UserDefined",)
RESULT = ("ResultCode", "ResultMessage")
#: DateTimeCreated's US forms; ISO 8601 (with or without seconds, fractions, Z or an offset) is read as well
DATETIME_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")
#: longest field accepted in a batch file (a sanity cap; attribute lengths are the catalogue's)
MAX_FIELD = 10_000


class LayoutError(ValueError):
    """The file as a whole cannot be read (encoding, header); nothing was processed."""


def not_utf8(path: Path) -> str:
    """Where ``path`` first stops being UTF-8, for an error message a person can act on.

    Why not the decoder's own error: a text file is decoded in blocks, so the error arrives
    while an earlier line is being read, and carries a position within the block, not a line."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                shown = raw[:exc.start].decode("utf-8", "replace").strip()[-30:]
                after = f' after "{shown}"' if shown else ""
                return (f"{path}: line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02X}{after}, column "
                        f"{len(raw[:exc.start].decode('utf-8', 'replace')) + 1}); the file was probably saved as "
                        "Windows-1252 or Latin-1: save it as \"CSV UTF-8\"")
    return f"{path}: the file is not UTF-8 text; save it as \"CSV UTF-8\""


def header(catalogue: Catalogue, output: bool = False) -> tuple[str, ...]:
    return (*LEADING, *catalogue.names, *TRAILING, *(RESULT if output else ()))


@dataclass(frozen=True)
class Row:
    number: int  # 1 = first data row
    line: int  # physical line the row starts on (the header is line 1)
    fields: dict[str, str]
    width: int  # how many fields the row had


_US_DATETIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})")


def parse_datetime(text: str) -> datetime | None:
    """The layout's DateTimeCreated ("02/13/2002 04:18:31"; ISO forms and plain dates accepted)."""
    m = _US_DATETIME.fullmatch(text.strip())
    if m:  # the seed's form, parsed without strptime (it runs once per legacy row)
        mo, d, y, hh, mm, ss = (int(x) for x in m.groups())
        try:
            return datetime(y, mo, d, hh, mm, ss)
        except ValueError:
            return None
    text = text.strip()
    if _ISO_START.match(text):  # what spreadsheets and other systems write: 2002-02-13T04:18, ...Z, ...-05:00
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_header(got: Sequence[str], expected: Sequence[str], name: str) -> None:
    cleaned = [h.strip() for h in got]
    if [h.lower() for h in cleaned] == [h.lower() for h in expected]:
        return
    missing = [h for h in expected if h.lower() not in {g.lower() for g in cleaned}]
    extra = [g for g in cleaned if g.lower() not in {h.lower() for h in expected}]
    what = []
    if missing:
        what.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        what.append(f"unknown column(s) {', '.join(extra) if any(extra) else '(an empty column name)'}")
    if not what:
        what.append("the columns are in another order")
    raise LayoutError(f"{name}: wrong header ({'; '.join(what)}); nothing was processed. The first line must be "
                      f"exactly:\n{','.join(expected)}")
