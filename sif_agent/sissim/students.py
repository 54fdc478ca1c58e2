"""The simulated SIS's students: a CSV file format and a seeded, realistic generator.

CSV input format (UTF-8, with or without a byte-order mark; LF or CRLF line ends)::

    LocalId,FirstName,MiddleName,LastName,BirthDate,Gender,Race,HispanicLatino,Language,BirthPlaceCity,Grade,SchoolIRN,SchoolName,EntryDate,AdmissionReason
    100234,Amara,Grace,Okafor,2017-04-12,F,1000,No,eng,Columbus,03,012345,Maple Grove Elementary,2026-08-19,1

Columns (all fifteen must be in the header, in any order; extra columns are refused):

* LocalId — the SIS's student number; required, unique in the file.
* FirstName, LastName — required; MiddleName optional. Any Unicode letters, apostrophes,
  hyphens, spaces and periods (José, O'Brien, Smith-Jones, St. Clair).
* BirthDate, EntryDate — required, YYYY-MM-DD.
* Gender — M, F or U.
* Race — SIF/NCES 0849 code: 0998 (American Indian or Alaska Native), 0999 (Asian),
  1000 (Black or African American), 1001 (Native Hawaiian or Other Pacific Islander),
  1002 (White); empty if unknown.
* HispanicLatino — Yes, No, or empty.
* Language — ISO 639-2 three-letter code (eng, spa, som, ...); empty if unknown.
* BirthPlaceCity — optional.
* Grade — SIF GradeLevel code: PK, KG, 01 … 12.
* SchoolIRN — required: the school's state id (SchoolInfo/StateProvinceId);
  SchoolName optional (the first non-empty name given for an IRN is used).
* AdmissionReason — optional; sent as SIF_ExtendedElement "AdmissionReason".

Errors name the data row (1 = first row after the header), the file line and the column.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import tempfile
from dataclasses import astuple, dataclass, fields
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable

COLUMNS = ("LocalId", "FirstName", "MiddleName", "LastName", "BirthDate", "Gender", "Race",
           "HispanicLatino", "Language", "BirthPlaceCity", "Grade", "SchoolIRN", "SchoolName",
           "EntryDate", "AdmissionReason")

RACES = {"0998": "American Indian or Alaska Native", "0999": "Asian", "1000": "Black or African American",
         "1001": "Native Hawaiian or Other Pacific Islander", "1002": "White"}
GRADES = ("PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")
GENDERS = ("M", "F", "U")
_NAME = re.compile(r"^[^\W\d_]+(?:[ '’.\-][^\W\d_]*)*$")  # letters; apostrophes, hyphens, spaces, periods inside
_LANGUAGE = re.compile(r"^[a-z]{3}$")


class StudentFileError(ValueError):
    """A problem in a students CSV file, naming the row, line and column."""

    def __init__(self, message: str, *, row: int | None = None, line: int | None = None,
                 column: str | None = None, path: str | None = None) -> None:
        where = []
        if path:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
        if column:
            where.append(f"column {column}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.row, self.line, self.column = row, line, column


@dataclass(frozen=True)
class Student:
    """One student as the simulated SIS holds it (field order = CSV column order)."""

    local_id: str
    first_name: str
    middle_name: str
    last_name: str
    birth_date: str
    gender: str
    race: str
    hispanic_latino: str
    language: str
    birth_place_city: str
    grade: str
    school_irn: str
    school_name: str
    entry_date: str
    admission_reason: str

    def row(self) -> dict[str, str]:
        return dict(zip(COLUMNS, astuple(self)))


_ATTRS = tuple(f.name for f in fields(Student))
assert len(_ATTRS) == len(COLUMNS)


# --------------------------------------------------------------------------- checking


def _date(value: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD") from None


def check_value(column: str, value: str) -> str:
    """The value, cleaned (surrounding spaces removed); ValueError with a plain reason if it is wrong."""
    v = value.strip()
    if column in ("LocalId", "FirstName", "LastName", "BirthDate", "Gender", "Grade", "SchoolIRN",
                  "EntryDate") and not v:
        raise ValueError("is required but empty")
    if column in ("FirstName", "MiddleName", "LastName") and v and not _NAME.match(v):
        raise ValueError(f"{v!r} is not a name (letters, with apostrophes, hyphens, spaces or periods inside)")
    if column in ("BirthDate", "EntryDate"):
        return _date(v)
    if column == "Gender" and v not in GENDERS:
        raise ValueError(f"{v!r} is not M, F or U")
    if column == "Race" and v and v not in RACES:
        raise ValueError(f"{v!r} is not a SIF race code ({', '.join(RACES)}) or empty")
    if column == "HispanicLatino" and v not in ("Yes", "No", ""):
        raise ValueError(f"{v!r} is not Yes, No or empty")
    if column == "Language" and v and not _LANGUAGE.match(v):
        raise ValueError(f"{v!r} is not an ISO 639-2 three-letter language code such as eng or spa")
    if column == "Grade" and v not in GRADES:
        raise ValueError(f"{v!r} is not a SIF grade level ({', '.join(GRADES)})")
    if column in ("LocalId", "SchoolIRN") and any(c in v for c in ",\r\n\t"):
        raise ValueError(f"{v!r} holds a comma, tab or line break")
    return v


def parse_csv(text: str, *, path: str | None = None) -> list[Student]:
    """Students from CSV text (see the module documentation for the format)."""
    return [student for student, _ in parse_csv_with(text, path=path)]


def parse_csv_with(text: str, *, extra: tuple[str, ...] = (), required_extra: tuple[str, ...] = (),
                   path: str | None = None) -> list[tuple[Student, dict[str, str]]]:
    """Students, each with the values of the ``extra`` columns the file has (e.g. the console's
    StudentRefId and District); ``required_extra`` must be in the header."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise StudentFileError("the file is empty; it needs the header line " + ",".join(COLUMNS),
                               path=path) from None
    except csv.Error as exc:
        raise StudentFileError(f"header: {exc}", path=path) from None
    header = [h.strip() for h in header]
    allowed = extra
    missing = [c for c in (*COLUMNS, *required_extra) if c not in header]
    extra = [h for h in header if h not in COLUMNS and h not in allowed]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if missing or extra or dupes:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown column(s) {', '.join(repr(e) for e in extra)}"] if extra else []) + \
                ([f"repeated column(s) {', '.join(dupes)}"] if dupes else [])
        raise StudentFileError("header: " + "; ".join(parts) + f" (expected {','.join(COLUMNS)})",
                               row=None, line=1, path=path)
    index = {c: header.index(c) for c in COLUMNS}
    extra_index = {c: header.index(c) for c in allowed if c in header}
    students: list[tuple[Student, dict[str, str]]] = []
    seen: dict[str, int] = {}
    row_no = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise StudentFileError(str(exc), row=row_no + 1, line=reader.line_num, path=path) from None
        if not any(c.strip() for c in cells):
            continue  # blank line
        row_no += 1
        line = reader.line_num
        if len(cells) != len(header):
            raise StudentFileError(f"has {len(cells)} fields, the header has {len(header)}",
                                   row=row_no, line=line, path=path)
        values = []
        for column in COLUMNS:
            try:
                values.append(check_value(column, cells[index[column]]))
            except ValueError as exc:
                raise StudentFileError(str(exc), row=row_no, line=line, column=column, path=path) from None
        student = Student(*values)
        if student.local_id in seen:
            raise StudentFileError(f"LocalId {student.local_id!r} is already used by row {seen[student.local_id]}",
                                   row=row_no, line=line, column="LocalId", path=path)
        seen[student.local_id] = row_no
        students.append((student, {c: cells[i].strip() for c, i in extra_index.items()}))
    if not students:
        raise StudentFileError("the file has a header but no students", path=path)
    return students


