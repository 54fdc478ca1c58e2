"""Synthetic students (ssid.population) in the batch layout, for tests and benchmarks/ssid_batch_bench.py."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from ssid.catalogue import Catalogue
from ssid.csvlayout import header
from ssid.matching import StudentRecord


def values_of(r: StudentRecord) -> dict[str, str]:
    """A population record as catalogue attribute values (a complete Ohio "generate" record)."""
    bd = r.birth_date.isoformat() if isinstance(r.birth_date, date) else (r.birth_date or "")
    return {"LegalFirstName": r.first_name, "LegalMiddleName": r.middle_name or "NMN", "LegalLastName": r.last_name,
            "BirthDate": bd, "Gender": r.gender, "BirthPlaceCity": r.birth_city or "COLUMBUS",
            "RaceEthnicity": r.race_ethnicity or "W", "NativeLanguage": r.native_language or "ENG",
            "AdmissionReason": "1", "SSN": r.ssn, "MothersMaidenName": r.mothers_maiden_name}


def layout_row(r: StudentRecord, student_id: str = "", user_defined: str = "") -> dict[str, str]:
    return {"UserID": "clerk", "DateTimeCreated": "", "Building_IRN": (r.building or "").zfill(6) if r.building else "",
            "District_IRN": r.district or "", "StudentID": student_id, **values_of(r), "UserDefined": user_defined}


def write_layout(path: Path, catalogue: Catalogue, rows: Iterable[dict[str, str]]) -> Path:
    cols = header(catalogue)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for row in rows:
            w.writerow([row.get(c, "") for c in cols])
    return path
