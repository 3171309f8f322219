"""URL parts of the console."""
from werkzeug.routing import IntegerConverter

#: the largest id any table holds: ids are INTEGER, 32 bits on PostgreSQL (SQLite's take 64, but a
#: larger number there is no row either); anything above would fail in the query with a 500
MAX_ID = 2 ** 31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` in a route: a number too big for any id matches no route (404), where it would
    otherwise reach the query and fail there (SQLite cannot even bind it)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def parse_id(text: str) -> int:
    """An id from a query string (``request.args.get("before", type=parse_id)``): a ValueError, so
    None, for anything that is no id, however many digits it has."""
    value = int(text)
    if not 0 < value <= MAX_ID:
        raise ValueError(text)
    return value


def optional_id(value) -> int | None:
    """A select's chosen row id (a WTForms coerce): nothing chosen, or anything no row can have, is None."""
    try:
        return parse_id(str(value))
    except ValueError:
        return None


def id_or_none(value: int | None) -> int | None:
    """A WTForms filter for an IntegerField that holds an id: one no row can have reads as none
    (NumberRange cannot even compare a number this big)."""
    return value if value is None or 0 < value <= MAX_ID else None