def read_csv(path: str | os.PathLike) -> list[Student]:
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StudentFileError(f"not UTF-8 (byte {exc.start}); save the file as UTF-8", path=str(p)) from None
    return parse_csv(text, path=str(p))


def to_csv(students: Iterable[Student]) -> str:
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for s in students:
        w.writerow(astuple(s))
    return out.getvalue()


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write a file so readers see the old or the new content, never half of it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: str | os.PathLike, students: Iterable[Student]) -> None:
    write_atomically(path, to_csv(students))


# --------------------------------------------------------------------------- generating

FIRST_F = ("Amara", "Zoë", "Renée", "Chloé", "Sofía", "María José", "Aaliyah", "Olivia", "Emma", "Ava",
           "Mary-Kate", "Ngozi", "Fatima", "Hodan", "Mai", "Linh", "Anh", "Ximena", "Siobhán", "Ayşe",
           "Léa", "Nevaeh", "Harper", "Isabella", "Ja'Nya", "Ann-Marie", "Björk", "Saoirse", "Yuki", "Priya")
FIRST_M = ("Liam", "Noah", "José", "Jean-Luc", "D'Andre", "Mateo", "Ahmed", "Mohamed", "Abdirahman",
           "Minh", "Huy", "Elijah", "Jayden", "Łukasz", "Seán", "Oisín", "François", "Jesús", "Kwame",
           "Chinedu", "Ethan", "Mason", "Lucas", "Jaxon", "Zé", "André", "René", "Björn", "Hiroshi", "Arjun")
