"""The member fields a text may use as placeholders: ``{name}`` ``{points}`` ``{tier}`` ….

One registry for every text that speaks to a member: the built-in replies and the wizard apps'
texts check their placeholders against it, the wizard lists it, the reply preview fills it with its
samples, and docs/keywords.md ("Member fields") lists the same names (tests/test_one_place.py).
"""
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from mcrm.db import zero_padded
from mcrm.members.models import Member
from mcrm.points.services import expiring_points


@dataclass(frozen=True)
class MemberField:
    name: str
    #: what the reply preview shows for it
    sample: object
    #: its value for a member now; None: the merchant's (``shop``), filled by the caller
    value: Callable[[Member, datetime], object] | None
    #: the same value as text in SQL over ``members``, where one exists (a campaign fills its texts
    #: with it set-based); None: only ``value`` has it
    sql: Callable[[], sa.ColumnElement[str]] | None = None


#: in the order the console lists them
FIELDS = (
    MemberField("name", "张三", lambda m, now: m.name or "会员",
                lambda: sa.func.coalesce(sa.func.nullif(Member.name, ""), "会员")),
    MemberField("points", 1280, lambda m, now: m.points_balance,
                lambda: sa.cast(Member.points_balance, sa.Text)),
    MemberField("tier", "银卡", lambda m, now: m.tier or "", lambda: sa.func.coalesce(Member.tier, "")),
    MemberField("expiring_points", 200, lambda m, now: expiring_points(m, now=now)),
    MemberField("member_no", "00000042", lambda m, now: m.member_no, lambda: zero_padded(Member.id, 8)),
    MemberField("shop", "品味小馆", None),
)
#: the placeholder names, in order
MEMBER_FIELDS = tuple(field.name for field in FIELDS)
#: the reply preview's values
SAMPLES = {field.name: field.sample for field in FIELDS}


#: field name → its SQL (``MemberField.sql``), for the fields that have one
FIELD_SQL = {field.name: field.sql for field in FIELDS if field.sql is not None}


def member_values(member: Member, *, now: datetime, wanted: Iterable[str] = MEMBER_FIELDS) -> dict:
    """The member's values of the ``wanted`` fields (each one costs a look-up, points that lapse a
    ledger query, so a template asks only for those it shows)."""
    wanted = set(wanted)
    return {field.name: field.value(member, now) for field in FIELDS
            if field.value is not None and field.name in wanted}
