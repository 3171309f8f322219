"""The built-in conditions of the segment language: member data, points, visits, coupons, keyword
apps and feedback. Each is one registration: its params, its words and its SQL.

Activity recorded against a phone number (coupons, votes, sign-ups, feedback) belongs to the member
with that number at this merchant, whether or not the texter was a member at the time.
"""
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from mcrm.feedback.models import FeedbackTicket, TicketKind
from mcrm.keywords.models import AppKind, CouponCode, EventSignup, KeywordApp, KeywordUse, PollVote
from mcrm.members.models import PURCHASE_TIMES, Gender, Member, MemberTag
from mcrm.merchants.models import Merchant
from mcrm.points.models import IS_CREDIT, IS_PURCHASE, PointsEntry
from mcrm.core.text import N_
from mcrm.segments.rules import ConditionType, Param, birthday_keys_between, register_condition
from mcrm.segments.sql import Context, register_source
from mcrm.extensions import db
from mcrm.core.errors import ValidationError

MONTHS = (N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"), N_("July"),
          N_("August"), N_("September"), N_("October"), N_("November"), N_("December"))
CALENDARS = (("any", N_("their own calendar")), ("solar", N_("solar")), ("lunar", N_("lunar")))
GENDERS = ((Gender.FEMALE, N_("female")), (Gender.MALE, N_("male")), (Gender.UNKNOWN, N_("unknown")))


def _range(params: dict, t, fmt=str) -> str:
    low, high = params.get("min"), params.get("max")
    if low is not None and high is not None:
        return t(N_("%(min)s to %(max)s"), min=fmt(low), max=fmt(high))
    if low is not None:
        return t(N_("at least %(min)s"), min=fmt(low))
    return t(N_("at most %(max)s"), max=fmt(high))


def _yuan(value) -> str:
    return "¥" + str(value).removesuffix(".00")


def _period(period: dict | None, t) -> str:
    if not period:
        return ""
    if "days" in period:
        return t(N_("in the last %(days)s days"), days=period["days"])
    if "from" in period and "to" in period:
        return t(N_("from %(from)s to %(to)s"), **period)
    if "from" in period:
        return t(N_("since %(from)s"), **period)
    return t(N_("until %(to)s"), **period)


def _with_period(what: str, params: dict, t) -> str:
    period = _period(params.get("period"), t)
    return t(N_("%(what)s %(period)s"), what=what, period=period) if period else what


def _one_of(values, t, labels: dict | None = None) -> str:
    return t(N_(" or ")).join(t(labels[v]) if labels else str(v) for v in values)


def _check_range(params: dict) -> None:
    if params.get("min") is None and params.get("max") is None:
        raise ValidationError("Give a lowest value, a highest value or both")
    if params.get("min") is not None and params.get("max") is not None \
            and float(params["min"]) > float(params["max"]):
        raise ValidationError("The lowest value is above the highest")


_MIN = Param("min", "int", N_("at least"), required=False, minimum=0)
_MAX = Param("max", "int", N_("at most"), required=False, minimum=0)
_PERIOD = Param("period", "period", N_("when"), required=False)
_CALENDAR = Param("calendar", "choice", N_("calendar"), default="any", choices=CALENDARS)


def condition(key: str, label: str, category: str, *params: Param, check=None):
    """Decorator: ``describe`` is the function decorated; its ``where`` is attached with ``.sql``."""
    def register(describe):
        def attach(where):
            register_condition(ConditionType(key, label, category, params, describe, where, check))
            return where
        describe.sql = attach
        return describe
    return register


# -- member data ----------------------------------------------------------------------------------

@condition("tier", N_("Tier"), N_("Member"),
           Param("tiers", "choices", N_("tier"), source="tiers"))
def _tier(p, t, names):
    return t(N_("tier %(tiers)s"), tiers=_one_of(p["tiers"], t))


@_tier.sql
def _tier_where(p, ctx: Context):
    return Member.tier.in_(p["tiers"])


