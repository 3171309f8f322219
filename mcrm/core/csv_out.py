"""CSV files the console hands out (member export, an import's error report, a keyword app's records):
written in batches so no file is held in memory, in an encoding Excel in China opens, and safe to open."""
import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response, abort, request, stream_with_context

from mcrm.db import read_only

#: the encodings offered for download: UTF-8 with a BOM (which makes Excel read UTF-8), or GB18030
ENCODINGS = {"utf-8": "utf-8-sig", "gb18030": "gb18030"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A text cell that Excel would run as a formula gets a leading apostrophe (CSV injection).

    Only for text a person typed or texted: a negative number stays a number."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_chunks(headers: list[str], rows: Iterable[list], *, codec: str, batch: int = 1000) -> Iterator[bytes]:
    """Encoded chunks of a CSV: the header line, then ``rows``, one chunk per ``batch`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    first = True
    for index, row in enumerate(rows, start=1):
        writer.writerow(row)
        if index % batch == 0:
            yield _encode(buffer, codec, first)
            first = False
    yield _encode(buffer, codec, first)


def _encode(buffer: io.StringIO, codec: str, first: bool) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    # the BOM belongs at the very start only
    return text.encode(codec if first else codec.removesuffix("-sig"))


def requested_encoding() -> str:
    """The ``?encoding=`` a download link asks for (``utf-8`` when none); 400 for any other."""
    encoding = request.args.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        abort(400)
    return encoding


def download(chunks: Iterator[bytes], *, filename: str, charset: str = "utf-8") -> Response:
    """The chunks streamed to the browser as a file to save (rows are read while it downloads)."""
    return Response(stream_with_context(_reading_only(chunks)), mimetype=f"text/csv; charset={charset}",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def _reading_only(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks``, each made inside ``read_only``.

    The body streams after the request's teardown, which ended the GET's read-only flag: without
    this, the export's transaction would take SQLite's write lock and keep it for as long as the
    browser downloads, and every other writer (gateway, keyword loop, jobs, console) would wait on
    it and fail. The flag is set around each chunk only, never across a ``yield``, so nothing else
    this thread runs between two chunks reads it."""
    try:
        while True:
            with read_only():
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
