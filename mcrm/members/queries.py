"""The members list: search, filters, sorting and keyset pagination that stay fast at a million rows.

Every page is one indexed range scan of at most ``limit + 1`` rows: the cursor is the last row's
(sort value, id), compared as a row value, so there is no OFFSET and no COUNT over the table.
A sort over a nullable column (last visit) is walked in two segments, the members with a value
first and those without after, so each segment stays an index range on every database.
"""
import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.members.models import Member, MemberTag
from mcrm.members.name_keys import name_sort_key
from mcrm.merchants.models import Merchant

PAGE_SIZE = 50
#: a filter that matches fewer members than this is walked through its own index and sorted (cheap
#: for a small set); a larger one through the sort's index, where a page's rows come soon enough
SMALL_SET = 5_000
#: the list shows "1,000+" beyond this instead of counting a million rows on every page
COUNT_CAP = 1000
#: the highest code point: "name starts with X" is the range [X, X + MAX_CHAR)
_MAX_CHAR = "\U0010ffff"


@dataclass(frozen=True)
class Sort:
    key: str
    column: sa.ColumnElement
    descending: bool
    nullable: bool = False


SORTS = {
    "newest": Sort("newest", Member.id, descending=True),
    # pinyin order (name_keys): a stored key, so the list by name is an index range like the others
    "name": Sort("name", Member.name_key, descending=False),
    "points": Sort("points", Member.points_balance, descending=True),
    "last_visit": Sort("last_visit", Member.last_visit_at, descending=True, nullable=True),
    "spend": Sort("spend", Member.total_spend, descending=True),
}
#: search results come in the order of the index that finds them
_MSISDN_SEARCH = Sort("msisdn", Member.msisdn_rev, descending=False)
_NAME_SEARCH = SORTS["name"]
_MEMBER_NO_SEARCH = SORTS["newest"]
#: a member number as the console and the ZC reply show it (eight digits, 00001234), or any
#: number of digits after No., # or 会员号 (a longer digit string is a phone number's end)
_MEMBER_NO = re.compile(r"(?:(?:no\.?|#|会员号|会员编号|编号)\s*(\d{1,12})|(\d{8}))", re.IGNORECASE)


@dataclass(frozen=True)
class Scope:
    """Members picked by a feature above this one (a saved segment): its name for the page and one
    SELECT of their ids, which the list's query takes as a subquery."""
    label: str
    member_ids: sa.Select


@dataclass(frozen=True)
class MemberFilter:
    """What the staff asked for; every field optional."""
    q: str = ""
    tier: str = ""
    tag: str = ""
    #: "yes": only opted-out members, "no": only reachable ones, "": both
    opted_out: str = ""
    birthday_month: int | None = None
    sort: str = "newest"
    scope: Scope | None = None

    def __post_init__(self):
        if self.sort not in SORTS:
            object.__setattr__(self, "sort", "newest")

    @property
    def search_kind(self) -> str:
        """'' (no search), 'member_no' (see _MEMBER_NO), 'msisdn' (digits: number ends with) or
        'name' (name starts with, ignoring case; pinyin finds Chinese names too)."""
        text = self.q.strip()
        if not text:
            return ""
        if _MEMBER_NO.fullmatch(text):
            return "member_no"
        return "msisdn" if re.fullmatch(r"\+?[\d\s-]+", text) else "name"

    @property
    def member_id(self) -> int:
        """The id a member-number search names."""
        match = _MEMBER_NO.fullmatch(self.q.strip())
        return int(match.group(1) or match.group(2))

    def effective_sort(self) -> Sort:
        return {"member_no": _MEMBER_NO_SEARCH, "msisdn": _MSISDN_SEARCH,
                "name": _NAME_SEARCH}.get(self.search_kind, SORTS[self.sort])


@dataclass
class Page:
    members: list[Member]
    next_cursor: str | None = None
    prev_cursor: str | None = None
    #: members matching the filter, counted up to COUNT_CAP + 1
    count: int = 0

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_CAP