@condition("gender", N_("Gender"), N_("Member"),
           Param("genders", "choices", N_("gender"), choices=GENDERS))
def _gender(p, t, names):
    return t(N_("gender %(genders)s"), genders=_one_of(p["genders"], t, dict(GENDERS)))


@_gender.sql
def _gender_where(p, ctx):
    return Member.gender.in_(p["genders"])


@condition("tags", N_("Tags"), N_("Member"),
           Param("tags", "texts", N_("tags"), source="tags"),
           Param("match", "choice", N_("match"), default="any",
                 choices=(("any", N_("any of them")), ("all", N_("all of them")), ("none", N_("none of them")))))
def _tags(p, t, names):
    if p["match"] == "all":
        return t(N_("tagged %(tags)s"), tags=t(N_(" and ")).join(p["tags"]))
    template = N_("not tagged %(tags)s") if p["match"] == "none" else N_("tagged %(tags)s")
    return t(template, tags=_one_of(p["tags"], t))


@_tags.sql
def _tags_where(p, ctx):
    tagged = sa.select(MemberTag.member_id).where(MemberTag.merchant_id == ctx.merchant_id,
                                                  MemberTag.tag.in_(p["tags"]))
    if p["match"] == "all":
        tagged = tagged.group_by(MemberTag.member_id).having(sa.func.count() == len(p["tags"]))
    where = Member.id.in_(tagged)
    return sa.not_(where) if p["match"] == "none" else where


def _check_custom(p):
    if p["op"] in ("eq", "ne", "contains") and not p.get("value"):
        raise ValidationError("Give the value to compare the field with")
    if p["op"] in ("set", "unset"):
        p.pop("value", None)


@condition("custom_field", N_("Custom field"), N_("Member"),
           Param("name", "text", N_("field")),
           Param("op", "choice", N_("comparison"), default="eq",
                 choices=(("eq", N_("is")), ("ne", N_("is not")), ("contains", N_("contains")),
                          ("set", N_("is filled in")), ("unset", N_("is empty")))),
           Param("value", "text", N_("value"), required=False), check=_check_custom)
def _custom(p, t, names):
    templates = {"eq": N_("%(name)s is %(value)s"), "ne": N_("%(name)s is not %(value)s"),
                 "contains": N_("%(name)s contains %(value)s"), "set": N_("%(name)s is filled in"),
                 "unset": N_("%(name)s is empty")}
    return t(templates[p["op"]], name=p["name"], value=p.get("value", ""))


class custom_field_text(sa.sql.functions.FunctionElement):
    """custom_field_text(json_column, name): the text of one key of a JSON object, NULL when absent."""
    type = sa.String()
    inherit_cache = True


@compiles(custom_field_text)
def _custom_field_text(element, compiler, **kw):
    column, name = element.clauses.clauses
    return f"({compiler.process(column, **kw)} ->> {compiler.process(name, **kw)})"


@compiles(custom_field_text, "sqlite")
def _custom_field_text_sqlite(element, compiler, **kw):
    # not json_extract: SQLite before 3.45 compares a path with the stored key as written, and the
    # JSON column stores non-ASCII keys escaped (\u57ce...); json_each decodes them
    column, name = element.clauses.clauses
    return f"(SELECT value FROM json_each({compiler.process(column, **kw)}) " \
           f"WHERE key = {compiler.process(name, **kw)})"


@_custom.sql
def _custom_where(p, ctx):
    value = sa.func.coalesce(custom_field_text(Member.custom_fields, sa.literal(p["name"])), "")
    return {"eq": lambda: value == p.get("value"), "ne": lambda: value != p.get("value"),
            # case of Latin letters ignored, as SQLite's LIKE does; the same on PostgreSQL
            "contains": lambda: value.icontains(p.get("value", ""), autoescape=True),
            "set": lambda: value != "", "unset": lambda: value == ""}[p["op"]]()


@condition("joined", N_("Joined"), N_("Member"), Param("period", "period", N_("when")))
def _joined(p, t, names):
    return t(N_("joined %(period)s"), period=_period(p["period"], t))


