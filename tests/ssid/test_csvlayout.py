"""The batch-file layout reader shared by batch files and legacy import: header, BOM, CRLF,
quoting, encoding, line numbers."""

from __future__ import annotations

import pytest

from ssid.catalogue import ohio_catalogue
from ssid.csvlayout import LayoutError, header, parse_datetime
from ssid.legacy import chunks, parse_chunk, scan


def read_rows(path, catalogue):
    """Every row of a file as batch files and the legacy import read it (after a whole-file scan)."""
    scan(path, catalogue)
    return [r for chunk in chunks(path, header(catalogue), 2) for r in parse_chunk(chunk, header(catalogue))]


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
    rows = read_rows(f, ohio_catalogue())
    assert [(r.number, r.line) for r in rows] == [(1, 2), (2, 5)]
    assert rows[0].fields["LegalFirstName"] == 'Amara, "Mara"' and rows[0].fields["UserDefined"] == "two\r\nlines"
    assert rows[1].fields["UserID"] == "u2" and rows[1].width == 17


def test_a_wrong_header_is_refused_with_the_expected_one(tmp_path):
    f = tmp_path / "b.csv"
    f.write_text("StudentID,Name\nAB0000001,Amara\n")
    with pytest.raises(LayoutError, match="wrong header .missing column.s. UserID"):
        read_rows(f, ohio_catalogue())


def test_datetime_created_forms():
    assert parse_datetime("02/13/2002 04:18:31").isoformat() == "2002-02-13T04:18:31"
    assert parse_datetime("2002-02-13 04:18:31").isoformat() == "2002-02-13T04:18:31"
    assert parse_datetime("02/13/2002").isoformat() == "2002-02-13T00:00:00"
    assert parse_datetime("13/02/2002 04:18:31") is None


@pytest.mark.parametrize("text, iso", [
    ("2002-02-13 04:18", "2002-02-13T04:18:00"),  # a spreadsheet's export, without seconds
    ("2002-02-13T04:18:31.250", "2002-02-13T04:18:31.250000"),
    ("2002-02-13T04:18:31Z", "2002-02-13T04:18:31+00:00"),
    ("2002-02-13T04:18:31-05:00", "2002-02-13T04:18:31-05:00"),
    ("02/13/2002 04:18", "2002-02-13T04:18:00"),
])
def test_datetime_created_iso_and_short_forms(text, iso):
    assert parse_datetime(text).isoformat() == iso


@pytest.mark.parametrize("text", ["2002-02-30 04:18:31", "2002-13-01", "2002-02-13 25:00", "yesterday", "2002-02-13x"])
def test_datetime_created_that_is_no_date_and_time(text):
    assert parse_datetime(text) is None


@pytest.mark.parametrize("rows_before", [0, 1, 300])
def test_text_that_is_not_utf8_is_refused_naming_its_line_and_byte(tmp_path, rows_before):
    """A file saved as Windows-1252 (Excel's plain "CSV" on Windows): the message names the line
    and byte, however far into the file (text is decoded in blocks ahead of the line being read)."""
    h = ",".join(header(ohio_catalogue()))
    good = "u1,,,,AB0000001,Amara,,Okafor,2017-04-12,F,,,,,,,\r\n" * rows_before
    bad = "u2,,,,,José,,Muñoz,2015-09-01,M,,,,,,,\r\n"
    f = tmp_path / "b.csv"
    f.write_bytes((h + "\r\n" + good).encode() + bad.encode("cp1252"))
    with pytest.raises(LayoutError) as caught:
        read_rows(f, ohio_catalogue())
    message = str(caught.value)
    assert f"line {rows_before + 2} is not UTF-8 text (byte 0xE9 after \"u2,,,,,Jos\", column 11)" in message
    assert "CSV UTF-8" in message and "nothing was loaded" in message