def _where(merchant: Merchant, filters: MemberFilter, *, narrow: bool = False) -> list:
    clauses = [Member.merchant_id == merchant.id, Member.deleted_at.is_(None)]
    kind, text = filters.search_kind, filters.q.strip()
    if kind == "msisdn":
        digits = re.sub(r"\D", "", text)
        if text.startswith("+"):
            clauses.append(Member.msisdn == "+" + digits)
        else:
            prefix = digits[::-1]
            # a range, not LIKE: SQLite only uses an index for LIKE under case-sensitive settings
            clauses += [Member.msisdn_rev >= prefix, Member.msisdn_rev < prefix + _MAX_CHAR]
    elif kind == "name":
        key = name_sort_key(text)
        clauses += [Member.name_key >= key, Member.name_key < key + _MAX_CHAR]
    elif kind == "member_no":
        clauses.append(Member.id == filters.member_id)
    if filters.tier:
        clauses.append(Member.tier == filters.tier)
    if filters.opted_out in ("yes", "no"):
        clauses.append(Member.opted_out == (filters.opted_out == "yes"))
    if filters.birthday_month:
        clauses.append(Member.birthday_month == filters.birthday_month)
    if filters.scope is not None:
        clauses.append(Member.id.in_(filters.scope.member_ids))
    if filters.tag:
        if narrow:  # few tagged members: look them up from the tag index
            clauses.append(Member.id.in_(sa.select(MemberTag.member_id).where(
                MemberTag.merchant_id == merchant.id, MemberTag.tag == filters.tag)))
        else:
            clauses.append(sa.exists().where(MemberTag.member_id == Member.id, MemberTag.tag == filters.tag))
    return clauses


def _is_narrow(merchant: Merchant, filters: MemberFilter) -> bool:
    """Whether some filter matches fewer than SMALL_SET members, counted through that filter's index.

    Without statistics SQLite walks the sort's index and tests each row; for a rare tag or tier (or
    a mistyped one) that would pass over the whole table to fill a page.
    """
    if filters.search_kind:
        return False  # the search's own range already bounds the rows read
    probes = []
    if filters.tag:
        probes.append(sa.select(sa.literal(1)).where(MemberTag.merchant_id == merchant.id,
                                                     MemberTag.tag == filters.tag))
    equalities = {"tier": filters.tier, "birthday_month": filters.birthday_month,
                  "opted_out": {"yes": True, "no": False}.get(filters.opted_out)}
    if filters.scope is not None:
        probes.append(filters.scope.member_ids)
    for name, value in equalities.items():
        if value not in (None, ""):
            probes.append(sa.select(sa.literal(1)).select_from(Member).where(
                Member.merchant_id == merchant.id, Member.deleted_at.is_(None), getattr(Member, name) == value))
    return any(db.session.scalar(sa.select(sa.func.count()).select_from(probe.limit(SMALL_SET).subquery()))
               < SMALL_SET for probe in probes)


# -- cursors ------------------------------------------------------------------------------------

