"""A normalized segment definition as one SQL boolean over ``members``, and the lists the builder offers.

Every condition's ``where`` returns an expression that is true or false (never NULL) for each
member, built from indexed columns or uncorrelated ``IN (SELECT ...)`` subqueries that the
database runs once per query: the whole segment stays one statement, whatever its shape.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from collections.abc import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from mcrm.members.models import Member
from mcrm.segments import rules


@dataclass(frozen=True)
class Context:
    """What a condition's SQL may depend on besides its params: the merchant, the moment, its zone."""
    merchant_id: int
    now: datetime
    zone: ZoneInfo

    @property
    def live(self) -> list[sa.ColumnElement[bool]]:
        """The merchant's members that are not deleted: the segment's universe."""
        return [Member.merchant_id == self.merchant_id, Member.deleted_at.is_(None)]

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def period_bounds(self, period: dict | None) -> tuple[datetime | None, datetime | None]:
        """[start, end) of a period param as aware datetimes, either open (None)."""
        if not period:
            return None, None
        if "days" in period:
            return self.now - timedelta(days=period["days"]), None
        start = self.local_midnight(date.fromisoformat(period["from"])) if "from" in period else None
        end = self.local_midnight(date.fromisoformat(period["to"]) + timedelta(days=1)) if "to" in period else None
        return start, end

    def in_period(self, column, period: dict | None) -> list:
        """Where-clauses keeping ``column`` (an aware timestamp) inside the period."""
        start, end = self.period_bounds(period)
        return ([column >= start] if start else []) + ([column < end] if end else [])


def _parts(definition: dict, context: Context, vocabulary: rules.Vocabulary) -> list[sa.ColumnElement[bool]]:
    return [vocabulary.get(item["type"]).where({k: v for k, v in item.items() if k != "type"}, context)
            if "type" in item else compile_where(item, context, vocabulary) for item in definition["items"]]


def compile_where(definition: dict, context: Context,
                  vocabulary: rules.Vocabulary = rules.VOCABULARY) -> sa.ColumnElement[bool]:
    """The boolean a live member of the merchant (``context.live``) must satisfy to be in the
    (normalized) segment."""
    parts = _parts(definition, context, vocabulary)
    if definition["op"] == "and":
        return sa.and_(sa.true(), *parts)
    if definition["op"] == "or":
        return sa.or_(*parts)
    return sa.not_(sa.or_(*parts))


def segment_where(definition: dict, context: Context,
                  vocabulary: rules.Vocabulary = rules.VOCABULARY) -> list[sa.ColumnElement[bool]]:
    """Where-clauses selecting the segment's members from ``members``.

    A top-level OR puts ``context.live`` into each branch rather than around the whole: SQLite then
    counts it by uniting the branches' index searches (the live-member indexes are partial, so a
    branch needs both terms to use one) where it walked every member of the merchant (0.8 s of CPU
    at a million). Only there: inside an AND, deleted_at in a branch is a column the indexes lack,
    and testing it read every candidate's row.
    """
    if definition["op"] == "or":
        return [sa.or_(*(sa.and_(*context.live, part) for part in _parts(definition, context, vocabulary)))]
    return [*context.live, compile_where(definition, context, vocabulary)]


def _reads_a_subquery(part: sa.ColumnElement[bool]) -> bool:
    return any(isinstance(element, sa.Select) for element in sa.sql.visitors.iterate(part))


def segment_count(definition: dict, context: Context,
                  vocabulary: rules.Vocabulary = rules.VOCABULARY) -> sa.Select:
    """One SELECT of the number of the segment's members.

    A top-level OR is counted as a sum of disjoint parts, each branch without the branches before
    it: on SQLite each part is one index search that tests the other branches' columns in its
    index, where uniting the branches' searches kept a set of every match's row id (the OR of
    three: 165 ms of CPU as a union, 125 as parts, at a million members). Exact because a condition
    is never NULL. Branches that read a subquery (tags, activity by number) come last, so that no
    other branch tests its list, which cost about 0.5 µs a member for the 82,817 members of one
    tag. PostgreSQL counts such a branch's members by probing ``ix_members_live_id`` for each id
    the subquery gives, where the union read every member's row (the OR of three: 146 / 163 ms
    p50 / p95 in parts, 276 / 363 as a union; bench/README.md, Segments).
    """
    if definition["op"] != "or" or len(definition["items"]) < 2:
        return sa.select(sa.func.count()).select_from(Member).where(*segment_where(definition, context, vocabulary))
    parts = sorted(_parts(definition, context, vocabulary), key=_reads_a_subquery)
    counts = [sa.select(sa.func.count()).select_from(Member)
              .where(*context.live, part, *(sa.not_(earlier) for earlier in parts[:n])).scalar_subquery()
              for n, part in enumerate(parts)]
    return sa.select(sum(counts[1:], counts[0]))


# -- lists the builder offers ---------------------------------------------------------------------

#: source name → function(merchant_id) giving [(value, label)]: tiers, tags, keyword apps, ...
SOURCES: dict[str, Callable[[int], list[tuple]]] = {}


def register_source(name: str, options: Callable[[int], list[tuple]]) -> None:
    if name in SOURCES:
        raise ValueError(f"segment source {name!r} is registered twice")
    SOURCES[name] = options
