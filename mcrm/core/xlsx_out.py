"""XLSX files the console hands out: written by XlsxWriter in constant-memory mode (each row goes to a
temporary file as soon as it is written), so a large export is never held in memory as cells."""
import tempfile
from collections.abc import Iterable
from typing import IO

import xlsxwriter
from flask import Response, send_file

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: what Excel allows in a sheet's name
SHEET_NAME = 31


def xlsx_file(headers: list[str], rows: Iterable[list], *, sheet: str) -> IO[bytes]:
    """A workbook of one sheet, ``headers`` then ``rows``, in a temporary file read from its start.

    Numbers are written as numbers, everything else as text: a text is never read as a formula, a
    link or a number (no leading ``'`` needed, unlike a CSV)."""
    out = tempfile.TemporaryFile()
    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_urls": False, "strings_to_numbers": False})
    worksheet = workbook.add_worksheet(sheet[:SHEET_NAME])
    for column, header in enumerate(headers):
        worksheet.write_string(0, column, header)
    for line, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                worksheet.write_number(line, column, value)
            elif value not in (None, ""):
                worksheet.write_string(line, column, str(value))
    workbook.close()
    out.seek(0)
    return out


def download(file: IO[bytes], *, filename: str) -> Response:
    return send_file(file, mimetype=MIMETYPE, as_attachment=True, download_name=filename)