def _encode_cursor(sort: Sort, member: Member) -> str:
    segment, values = _position(sort, member)
    values = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, Decimal | float) else v
              for v in values]
    raw = json.dumps([sort.key, segment, *values], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(sort: Sort, cursor: str) -> tuple[int, list]:
    """The (segment, key values) a cursor names; a forged or stale one is a clear error, not a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, segment, *values = json.loads(raw)
        if segment not in (0, 1):
            raise ValueError(cursor)
        keys = _segments(sort)[segment][1]
        if key != sort.key or len(values) != len(keys) or not isinstance(values[-1], int):
            raise ValueError(cursor)
        if len(keys) == 2:
            values[0] = _parse_value(sort, values[0])
    except (ValueError, TypeError, IndexError, binascii.Error, UnicodeDecodeError, ArithmeticError):
        raise ValidationError("That page link is out of date; start again from the first page") from None
    return segment, values


def _parse_value(sort: Sort, value):
    if sort.column is Member.last_visit_at:
        return datetime.fromisoformat(value)
    if sort.column is Member.total_spend:
        return Decimal(value)
    if sort.column is Member.points_balance:
        return int(value)
    if not isinstance(value, str):
        raise ValueError(value)
    return value


# -- the page query -----------------------------------------------------------------------------

def _segments(sort: Sort, narrow: bool = False) -> list[tuple[list, list]]:
    """(extra where-clauses, key columns) per segment, in display order.

    ``narrow``: the filters match few members; the columns are then wrapped in an expression so
    that the database finds the rows through the filter's index and sorts them, rather than
    walking the sort's index (or its NULL range) row by row.
    """
    def key(column):
        return sa.func.coalesce(column, column) if narrow else column
    if sort.column is Member.id:
        return [([], [key(Member.id)])]
    if sort.nullable:
        return [([key(sort.column).is_not(None)], [key(sort.column), key(Member.id)]),
                ([key(sort.column).is_(None)], [key(Member.id)])]
    return [([], [key(sort.column), key(Member.id)])]


def _fetch(base: list, segments, sort: Sort, start: tuple | None, forward: bool, limit: int) -> list[Member]:
    """Up to ``limit`` members strictly after (forward) or before ``start`` = (segment, values)."""
    # walking forward in a descending sort means going down the index
    down = sort.descending == forward
    order = range(len(segments)) if forward else range(len(segments) - 1, -1, -1)
    rows: list[Member] = []
    for index in order:
        if start is not None and (index < start[0] if forward else index > start[0]):
            continue
        extra, keys = segments[index]
        query = sa.select(Member).where(*base, *extra)
        if start is not None and index == start[0]:
            bound = sa.tuple_(*keys) if len(keys) > 1 else keys[0]
            values = sa.tuple_(*start[1]) if len(keys) > 1 else start[1][0]
            query = query.where(bound < values if down else bound > values)
        query = query.order_by(*(k.desc() if down else k.asc() for k in keys)).limit(limit - len(rows))
        rows += db.session.scalars(query).all()
        if len(rows) >= limit:
            break
    return rows if forward else rows[::-1]


def _position(sort: Sort, member: Member) -> tuple[int, list]:
    """Where a member sits in the sort: (segment, key values)."""
    if sort.column is Member.id:
        return 0, [member.id]
    value = getattr(member, sort.column.key)
    if sort.nullable and value is None:
        return 1, [member.id]
    return 0, [value, member.id]


def list_members(merchant: Merchant, filters: MemberFilter, *, after: str | None = None,
                 before: str | None = None, limit: int | None = None) -> Page:
    """One page of the merchant's live members, after or before a cursor from a previous page."""
    limit = limit or PAGE_SIZE
    sort = filters.effective_sort()
    forward = before is None
    cursor = after if forward else before
    start = _decode_cursor(sort, cursor) if cursor else None
    narrow = _is_narrow(merchant, filters)
    rows = _fetch(_where(merchant, filters, narrow=narrow), _segments(sort, narrow), sort, start, forward,
                  limit + 1)
    more = len(rows) > limit
    if forward:
        members, has_next, has_prev = rows[:limit], more, bool(cursor)
    else:
        members, has_next, has_prev = rows[-limit:], True, more
    page = Page(members=members, count=count_members(merchant, filters, narrow=narrow))
    if members:
        page.next_cursor = _encode_cursor(sort, members[-1]) if has_next else None
        page.prev_cursor = _encode_cursor(sort, members[0]) if has_prev else None
    return page


def count_members(merchant: Merchant, filters: MemberFilter, cap: int = COUNT_CAP, *,
                  narrow: bool = False) -> int:
    """Matching members, counting no further than ``cap + 1``."""
    capped = sa.select(sa.literal(1)).select_from(Member).where(*_where(merchant, filters, narrow=narrow)) \
        .limit(cap + 1)
    return db.session.scalar(sa.select(sa.func.count()).select_from(capped.subquery()))


def iter_members(merchant: Merchant, filters: MemberFilter, *, batch: int = 1000):
    """Every matching member in list order, fetched ``batch`` rows at a time (for exports)."""
    narrow = _is_narrow(merchant, filters)
    sort, base = filters.effective_sort(), _where(merchant, filters, narrow=narrow)
    start = None
    while True:
        rows = _fetch(base, _segments(sort, narrow), sort, start, True, batch)
        yield from rows
        if len(rows) < batch:
            return
        start = _position(sort, rows[-1])


def custom_field_names(merchant: Merchant, filters: MemberFilter) -> list[str]:
    """The names of the custom fields the matching members have, sorted (an export's columns)."""
    narrow = _is_narrow(merchant, filters)
    if db.session.get_bind().dialect.name == "postgresql":
        keys = sa.func.json_object_keys(Member.custom_fields).table_valued("key").render_derived()
    else:
        keys = sa.func.json_each(Member.custom_fields).table_valued("key")
    query = sa.select(keys.c.key).select_from(Member).join(keys, sa.true()) \
        .where(*_where(merchant, filters, narrow=narrow)).distinct()
    return sorted(db.session.scalars(query))