LAST = ("Okafor", "O'Brien", "García", "Müller", "Smith-Jones", "Nguyen", "Nguyễn", "D'Angelo", "Peña",
        "St. Clair", "McDonald", "Van der Berg", "Żukowski", "Johnson", "Williams", "Brown", "Jones",
        "Hernández", "López", "Martínez", "Warsame", "Mohamud", "Tran", "Le", "Kim", "Patel", "Smith",
        "O'Neil", "Åström", "Núñez", "Schäfer", "Dubois", "LeBlanc", "Ferreira-Santos", "Al-Amin", "Cohen")
MIDDLE = FIRST_F[:10] + FIRST_M[:10] + ("Grace", "Marie", "James", "Lee", "Ann", "Michael", "Rose", "")
# (code, weight) — roughly a Midwest district's mix
RACE_MIX = (("1002", 55), ("1000", 20), ("0999", 8), ("0998", 2), ("1001", 1), ("", 4))
LANGUAGE_MIX = (("eng", 80), ("spa", 9), ("som", 4), ("ara", 2), ("vie", 2), ("fra", 1), ("zho", 1), ("", 1))
CITIES = ("Columbus", "Cleveland", "Cincinnati", "Dayton", "Toledo", "Akron", "Youngstown",
          "Coeur d'Alene", "Winston-Salem", "Saint-Étienne", "Ciudad Juárez", "San José", "Mogadishu",
          "Hà Nội", "Zürich", "Kraków", "Wilkes-Barre", "")
SCHOOLS = (  # (IRN, name, lowest grade index, highest grade index) over GRADES
    ("012345", "Maple Grove Elementary", 1, 6),
    ("012346", "Riverside Elementary", 1, 6),
    ("023456", "Lincoln Middle School", 7, 9),
    ("034567", "Westfield High School", 10, 13),
)


def birth_date_for(rng: random.Random, grade: str, school_year: int) -> date:
    """A birth date typical of ``grade`` in the school year ending in ``school_year``
    (5 years old by 30 September for kindergarten)."""
    offset = GRADES.index(grade) - 1  # KG = 0, PK = -1
    cutoff = date(school_year - 1 - 5 - offset, 9, 30)
    return cutoff - timedelta(days=rng.randrange(365))


def _weighted(rng: random.Random, mix) -> str:
    codes, weights = zip(*mix)
    return rng.choices(codes, weights)[0]


def generate(n: int, *, seed: int = 0, school_year: int = 2027, twins: float = 0.06,
             first_local_id: int | None = None) -> list[Student]:
    """``n`` realistic students; the same ``seed`` (and arguments) gives the same students.

    About ``twins`` of them have a twin next in the list: same last name, birth date, school,
    grade, entry date and family data, a different first name.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    rng = random.Random(seed)
    next_id = first_local_id if first_local_id is not None else 100000 + rng.randrange(100000)
    year_start = date(school_year - 1, 8, 19)
    students: list[Student] = []
    while len(students) < n:
        school = rng.choice(SCHOOLS)
        grade = GRADES[rng.randint(school[2], school[3])]
        gender = rng.choices(("F", "M", "U"), (49, 49, 2))[0]
        first = rng.choice(FIRST_F if gender == "F" else FIRST_M if gender == "M" else FIRST_F + FIRST_M)
        mid_year = rng.random() < 0.2
        entry = year_start + timedelta(days=rng.randrange(1, 240)) if mid_year else year_start
        hispanic = rng.choices(("Yes", "No", ""), (12, 85, 3))[0]
        s = Student(
            local_id=str(next_id), first_name=first, middle_name=rng.choice(MIDDLE),
            last_name=rng.choice(LAST) if rng.random() > 0.05 else f"{rng.choice(LAST)}-{rng.choice(LAST)}",
            birth_date=birth_date_for(rng, grade, school_year).isoformat(), gender=gender,
            race=_weighted(rng, RACE_MIX), hispanic_latino=hispanic, language=_weighted(rng, LANGUAGE_MIX),
            birth_place_city=rng.choice(CITIES), grade=grade, school_irn=school[0], school_name=school[1],
            entry_date=entry.isoformat(), admission_reason=rng.choices(("1", "2", "3"), (80, 15, 5))[0],
        )
        students.append(s)
        next_id += 1 + rng.randrange(3)
        if len(students) < n and rng.random() < twins:
            twin_gender = rng.choice(("F", "M"))
            names = [f for f in (FIRST_F if twin_gender == "F" else FIRST_M) if f != s.first_name]
            students.append(Student(**{**dict(zip(_ATTRS, astuple(s))), "local_id": str(next_id),
                                       "first_name": rng.choice(names), "gender": twin_gender,
                                       "middle_name": rng.choice(MIDDLE)}))
            next_id += 1
    return students
