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

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from .catalogue import Catalogue

LEADING = ("UserID", "DateTimeCreated", "Building_IRN", "District_IRN", "StudentID")
TRAILING = ("UserDefined",)
RESULT = ("ResultCode", "ResultMessage")
DATETIME_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                    "%Y-%m-%dT%H:%M:%SZ", "%m/%d/%Y", "%Y-%m-%d")
#: longest field accepted in a batch file (a sanity cap; attribute lengths are the catalogue's)
MAX_FIELD = 10_000


class LayoutError(ValueError):
    """The file as a whole cannot be read (encoding, header); nothing was processed."""


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
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


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


class _LineCounter(io.TextIOBase):
    """Counts physical lines handed to the csv reader, so each row knows where it starts."""

    def __init__(self, f: IO[str]) -> None:
        self._f = f
        self.lines = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self._f.readline()
        if not line:
            raise StopIteration
        self.lines += 1
        return line


def read_rows(path: Path, expected: Sequence[str]) -> Iterator[Row]:
    """Rows of a layout file, checked against the expected header first."""
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise LayoutError(f"{path}: cannot be opened ({exc.strerror})") from None
    with f:
        counter = _LineCounter(f)
        reader = csv.reader(counter, strict=True)
        try:
            first = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise LayoutError(f"{path}: the header line cannot be read ({exc}); save the file as UTF-8 CSV") from None
        if first is None:
            raise LayoutError(f"{path}: the file is empty; the first line must be the header:\n{','.join(expected)}")
        check_header(first, expected, str(path))
        number = 0
        while True:
            start = counter.lines + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise LayoutError(f"{path}: line {start} is not UTF-8 text; save the file as UTF-8 CSV "
                                  f"(rows before line {start} were read)") from None
            except csv.Error as exc:
                raise LayoutError(f"{path}: line {start}: {exc}; check the quotes on that line (a field with "
                                  "a comma or quote must be in double quotes, a quote inside doubled: \"\")") from None
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            number += 1
            row = {name: (fields[i] if i < len(fields) else "") for i, name in enumerate(expected)}
            yield Row(number, start, row, len(fields))


def count_data_lines(path: Path) -> int:
    """A fast estimate of the number of rows (physical lines minus the header), for progress bars."""
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            n += block.count(b"\n")
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell():
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                n += 1
    return max(n - 1, 0)