@_joined.sql
def _joined_where(p, ctx):
    return sa.and_(sa.true(), *ctx.in_period(Member.joined_at, p["period"]))


@condition("opted_out", N_("Opted out"), N_("Member"),
           Param("value", "bool", N_("opted out"), default=True))
def _opted_out(p, t, names):
    return t(N_("opted out") if p["value"] else N_("not opted out"))


@_opted_out.sql
def _opted_out_where(p, ctx):
    return Member.opted_out == p["value"]


# -- birthdays ------------------------------------------------------------------------------------

def _birthdays_on(keys, calendar: str) -> list[sa.ColumnElement[bool]]:
    """The birthdays kept in ``calendar`` (solar, lunar or any) that fall on ``keys`` (month * 100
    + day in that calendar), one term a month: the month equal, the day in a list. Small integers
    the live indexes carry, where extracting the solar date's month and day cost 0.1 s of CPU per
    300,000 members tested; a month at a time is cheaper again than month * 100 + day in a list of
    keys."""
    days: dict[int, list[int]] = {}
    for key in sorted(keys):
        days.setdefault(key // 100, []).append(key % 100)
    lunar = [] if calendar == "any" else [Member.birthday_is_lunar == (calendar == "lunar")]
    return [sa.and_(Member.birthday_month == month, *lunar, Member.birthday_day.is_not(None),
                    Member.birthday_day.in_(in_month)) for month, in_month in days.items()]


@condition("birthday_month", N_("Birthday month"), N_("Birthday"),
           Param("month", "int", N_("month"), minimum=1, maximum=12), _CALENDAR)
def _birthday_month(p, t, names):
    if p["calendar"] == "lunar":
        return t(N_("lunar birthday in month %(number)s"), number=p["month"])
    template = N_("solar birthday in %(month)s") if p["calendar"] == "solar" else N_("birthday in %(month)s")
    return t(template, month=t(MONTHS[p["month"] - 1]))


@_birthday_month.sql
def _birthday_month_where(p, ctx):
    """On the member's birthday month column (indexed), which holds the month in its own calendar."""
    month = sa.and_(Member.birthday_month.is_not(None), Member.birthday_month == p["month"])
    if p["calendar"] == "any":
        return month
    return sa.and_(Member.birthday_is_lunar == (p["calendar"] == "lunar"), month)


def _check_day(p):
    if p["calendar"] != "lunar" and p["day"] > (29 if p["month"] == 2 else 30 if p["month"] in (4, 6, 9, 11) else 31):
        raise ValidationError("There is no day %(day)s in month %(month)s", day=p["day"], month=p["month"])


@condition("birthday_date", N_("Birthday on a day"), N_("Birthday"),
           Param("month", "int", N_("month"), minimum=1, maximum=12),
           Param("day", "int", N_("day"), minimum=1, maximum=31), _CALENDAR, check=_check_day)
def _birthday_date(p, t, names):
    if p["calendar"] == "lunar":
        return t(N_("lunar birthday on day %(day)s of month %(number)s"), number=p["month"], day=p["day"])
    template = N_("solar birthday on %(month)s %(day)s") if p["calendar"] == "solar" \
        else N_("birthday on %(month)s %(day)s")
    return t(template, month=t(MONTHS[p["month"] - 1]), day=p["day"])


@_birthday_date.sql
def _birthday_date_where(p, ctx):
    return sa.or_(*_birthdays_on([p["month"] * 100 + p["day"]], p["calendar"]))


@condition("birthday_soon", N_("Birthday coming up"), N_("Birthday"),
           Param("days", "int", N_("within days"), minimum=0, maximum=90))
def _birthday_soon(p, t, names):
    return t(N_("birthday today")) if p["days"] == 0 else t(N_("birthday within %(days)s days"), days=p["days"])


@_birthday_soon.sql
def _birthday_soon_where(p, ctx):
    """Today to today + days in the merchant's zone; a lunar birthday counts on its solar date."""
    solar_keys, lunar_keys = birthday_keys_between(ctx.today, ctx.today + timedelta(days=p["days"]))
    # the months again, around the whole: so the birthday month's index can search a window
    # alone (it walked every member: 0.23 s of CPU at a million)
    months = sorted({key // 100 for key in solar_keys | lunar_keys})
    return sa.and_(Member.birthday_month.in_(months),
                   sa.or_(*_birthdays_on(solar_keys, "solar"), *_birthdays_on(lunar_keys, "lunar")))


# -- points and visits ----------------------------------------------------------------------------

@condition("points", N_("Points balance"), N_("Points and visits"), _MIN, _MAX, check=_check_range)
def _points(p, t, names):
    return t(N_("points %(range)s"), range=_range(p, t))


@_points.sql
def _points_where(p, ctx):
    return sa.and_(sa.true(), *([Member.points_balance >= p["min"]] if p.get("min") is not None else []),
                   *([Member.points_balance <= p["max"]] if p.get("max") is not None else []))


@condition("points_expiring", N_("Points expiring"), N_("Points and visits"),
           Param("days", "int", N_("within days"), minimum=1, maximum=366),
           Param("min", "int", N_("at least"), default=1, minimum=1))
def _points_expiring(p, t, names):
    if p["min"] == 1:
        return t(N_("points expiring within %(days)s days"), days=p["days"])
    return t(N_("at least %(points)s points expiring within %(days)s days"), points=p["min"], days=p["days"])


@_points_expiring.sql
def _points_expiring_where(p, ctx):
    """The points service's first-in-first-out sum: lots lapsed by the horizon beyond all debits."""
    horizon = ctx.now + timedelta(days=p["days"])
    lapsing = sa.func.sum(sa.case((sa.and_(IS_CREDIT, PointsEntry.expires_at <= horizon), PointsEntry.points),
                                  else_=0))
    debits = sa.func.sum(sa.case((IS_CREDIT, 0), else_=-PointsEntry.points))
    return Member.id.in_(sa.select(PointsEntry.member_id).where(PointsEntry.merchant_id == ctx.merchant_id)
                         .group_by(PointsEntry.member_id).having(lapsing - debits >= p["min"]))


@condition("last_visit", N_("Last visit"), N_("Points and visits"),
           Param("op", "choice", N_("when"), default="within",
                 choices=(("within", N_("visited in the last")), ("not_within", N_("no visit in the last")))),
           Param("days", "int", N_("days"), minimum=1, maximum=3660))
def _last_visit(p, t, names):
    template = N_("visited in the last %(days)s days") if p["op"] == "within" \
        else N_("no visit in the last %(days)s days")
    return t(template, days=p["days"])


@_last_visit.sql
def _last_visit_where(p, ctx):
    since = ctx.now - timedelta(days=p["days"])
    visited = sa.and_(Member.last_visit_at.is_not(None), Member.last_visit_at >= since)
    return visited if p["op"] == "within" else sa.not_(visited)


def _purchases(ctx: Context, period):
    """Purchases recorded at this merchant in the period that were not voided, grouped by member.

    Read from the purchases' partial index (its condition IS_PURCHASE said as it is); the
    voided ones are left out with one uncorrelated list of the few voided ids rather than a lookup
    per purchase (1.9 s of the 2.6 s at a million members)."""
    void = sa.orm.aliased(PointsEntry)
    voided = sa.select(void.voids_entry_id).where(void.voids_entry_id.is_not(None))
    return sa.select(PointsEntry.member_id).where(
        PointsEntry.merchant_id == ctx.merchant_id, IS_PURCHASE, PointsEntry.id.not_in(voided),
        *ctx.in_period(PointsEntry.created_at, period)).group_by(PointsEntry.member_id)


def _aggregate_within(aggregate, low, high, ctx, period):
    """Members whose aggregate over their purchases lies in [low, high]. ``low`` is None unless the
    minimum is above 0: members without a purchase count as 0, so then "at most" keeps them."""
    if low is not None:
        having = [aggregate >= low] + ([aggregate <= high] if high is not None else [])
        return Member.id.in_(_purchases(ctx, period).having(*having))
    if high is None:
        return sa.true()
    return sa.not_(Member.id.in_(_purchases(ctx, period).having(aggregate > high)))


@condition("visits", N_("Visits"), N_("Points and visits"), _MIN, _MAX, _PERIOD, check=_check_range)
def _visits(p, t, names):
    return _with_period(t(N_("visits %(range)s"), range=_range(p, t)), p, t)


@_visits.sql
def _visits_where(p, ctx):
    """At least k visits (k up to three) since a moment, or ever: the member's k-th latest purchase
    time (``members.PURCHASE_TIMES``, indexed) at or after it. Otherwise the purchases counted."""
    low, period = p.get("min") or None, p.get("period") or {}
    if low is not None and low <= len(PURCHASE_TIMES) and p.get("max") is None and "to" not in period:
        moment = getattr(Member, PURCHASE_TIMES[low - 1])
        start, _end = ctx.period_bounds(period)
        return sa.and_(moment.is_not(None), *([moment >= start] if start else []))
    return _aggregate_within(sa.func.count(), low, p.get("max"), ctx, p.get("period"))


@condition("spend", N_("Spend"), N_("Points and visits"),
           Param("min", "money", N_("at least ¥"), required=False),
           Param("max", "money", N_("at most ¥"), required=False), _PERIOD, check=_check_range)
def _spend(p, t, names):
    if not p.get("period"):
        return t(N_("total spend %(range)s"), range=_range(p, t, _yuan))
    return _with_period(t(N_("spend %(range)s"), range=_range(p, t, _yuan)), p, t)


@_spend.sql
def _spend_where(p, ctx):
    """Without a period: the member's total spend (as the member list shows it); with one: the sum of
    the purchases in it."""
    low = sa.cast(p["min"], PointsEntry.amount.type) if p.get("min") is not None else None
    high = sa.cast(p["max"], PointsEntry.amount.type) if p.get("max") is not None else None
    if not p.get("period"):
        return sa.and_(sa.true(), *([Member.total_spend >= low] if low is not None else []),
                       *([Member.total_spend <= high] if high is not None else []))
    positive = low if low is not None and float(p["min"]) > 0 else None
    return _aggregate_within(sa.func.sum(PointsEntry.amount), positive, high, ctx, p["period"])


# -- coupons, keyword apps, feedback --------------------------------------------------------------

def _texted(numbers) -> sa.ColumnElement[bool]:
    return Member.msisdn.in_(numbers)


@condition("coupons", N_("Coupons"), N_("Activity"),
           Param("state", "choice", N_("coupon"), default="held",
                 choices=(("held", N_("holds unused")), ("redeemed", N_("redeemed")))),
           Param("app_id", "ref", N_("coupon app"), required=False, source="coupon_apps"), _PERIOD)
def _coupons(p, t, names):
    app = names.get(("coupon_apps", p.get("app_id")))
    if p["state"] == "held":
        what = t(N_("holds an unused coupon of %(app)s"), app=app) if app else t(N_("holds an unused coupon"))
    else:
        what = t(N_("redeemed a coupon of %(app)s"), app=app) if app else t(N_("redeemed a coupon"))
    return _with_period(what, p, t)


@_coupons.sql
def _coupons_where(p, ctx):
    """Held: issued, not redeemed and not expired (period: when issued); redeemed: when redeemed."""
    where = [CouponCode.merchant_id == ctx.merchant_id, CouponCode.msisdn.is_not(None)]
    if p.get("app_id"):
        where.append(CouponCode.app_id == p["app_id"])
    if p["state"] == "held":
        where += [CouponCode.redeemed_at.is_(None),
                  sa.or_(CouponCode.expires_at.is_(None), CouponCode.expires_at > ctx.now),
                  *ctx.in_period(CouponCode.issued_at, p.get("period"))]
    else:
        where += [CouponCode.redeemed_at.is_not(None), *ctx.in_period(CouponCode.redeemed_at, p.get("period"))]
    return _texted(sa.select(CouponCode.msisdn).where(*where))


_ACTIVITIES = {"voted": (PollVote, N_("voted"), N_("voted in %(app)s")),
               "signed_up": (EventSignup, N_("signed up for an event"), N_("signed up for %(app)s")),
               "used": (KeywordUse, N_("texted a keyword app"), N_("texted %(app)s"))}


@condition("keyword_app", N_("Keyword apps"), N_("Activity"),
           Param("activity", "choice", N_("activity"), default="voted",
                 choices=(("voted", N_("voted")), ("signed_up", N_("signed up")), ("used", N_("texted")))),
           Param("app_id", "ref", N_("app"), required=False, source="keyword_apps"), _PERIOD)
def _keyword_app(p, t, names):
    _model, anything, one = _ACTIVITIES[p["activity"]]
    app = names.get(("keyword_apps", p.get("app_id")))
    return _with_period(t(one, app=app) if app else t(anything), p, t)


@_keyword_app.sql
def _keyword_app_where(p, ctx):
    model = _ACTIVITIES[p["activity"]][0]
    numbers = sa.select(model.msisdn).join(KeywordApp, KeywordApp.id == model.app_id).where(
        KeywordApp.merchant_id == ctx.merchant_id, *ctx.in_period(model.created_at, p.get("period")))
    if p.get("app_id"):
        numbers = numbers.where(model.app_id == p["app_id"])
    return _texted(numbers)


_FEEDBACK = {"any": N_("sent feedback"), TicketKind.SUGGESTION: N_("sent a suggestion"),
             TicketKind.COMPLAINT: N_("sent a complaint"), TicketKind.PRAISE: N_("sent praise")}


@condition("feedback", N_("Feedback"), N_("Activity"),
           Param("kind", "choice", N_("kind"), default="any",
                 choices=(("any", N_("any")), (TicketKind.SUGGESTION, N_("suggestion")),
                          (TicketKind.COMPLAINT, N_("complaint")), (TicketKind.PRAISE, N_("praise")))),
           _PERIOD)
def _feedback(p, t, names):
    return _with_period(t(_FEEDBACK[p["kind"]]), p, t)


@_feedback.sql
def _feedback_where(p, ctx):
    numbers = sa.select(FeedbackTicket.msisdn).where(FeedbackTicket.merchant_id == ctx.merchant_id,
                                                     *ctx.in_period(FeedbackTicket.received_at, p.get("period")))
    if p["kind"] != "any":
        numbers = numbers.where(FeedbackTicket.kind == p["kind"])
    return _texted(numbers)


# -- what the builder offers --------------------------------------------------------------------

#: the builder lists this many tags at most; a segment may still name any tag
TAG_CHOICES = 200


def _tier_options(merchant_id: int) -> list[tuple]:
    merchant = db.session.get(Merchant, merchant_id)
    return [(name, name) for name, _threshold in sorted(merchant.tier_thresholds, key=lambda t: t[1])]


def _tag_options(merchant_id: int) -> list[tuple]:
    tags = db.session.scalars(sa.select(MemberTag.tag).where(MemberTag.merchant_id == merchant_id)
                              .distinct().order_by(MemberTag.tag).limit(TAG_CHOICES))
    return [(tag, tag) for tag in tags]


def _app_options(*kinds):
    def options(merchant_id: int) -> list[tuple]:
        query = sa.select(KeywordApp.id, KeywordApp.name).where(KeywordApp.merchant_id == merchant_id)
        if kinds:
            query = query.where(KeywordApp.kind.in_(kinds))
        return [tuple(row) for row in db.session.execute(query.order_by(KeywordApp.name, KeywordApp.id))]
    return options


register_source("tiers", _tier_options)
register_source("tags", _tag_options)
register_source("coupon_apps", _app_options(AppKind.COUPON))
register_source("keyword_apps", _app_options())
