"""The batch-file layout reader shared with batch files: header, BOM, CRLF, quoting, line numbers."""

from __future__ import annotations

import pytest

from ssid.catalogue import ohio_catalogue
from ssid.csvlayout import LayoutError, count_data_lines, header, parse_datetime, read_rows


def test_the_layout_follows_the_catalogue():
    h = header(ohio_catalogue())
    assert h[:5] == ("UserID", "DateTimeCreated", "Building_IRN", "District_IRN", "StudentID")
    assert h[5:-1] == ohio_catalogue().names and h[-1] == "UserDefined"
    assert header(ohio_catalogue(), output=True)[-2:] == ("ResultCode", "ResultMessage")


def test_rows_know_their_number_and_first_line(tmp_path):
    h = ",".join(header(ohio_catalogue()))
    f = tmp_path / "b.csv"
    f.write_bytes(b"\xef\xbb\xbf" + (h + "\r\n"
                                     'u1,,,,AB0000001,"Amara, ""Mara""",,Okafor,2017-04-12,F,,,,,,,"two\r\nlines"\r\n'
                                     "\r\n"
                                     "u2,,,,AB0000002,Chidi,,Okafor,2015-09-01,M,,,,,,,\r\n").encode())
    rows = list(read_rows(f, header(ohio_catalogue())))
    assert [(r.number, r.line) for r in rows] == [(1, 2), (2, 5)]
    assert rows[0].fields["LegalFirstName"] == 'Amara, "Mara"' and rows[0].fields["UserDefined"] == "two\r\nlines"
    assert rows[1].fields["UserID"] == "u2" and rows[1].width == 17
    assert count_data_lines(f) == 4  # physical lines: an estimate for progress bars


def test_a_wrong_header_is_refused_with_the_expected_one(tmp_path):
    f = tmp_path / "b.csv"
    f.write_text("StudentID,Name\nAB0000001,Amara\n")
    with pytest.raises(LayoutError, match="wrong header .missing column.s. UserID"):
        list(read_rows(f, header(ohio_catalogue())))


def test_datetime_created_forms():
    assert parse_datetime("02/13/2002 04:18:31").isoformat() == "2002-02-13T04:18:31"
    assert parse_datetime("2002-02-13 04:18:31").isoformat() == "2002-02-13T04:18:31"
    assert parse_datetime("02/13/2002").isoformat() == "2002-02-13T00:00:00"
    assert parse_datetime("13/02/2002 04:18:31") is None
