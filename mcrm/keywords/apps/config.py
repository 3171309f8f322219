"""Settings of each wizard app kind: cleaned when saved, checked before the app is switched on."""
import csv
import io
from datetime import datetime

from mcrm.core.errors import ValidationError
from mcrm.core.text import CONTROL_CHARS
from mcrm.keywords.models import AppKind, KeywordApp


def _int(value, name: str, *, minimum: int = 0, maximum: int = 1_000_000, optional: bool = False):
    if value in (None, "") and optional:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError("%(name)s must be a whole number", name=name) from None
    if not minimum <= number <= maximum:
        raise ValidationError("%(name)s must be between %(minimum)s and %(maximum)s", name=name, minimum=minimum,
                              maximum=maximum)
    return number


def parse_options(text: str) -> list[list[str]]:
    """Vote options, one a line: ``1 红烧肉`` (key and label) or just ``红烧肉`` (numbered for you)."""
    options = []
    for number, line in enumerate((raw.strip() for raw in (text or "").splitlines() if raw.strip()), start=1):
        key, _, label = line.partition(" ")
        if not label.strip():
            key, label = str(number), line
        options.append([key.strip()[:20], label.strip()[:50]])
    if len(options) < 2:
        raise ValidationError("A vote needs at least two options, one a line")
    keys = [k.casefold() for k, _ in options]
    if len(set(keys)) != len(keys):
        raise ValidationError("Two options have the same number")
    return options


def clean_config(kind: str, config: dict) -> dict:
    cleaned = {}
    for key, value in config.items():
        if kind == AppKind.COUPON and key == "source":
            if value not in ("generated", "pool"):
                raise ValidationError("Codes come from a pool you upload or are generated")
            cleaned[key] = value
        elif kind == AppKind.COUPON and key == "stock":
            cleaned[key] = _int(value, "Stock", minimum=1, optional=True)
        elif kind == AppKind.COUPON and key == "valid_days":
            cleaned[key] = _int(value, "Days valid", minimum=1, maximum=3650)
        elif kind == AppKind.COUPON and key == "prefix":
            prefix = str(value or "").strip().upper()
            if len(prefix) > 8 or not prefix.isalnum() and prefix:
                raise ValidationError("A code prefix is up to 8 letters or digits")
            cleaned[key] = prefix
        elif kind == AppKind.VOTE and key == "options":
            cleaned[key] = parse_options(value) if isinstance(value, str) else value
        elif kind == AppKind.EVENT and key == "capacity":
            cleaned[key] = _int(value, "Capacity", minimum=1)
        elif kind == AppKind.EVENT and key == "max_seats":
            cleaned[key] = _int(value, "Seats per sign-up", minimum=1, maximum=50)
        elif kind == AppKind.EVENT and key == "remind_hours":
            cleaned[key] = _int(value, "Reminder hours", minimum=0, maximum=24 * 30)
        elif kind == AppKind.EVENT and key == "event_at":
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    raise ValidationError("The event time needs a time zone")
                value = value.isoformat()
            cleaned[key] = value
        else:
            raise ValidationError("%(key)s is not a setting of a %(kind)s app", key=key, kind=kind)
    return cleaned


def check_ready(app: KeywordApp) -> None:
    """Refuse to switch on an app that could only answer with an error."""
    config = app.config or {}
    if app.kind == AppKind.VOTE and len(config.get("options", [])) < 2:
        raise ValidationError("Give the vote at least two options first")
    if app.kind == AppKind.EVENT and (not config.get("capacity") or not config.get("event_at")):
        raise ValidationError("Give the event a capacity and a date first")
    if app.kind == AppKind.INFO and not config.get("columns"):
        raise ValidationError("Upload the table to look up first")


MAX_INFO_ROWS = 100_000


def read_info_csv(data: bytes) -> tuple[list[str], list[dict]]:
    """A CSV table (UTF-8 or GBK, as Excel saves it in China): header row, first column = lookup code."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationError("The file is neither UTF-8 nor GBK text")
    if control := CONTROL_CHARS.search(text):  # a damaged file; PostgreSQL cannot even store a NUL
        raise ValidationError(
            "Row %(row)s holds a control character (U+%(code)s); remove it and upload again",
            row=text.count("\n", 0, control.start()) + 1, code=f"{ord(control.group()):04X}")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise ValidationError("The table needs a header row and at least one row")
    header = [h.strip() for h in rows[0]]
    for number, name in enumerate(header, start=1):
        if not name:
            raise ValidationError("Column %(number)s has no name in the header row", number=number)
        if "{" in name or "}" in name:  # a reply could never name it: braces mark a placeholder
            raise ValidationError("Column %(column)s: a column name cannot contain { or }", column=name)
        if header.index(name) != number - 1:
            raise ValidationError("Two columns are named %(column)s", column=name)
    if len(rows) - 1 > MAX_INFO_ROWS:
        raise ValidationError("At most %(count)s rows", count=MAX_INFO_ROWS)
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValidationError("Row %(row)s has %(cells)s cells, the header %(header)s", row=number, cells=len(row),
                                  header=len(header))
        records.append({h: cell.strip() for h, cell in zip(header, row, strict=True)})
    return header, records
