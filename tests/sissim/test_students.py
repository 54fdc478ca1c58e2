"""The simulated SIS's students: generator determinism, CSV round trip, bad input named precisely."""

from __future__ import annotations

from datetime import date

import pytest

from sif_agent.sissim import COLUMNS, StudentFileError, generate, parse_csv, plan, read_csv, write_csv
from sif_agent.sissim.students import GRADES

HEADER = ",".join(COLUMNS)
GOOD = "100234,Amara,Grace,Okafor,2017-04-12,F,1000,No,eng,Columbus,03,012345,Maple Grove Elementary,2026-08-19,1"


def test_same_seed_same_students_other_seed_others():
    assert generate(40, seed=7) == generate(40, seed=7)
    assert generate(40, seed=7) != generate(40, seed=8)
    assert generate(10, seed=7) == generate(40, seed=7)[:10]


def test_generated_students_are_realistic():
    students = generate(400, seed=1, school_year=2027)
    assert len(students) == 400
    assert len({s.local_id for s in students}) == 400
    names = " ".join(s.first_name + " " + s.last_name for s in students)
    assert "'" in names and "-" in names and any(ord(c) > 127 for c in names)
    assert {s.gender for s in students} >= {"F", "M"}
    assert len({s.race for s in students}) >= 4 and len({s.language for s in students}) >= 4
    assert {s.grade for s in students} == set(GRADES[1:])  # KG to 12
    for s in students:
        age_on_cutoff = 2026 - date.fromisoformat(s.birth_date).year - (
            (date.fromisoformat(s.birth_date).month, date.fromisoformat(s.birth_date).day) > (9, 30))
        assert age_on_cutoff == 5 + GRADES.index(s.grade) - 1, s  # 5 by 30 September in KG
        assert "2026-08-19" <= s.entry_date <= "2027-06-30"
    # twins: same last name, birth date, school and grade, next to each other, different first names
    twins = [(a, b) for a, b in zip(students, students[1:])
             if (a.last_name, a.birth_date, a.school_irn) == (b.last_name, b.birth_date, b.school_irn)]
    assert twins and all(a.first_name != b.first_name for a, b in twins)


def test_csv_round_trip_keeps_every_character(tmp_path):
    students = generate(60, seed=3)
    path = tmp_path / "students.csv"
    write_csv(path, students)
    assert read_csv(path) == students
    assert path.read_bytes().startswith(HEADER.encode() + b"\r\n")


def test_bom_crlf_blank_lines_and_column_order_are_tolerated(tmp_path):
    cols = list(COLUMNS)
    cells = GOOD.split(",")
    order = cols[::-1]
    text = "\ufeff" + ",".join(order) + "\r\n" + ",".join(cells[cols.index(c)] for c in order) + "\r\n\r\n"
    path = tmp_path / "s.csv"
    path.write_bytes(text.encode("utf-8"))
    (s,) = read_csv(path)
    assert (s.local_id, s.first_name, s.last_name, s.birth_date, s.grade) == ("100234", "Amara", "Okafor",
                                                                              "2017-04-12", "03")
    quoted = HEADER + "\n" + GOOD.replace("Okafor", '"O\'Brien-Núñez"') + "\n"
    assert parse_csv(quoted)[0].last_name == "O'Brien-Núñez"


@pytest.mark.parametrize("column,value,words", [
    ("BirthDate", "04/12/2017", "YYYY-MM-DD"),
    ("BirthDate", "2017-02-30", "YYYY-MM-DD"),
    ("Gender", "X", "M, F or U"),
    ("Race", "B", "race code"),
    ("HispanicLatino", "Y", "Yes, No"),
    ("Language", "English", "ISO 639-2"),
    ("Grade", "13", "grade level"),
    ("LastName", "", "required"),
    ("FirstName", "R2D2", "not a name"),
    ("EntryDate", "", "required"),
])
def test_bad_value_names_row_line_and_column(column, value, words):
    cells = GOOD.split(",")
    second = cells.copy()
    second[0] = "100235"
    second[COLUMNS.index(column)] = value
    text = "\n".join([HEADER, GOOD, ",".join(second)]) + "\n"
    with pytest.raises(StudentFileError) as info:
        parse_csv(text, path="in.csv")
    message = str(info.value)
    assert message.startswith("in.csv, row 2 (line 3), column " + column + ":"), message
    assert words in message
    assert (info.value.row, info.value.line, info.value.column) == (2, 3, column)


def test_header_and_shape_errors():
    with pytest.raises(StudentFileError, match="missing column.*Race"):
        parse_csv(HEADER.replace(",Race,", ",") + "\n")
    with pytest.raises(StudentFileError, match="unknown column.*'Nickname'"):
        parse_csv(HEADER + ",Nickname\n")
    with pytest.raises(StudentFileError, match="empty"):
        parse_csv("")
    with pytest.raises(StudentFileError, match="no students"):
        parse_csv(HEADER + "\n")
    with pytest.raises(StudentFileError, match=r"row 1 \(line 2\): has 14 fields"):
        parse_csv(HEADER + "\n" + GOOD.rsplit(",", 1)[0] + "\n")
    with pytest.raises(StudentFileError, match=r"row 2 \(line 3\), column LocalId: .*already used by row 1"):
        parse_csv("\n".join([HEADER, GOOD, GOOD]))


def test_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n" + GOOD.replace("Amara", "Zoë") + "\n").encode("latin-1"))
    with pytest.raises(StudentFileError, match="not UTF-8"):
        read_csv(path)


def test_plan_orders_events_per_style():
    students = [(f"{i:032X}", s) for i, s in enumerate(generate(3, seed=5, twins=0), 1)]
    counter = iter(range(1000))
    ids = lambda: f"{next(counter) + 500:032X}"  # noqa: E731
    plain = plan(students, style="plain", ids=ids, district_irn="043802")
    kinds = [(p.object_name, p.action) for p in plain if p.object_name != "SchoolInfo"]
    assert kinds == [("StudentPersonal", "Add"), ("StudentSchoolEnrollment", "Add")] * 3
    assert len([p for p in plain if p.object_name == "SchoolInfo"]) == len({s.school_irn for _, s in students})
    sasi = plan(students, style="sasi", ids=ids)
    kinds = [(p.object_name, p.action) for p in sasi if p.object_name != "SchoolInfo"]
    assert kinds == [("StudentPersonal", "Add"), ("StudentSchoolEnrollment", "Add"),
                     ("StudentPersonal", "Change")] * 3
    add, change = sasi[1].object, next(p.object for p in sasi if p.action == "Change")
    assert add.demographics is None and add.name.last_name and add.local_id
    assert change.demographics.birth_date == students[0][1].birth_date and change.name is None
    with pytest.raises(ValueError):
        plan(students, style="chronos")
