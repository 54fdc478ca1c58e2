"""What the simulated SIS received: the StateProvinceId of each student, kept as a CSV file.

Results CSV (UTF-8, CRLF, one row per student in the order they were published)::

    LocalId,StudentRefId,FirstName,LastName,BirthDate,StateProvinceId,ReceivedAt
    100234,6F1B0E5C...,Amara,Okafor,2017-04-12,AB1234567,2026-11-26T01:50:03+00:00

StateProvinceId and ReceivedAt are empty for a student that has not received an ID yet.
The file is rewritten atomically after every new ID, so it can be read while the simulator runs.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from .students import Student, write_atomically

RESULT_COLUMNS = ("LocalId", "StudentRefId", "FirstName", "LastName", "BirthDate", "StateProvinceId",
                  "ReceivedAt")


class ResultsFileError(ValueError):
    pass


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Result:
    local_id: str
    student_ref_id: str
    first_name: str
    last_name: str
    birth_date: str
    state_province_id: str = ""
    received_at: str = ""

    @property
    def has_id(self) -> bool:
        return bool(self.state_province_id)

    def cells(self) -> tuple[str, ...]:
        return (self.local_id, self.student_ref_id, self.first_name, self.last_name, self.birth_date,
                self.state_province_id, self.received_at)


class Results:
    """Student RefId → local id → StateProvinceId, received at; optionally mirrored to a CSV file."""

    def __init__(self, students: Iterable[tuple[str, Student]], path: str | os.PathLike | None = None, *,
                 clock: Callable[[], str] = utc_now) -> None:
        self._by_ref: dict[str, Result] = {}
        self._ref_of_local: dict[str, str] = {}
        for ref, s in students:
            self._by_ref[ref] = Result(s.local_id, ref, s.first_name, s.last_name, s.birth_date)
            self._ref_of_local[s.local_id] = ref
        self.path = Path(path) if path is not None else None
        self.clock = clock
        self.save()

    def __len__(self) -> int:
        return len(self._by_ref)

    def ref_for(self, *, ref_id: str | None, local_id: str | None) -> str | None:
        """Our student RefId for an incoming record: by RefId, else by LocalId."""
        if ref_id and ref_id in self._by_ref:
            return ref_id
        if local_id and local_id in self._ref_of_local:
            return self._ref_of_local[local_id]
        return None

    def record(self, ref_id: str, state_province_id: str) -> bool:
        """Keep the ID; True if it is new or different from what the student had."""
        current = self._by_ref[ref_id]
        if current.state_province_id == state_province_id:
            return False
        self._by_ref[ref_id] = replace(current, state_province_id=state_province_id, received_at=self.clock())
        self.save()
        return True

    def all(self) -> list[Result]:
        return list(self._by_ref.values())

    def received(self) -> list[Result]:
        return [r for r in self._by_ref.values() if r.has_id]

    def missing(self) -> list[Result]:
        return [r for r in self._by_ref.values() if not r.has_id]

    @property
    def complete(self) -> bool:
        return not self.missing()

    def to_csv(self) -> str:
        return results_csv(self.all())

    def save(self) -> None:
        if self.path is not None:
            write_atomically(self.path, self.to_csv())


def results_csv(results: Iterable[Result]) -> str:
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(RESULT_COLUMNS)
    for r in results:
        w.writerow(r.cells())
    return out.getvalue()


def read_results(path: str | os.PathLike) -> list[Result]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ResultsFileError(f"{p}: not UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if tuple(header) != RESULT_COLUMNS:
        raise ResultsFileError(f"{p}: line 1: expected the header {','.join(RESULT_COLUMNS)}")
    results = []
    for cells in reader:
        if not any(cells):
            continue
        if len(cells) != len(RESULT_COLUMNS):
            raise ResultsFileError(f"{p}: line {reader.line_num}: {len(cells)} fields, expected {len(RESULT_COLUMNS)}")
        results.append(Result(*cells))
    return results
