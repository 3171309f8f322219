"""Care greetings: set them up, run the day's, show what went out today and what comes next.

A greeting's day of sending is ``days_before`` ahead of its occasion (a birthday, a festival, an
anniversary). The daily run selects the members whose occasion it is, in batches by member id, and
hands each batch to ``messaging.services.enqueue_marketing_batch``, the campaigns' path: opt-outs,
invalid numbers, the frequency cap, the window and once per occasion hold as for any marketing
text. Every row's idempotency key names the greeting, the occasion's year and the member, and the
run's ``last_member_id`` moves on in the same transaction as its rows, so a job run twice, or
killed mid-run and started again, sends one greeting and gives one gift per member and occasion.
Services flush; ``run_due_greetings`` (the job's work) commits after each batch.
"""
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mcrm.campaigns.services import (NO_COUPON_LEFT, ROW_FIELDS, MemberRow, check_body, get_coupon_app,
                                     issue_batch_coupons, put_coupon)
from mcrm.care.calendar import (FESTIVALS_BY_CODE, StatutoryDay, festival_date, lunar_birthdays_on, lunar_year_of,
                                solar_birthdays_on, statutory_days)
from mcrm.care.models import CareCoupon, CareGreeting, CareKind, CareMemberTier, CareRun, RunStatus
from mcrm.core.errors import NotFoundError, ValidationError
from mcrm.core.templates import compile_template
from mcrm.extensions import db
from mcrm.keywords.fields import member_values
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import MessageKind, MessageStatus, OutboundMessage
from mcrm.messaging.services import Suppressed, enqueue_marketing_batch, enqueue_sms
from mcrm.points.models import IS_CREDIT, EntryKind, PointsEntry
from mcrm.points.services import SYSTEM, expiring_points_of, grant_points

logger = logging.getLogger(__name__)

#: members queued per transaction (as a campaign's batch)
BATCH_SIZE = 5000
MAX_DAYS_BEFORE = 30
MAX_GIFT_POINTS = 100_000
#: days the console's plan looks ahead, today included
PLAN_DAYS = 7
#: the outbox occasions of greetings start with this
OCCASION_PREFIX = "care:"
#: kinds that are one per merchant (the others have a code: the festival, the named day's name)
_SINGLE = (CareKind.BIRTHDAY, CareKind.STORE_ANNIVERSARY, CareKind.JOIN_ANNIVERSARY, CareKind.POINTS_EXPIRING)
#: kinds whose ``code`` is a tier ("" for every tier without a greeting of its own)
PER_TIER = (CareKind.WIN_BACK, CareKind.CHURN)
#: notices of the member's own account: transactional (docs/sending.md), every other kind is marketing
TRANSACTIONAL = (CareKind.POINTS_EXPIRING, CareKind.TIER_CHANGE)
TIER_UP, TIER_DOWN = "up", "down"
#: the bounds of ``days`` (and of the churn's ``drop_percent``) per kind, with their defaults
DAYS = {CareKind.WIN_BACK: (7, 730, 90), CareKind.CHURN: (7, 366, 30), CareKind.POINTS_EXPIRING: (1, 90, 7)}
DEFAULT_DROP_PERCENT = 50
#: the default text of a greeting switched on for the first time
DEFAULT_BODIES = {
    CareKind.BIRTHDAY: "{name}，祝您生日快乐！{shop}为您准备了生日礼遇，欢迎到店。",
    CareKind.FESTIVAL: "{name}，{shop}祝您节日快乐！",
    CareKind.STORE_ANNIVERSARY: "{name}，{shop}周年庆，感谢一路相伴！",
    CareKind.JOIN_ANNIVERSARY: "{name}，今天是您加入{shop}的纪念日，感谢支持！",
    CareKind.NAMED_DAY: "{name}，{shop}邀您共度特别的日子！",
    CareKind.WIN_BACK: "{name}，好久不见！{shop}想念您，欢迎回来看看。",
    CareKind.CHURN: "{name}，{shop}为您准备了会员专享礼遇，期待您再次光临。",
    CareKind.POINTS_EXPIRING: "{name}，您有{expiring_points}积分即将到期，请尽快到店使用。",
    CareKind.TIER_CHANGE: "{name}，您的会员等级已调整为{tier}。",
}


# -- setting up -----------------------------------------------------------------------------------

def list_greetings(merchant: Merchant) -> list[CareGreeting]:
    return list(db.session.scalars(sa.select(CareGreeting).where(CareGreeting.merchant_id == merchant.id)
                                   .order_by(CareGreeting.kind, CareGreeting.code, CareGreeting.id)))


def get_greeting(merchant: Merchant, greeting_id: int) -> CareGreeting:
    greeting = db.session.get(CareGreeting, greeting_id)
    if greeting is None or greeting.merchant_id != merchant.id:
        raise NotFoundError("No such greeting")
    return greeting


def greeting_name(greeting: CareGreeting) -> str:
    """The greeting in words for lists (Chinese, as the occasions are): 生日, 中秋, the named day."""
    if greeting.kind is CareKind.FESTIVAL:
        return FESTIVALS_BY_CODE[greeting.code].name
    if greeting.kind is CareKind.NAMED_DAY:
        return greeting.code
    if greeting.kind is CareKind.TIER_CHANGE:
        return "等级升级" if greeting.code == TIER_UP else "等级降级"
    name = {CareKind.BIRTHDAY: "生日", CareKind.STORE_ANNIVERSARY: "店庆", CareKind.JOIN_ANNIVERSARY: "入会纪念日",
            CareKind.WIN_BACK: "唤回", CareKind.CHURN: "流失预警", CareKind.POINTS_EXPIRING: "积分到期提醒"}[greeting.kind]
    return f"{name}·{greeting.code}" if greeting.code else name


def _kind(value) -> CareKind:
    try:
        return CareKind(value)
    except ValueError:
        raise ValidationError("Unknown greeting kind %(kind)s", kind=str(value)) from None


def _code(merchant: Merchant, kind: CareKind, code: str) -> str:
    code = " ".join((code or "").split())
    if kind in PER_TIER and code and code not in _tiers(merchant):
        raise ValidationError("No tier %(tier)s: the tiers are %(tiers)s", tier=code,
                              tiers=" ".join(sorted(_tiers(merchant))))
    if kind is CareKind.TIER_CHANGE and code not in (TIER_UP, TIER_DOWN):
        raise ValidationError("A tier notice is for going up or going down")
    if kind is CareKind.FESTIVAL and code not in FESTIVALS_BY_CODE:
        raise ValidationError("Unknown festival %(code)s", code=code)
    if kind is CareKind.NAMED_DAY and not 0 < len(code) <= 40:
        raise ValidationError("Give the day a name of at most 40 characters")
    return "" if kind in _SINGLE else code


def _whole(value, low: int, high: int, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise ValidationError("%(what)s is a whole number from %(low)s to %(high)s", what=what, low=low, high=high)
    return number


def _tiers(merchant: Merchant) -> set[str]:
    return {name for name, _score in merchant.tier_thresholds}


def _tier_gifts(merchant: Merchant, gifts) -> dict:
    tiers = _tiers(merchant)
    checked = {}
    for tier, points in (gifts or {}).items():
        if tier not in tiers:
            raise ValidationError("No tier %(tier)s: the tiers are %(tiers)s", tier=tier, tiers=" ".join(sorted(tiers)))
        checked[tier] = _whole(points, 0, MAX_GIFT_POINTS, tier)
    return checked


def parse_tier_gifts(text: str) -> dict:
    """``金卡=200 白金卡=300`` (spaces, commas or 、 between) as ``{"金卡": "200", …}``; checked on save."""
    gifts = {}
    for item in re.split(r"[\s,，、;；]+", (text or "").strip()):
        if item:
            tier, equals, points = item.replace("＝", "=").partition("=")
            if not equals or not tier:
                raise ValidationError("Write tier gifts as tier=points, for example 金卡=200")
            gifts[tier] = points
    return gifts


def save_greeting(merchant: Merchant, *, kind, code: str = "", enabled: bool, body: str, hour=10,
                  days_before=0, gift_points=0, gift_points_by_tier: dict | None = None,
                  coupon_app_id: int | None = None, on_date: date | None = None, yearly: bool = True,
                  days=None, drop_percent=None, now: datetime) -> CareGreeting:
    """Switch a greeting on or off and set it, after every check (ValidationError): the text (known
    member fields; ``{coupon}`` exactly when a coupon app is chosen), the local hour 0–23, days
    before 0–30, gift points (and per tier: only the merchant's tiers), the store's or the named
    day's date, the days of win-back, churn and points expiring (``DAYS``), the churn's drop 1–100 %.
    One greeting per kind and code: saving it again changes it. Flushes."""
    kind = _kind(kind)
    code = _code(merchant, kind, code)
    low, high, default_days = DAYS.get(kind, (0, 0, 0))
    days = _whole(default_days if days is None else days, low, high, "days")
    drop = DEFAULT_DROP_PERCENT if drop_percent is None else drop_percent
    drop = _whole(drop, 1, 100, "drop %") if kind is CareKind.CHURN else 0
    coupon_app = get_coupon_app(merchant, coupon_app_id)
    dated = kind in (CareKind.STORE_ANNIVERSARY, CareKind.NAMED_DAY)
    if dated and on_date is None:
        raise ValidationError("Give the date of the day")
    values = dict(body=check_body(body, coupon_app), coupon_app_id=coupon_app.id if coupon_app else None,
                  hour=_whole(hour, 0, 23, "hour"), days_before=_whole(days_before, 0, MAX_DAYS_BEFORE, "days before"),
                  gift_points=_whole(gift_points or 0, 0, MAX_GIFT_POINTS, "gift points"),
                  gift_points_by_tier=_tier_gifts(merchant, gift_points_by_tier),
                  on_date=on_date if dated else None, yearly=bool(yearly) if kind is CareKind.NAMED_DAY else True,
                  days=days, drop_percent=drop, enabled=bool(enabled), updated_at=now)
    greeting = db.session.scalar(sa.select(CareGreeting).where(
        CareGreeting.merchant_id == merchant.id, CareGreeting.kind == kind, CareGreeting.code == code))
    if greeting is None:
        greeting = CareGreeting(merchant_id=merchant.id, kind=kind, code=code, created_at=now)
        db.session.add(greeting)
    for key, value in values.items():
        setattr(greeting, key, value)
    db.session.flush()
    return greeting


# -- whose day it is ------------------------------------------------------------------------------

class Audience(NamedTuple):
    """The members a greeting reaches on a day, and the year each one's occasion counts in: a SQL
    condition and a SQL expression for the occasion's label."""
    condition: sa.ColumnElement
    label: sa.ColumnElement


def _local(merchant: Merchant, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(merchant.timezone))


def _same_day_every_year(on: date, target: date) -> bool:
    """``target`` is ``on``'s anniversary (29 February is kept on 28 February in a common year)."""
    return target.year > on.year and target.month == on.month and on.day in solar_birthdays_on(target)


def audience(merchant: Merchant, greeting: CareGreeting, day: date) -> Audience | None:
    """Whom ``greeting`` greets when it runs on local ``day`` (its occasion is ``days_before``
    later), or None when it is nobody's occasion."""
    target = day + timedelta(days=greeting.days_before)
    everyone = Audience(sa.true(), sa.literal(str(target.year)))
    if greeting.kind is CareKind.BIRTHDAY:
        return _birthdays(target)
    if greeting.kind is CareKind.FESTIVAL:
        return everyone if festival_date(greeting.code, target.year) == target else None
    if greeting.kind is CareKind.STORE_ANNIVERSARY:
        return everyone if _same_day_every_year(greeting.on_date, target) else None
    if greeting.kind is CareKind.NAMED_DAY:
        due = _same_day_every_year(greeting.on_date, target) if greeting.yearly else False
        return everyone if due or greeting.on_date == target else None
    if greeting.kind is CareKind.WIN_BACK:
        return _win_back(merchant, greeting, day)
    if greeting.kind is CareKind.CHURN:
        return _churn(merchant, greeting, day)
    if greeting.kind is CareKind.POINTS_EXPIRING:
        return _points_expiring(merchant, greeting, day)
    if greeting.kind is CareKind.TIER_CHANGE:
        return _tier_changed(merchant, greeting, day)
    return _join_anniversaries(merchant, target)


def _midnight(merchant: Merchant, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(merchant.timezone))


def _tier_scope(merchant: Merchant, greeting: CareGreeting) -> sa.ColumnElement:
    """A tier's own win-back or churn greeting takes its members; the one for every tier ("") takes
    the members of the tiers that have no switched-on greeting of their own."""
    if greeting.code:
        return Member.tier == greeting.code
    own = sa.select(CareGreeting.code).where(CareGreeting.merchant_id == merchant.id, CareGreeting.kind == greeting.kind,
                                             CareGreeting.enabled.is_(True), CareGreeting.code != "")
    return Member.tier.not_in(own)


def _win_back(merchant: Merchant, greeting: CareGreeting, day: date) -> Audience:
    """Members whose last visit (or joining, for one who never came) is ``days`` or more local days
    back. The occasion is that last visit: one win-back per absence, a new one after the next."""
    last = sa.func.coalesce(Member.last_visit_at, Member.joined_at)
    cutoff = _midnight(merchant, day - timedelta(days=greeting.days - 1))
    return Audience(sa.and_(_tier_scope(merchant, greeting), last < cutoff), last)


def _spend_in(since: datetime, until: datetime) -> sa.ScalarSelect:
    """The member's purchases in [since, until), a void netting out the purchase it reverses (a
    void is an earn entry with the opposite amount), through the member's ledger index."""
    return (sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.amount), 0))
            .where(PointsEntry.member_id == Member.id, PointsEntry.kind == EntryKind.EARN,
                   PointsEntry.created_at >= since, PointsEntry.created_at < until).scalar_subquery())


def churn_periods(merchant: Merchant, greeting: CareGreeting, day: date) -> tuple[int, list[datetime]]:
    """The churn's periods at local ``day``: ``days``-day periods counted from day one of the
    calendar (so every run of a period compares the same two), the last one that ended before
    ``day`` and the one before it. Returns the current period's number and the three bounds."""
    current = day.toordinal() // greeting.days
    bounds = [_midnight(merchant, date.fromordinal(period * greeting.days)) for period in
              (current - 2, current - 1, current)]
    return current, bounds


def _churn(merchant: Merchant, greeting: CareGreeting, day: date) -> Audience:
    """Members who spent in the period before last and whose last period's spend fell by at least
    ``drop_percent`` % against it (to nothing too). One occasion per member and period."""
    current, (start, middle, end) = churn_periods(merchant, greeting, day)
    before, last = _spend_in(start, middle), _spend_in(middle, end)
    fell = sa.and_(before > 0, last * 100 <= before * (100 - greeting.drop_percent))
    return Audience(sa.and_(_tier_scope(merchant, greeting), fell), sa.literal(f"p{current}"))


def _points_expiring(merchant: Merchant, greeting: CareGreeting, day: date) -> Audience:
    """Members with points that lapse from ``day`` to ``days`` days later (local days); whether any
    are left beyond what the member spent is decided per batch (``expiring_points_of``). The
    occasion is the first lapse date, so one notice per lapse."""
    start, end = _midnight(merchant, day), _midnight(merchant, day + timedelta(days=greeting.days + 1))
    lapsing = sa.and_(PointsEntry.member_id == Member.id, IS_CREDIT, PointsEntry.expires_at >= start,
                      PointsEntry.expires_at < end)
    first = sa.select(sa.func.min(PointsEntry.expires_at)).where(lapsing).scalar_subquery()
    return Audience(sa.exists().where(lapsing), first)


def _tier_rank(merchant: Merchant, column) -> sa.ColumnElement:
    ranks = {name: rank for rank, (name, _score) in
             enumerate(sorted(merchant.tier_thresholds, key=lambda tier: tier[1]), start=1)}
    return sa.case(ranks, value=column, else_=0)


def _tier_changed(merchant: Merchant, greeting: CareGreeting, day: date) -> Audience:
    """Members whose tier is higher (``up``) or lower (``down``) than the one their last notice
    saw. The occasion is the month and the new tier: one notice per change."""
    seen = _tier_rank(merchant, CareMemberTier.tier)
    now_rank = _tier_rank(merchant, Member.tier)
    moved = now_rank > seen if greeting.code == TIER_UP else now_rank < seen
    changed = sa.exists().where(CareMemberTier.member_id == Member.id, moved)
    return Audience(changed, sa.literal(f"{day:%Y%m}-") + Member.tier)


def _look_at_tiers(merchant: Merchant) -> None:
    """A member the tier notices have not seen yet is seen in the tier it has now (no notice: it
    did not change); a notice goes only for a change after that."""
    unseen = sa.select(Member.id, Member.merchant_id, Member.tier).where(
        Member.merchant_id == merchant.id, Member.deleted_at.is_(None),
        ~sa.exists().where(CareMemberTier.member_id == Member.id))
    db.session.execute(sa.insert(CareMemberTier).from_select(["member_id", "merchant_id", "tier"], unseen))


def _birthdays(target: date) -> Audience:
    """Solar birthdays on ``target`` (and 29 February's on a common year's 28th), lunar birthdays
    whose lunar month and day fall on it; a lunar birthday's occasion counts in its lunar year."""
    solar = sa.and_(Member.birthday_is_lunar.is_(False), Member.birthday_month == target.month,
                    sa.extract("day", Member.birthday).in_(solar_birthdays_on(target)))
    lunar = lunar_birthdays_on(target)
    condition = solar if lunar is None else sa.or_(solar, sa.and_(
        Member.birthday_is_lunar.is_(True), Member.birthday_month == lunar[0],
        Member.birthday_lunar_day.in_(lunar[1])))
    label = sa.case((Member.birthday_is_lunar.is_(True), f"lunar{lunar_year_of(target)}"),
                    else_=str(target.year))
    return Audience(condition, label)


def _join_anniversaries(merchant: Merchant, target: date) -> Audience | None:
    """Members who joined on ``target``'s month and day (local time) in an earlier year: one range
    of ``joined_at`` per year, so the query stays on the index however many members there are."""
    first = db.session.scalar(sa.select(sa.func.min(Member.joined_at)).where(Member.merchant_id == merchant.id))
    if first is None:
        return None
    zone = ZoneInfo(merchant.timezone)
    ranges = []
    for year in range(first.astimezone(zone).year, target.year):
        for day in solar_birthdays_on(target):
            try:
                start = datetime.combine(date(year, target.month, day), time(0), tzinfo=zone)
            except ValueError:
                continue  # 29 February of a common year
            ranges.append(sa.and_(Member.joined_at >= start, Member.joined_at < start + timedelta(days=1)))
    if not ranges:
        return None
    return Audience(sa.or_(*ranges), sa.literal(str(target.year)))


def occasion_of(greeting: CareGreeting, label: str) -> str:
    """The outbox occasion: one message per number per greeting and year."""
    return f"{OCCASION_PREFIX}{greeting.id}:{label}"


# -- the daily run --------------------------------------------------------------------------------

def _due_greetings(merchant_id: int | None) -> list[CareGreeting]:
    query = sa.select(CareGreeting).join(Merchant, Merchant.id == CareGreeting.merchant_id).where(
        CareGreeting.enabled.is_(True), Merchant.is_active.is_(True)).order_by(CareGreeting.id)
    if merchant_id is not None:
        query = query.where(CareGreeting.merchant_id == merchant_id)
    return list(db.session.scalars(query))


def run_due_greetings(*, now: datetime, merchant_id: int | None = None, batch_size: int = BATCH_SIZE) -> int:
    """The job: every switched-on greeting whose local hour has come today runs for today, in
    batches, each committed (a run stopped half-way goes on from its last batch next time). Returns
    how many members' greetings were put in the outbox (queued or suppressed with the reason)."""
    total = 0
    for greeting_id in [greeting.id for greeting in _due_greetings(merchant_id)]:
        greeting = db.session.get(CareGreeting, greeting_id)
        merchant = db.session.get(Merchant, greeting.merchant_id)
        local = _local(merchant, now)
        if local.hour < greeting.hour:
            continue
        run_id = start_run(greeting, local.date(), now)
        db.session.commit()
        while run_id is not None:
            count = run_batch(run_id, now=now, batch_size=batch_size)
            db.session.commit()
            if not count:
                break
            total += count
        logger.info("care greeting %s: day %s done", greeting_id, local.date())
    return total


def start_run(greeting: CareGreeting, day: date, now: datetime) -> int | None:
    """The id of the greeting's run for ``day``, started now if there is none; None when it is done."""
    found = db.session.execute(sa.select(CareRun.id, CareRun.status).where(
        CareRun.greeting_id == greeting.id, CareRun.day == day)).first()
    if found is None:
        if greeting.kind is CareKind.TIER_CHANGE:
            _look_at_tiers(db.session.get(Merchant, greeting.merchant_id))
        try:
            with db.session.begin_nested():
                run = CareRun(greeting_id=greeting.id, merchant_id=greeting.merchant_id, day=day, started_at=now)
                db.session.add(run)
            return run.id
        except IntegrityError:  # another scheduler started it a moment ago
            return start_run(greeting, day, now)
    return None if found.status is RunStatus.DONE else found.id


_COLUMNS = (Member.id, Member.msisdn, Member.opted_out, Member.name, Member.points_balance, Member.tier)


def run_batch(run_id: int, *, now: datetime, batch_size: int = BATCH_SIZE) -> int | None:
    """Put the next batch of the run's members in the outbox, with their gifts (flushes; the caller
    commits). Returns how many, 0 when none is left (the run is then DONE), or None when the batch
    is not this process's: the run is done, or another process took this batch first (roll back).
    The batch starts by moving ``last_member_id`` on with a conditional UPDATE, which holds the
    run's row until the commit, as a campaign's batch does."""
    run = db.session.get(CareRun, run_id, populate_existing=True)
    if run is None or run.status is RunStatus.DONE:
        return None
    greeting = db.session.get(CareGreeting, run.greeting_id)
    merchant = db.session.get(Merchant, run.merchant_id)
    whom = audience(merchant, greeting, run.day)
    rows = [] if whom is None else db.session.execute(
        sa.select(*_COLUMNS, whom.label.label("label"))
        .where(Member.merchant_id == merchant.id, Member.deleted_at.is_(None), Member.id > run.last_member_id,
               whom.condition)
        .order_by(Member.id).limit(batch_size)).all()
    if not rows:
        run.status, run.finished_at = RunStatus.DONE, now
        db.session.flush()
        return 0
    taken = db.session.execute(
        sa.update(CareRun).where(CareRun.id == run.id, CareRun.last_member_id == run.last_member_id,
                                 CareRun.status == RunStatus.ENQUEUING)
        .values(last_member_id=rows[-1].id), execution_options={"synchronize_session": False}).rowcount
    if taken != 1:
        return None
    occasions = [occasion_of(greeting, _label_text(row.label)) for row in rows]
    keys = [f"{occasion}:{row.id:010d}" for occasion, row in zip(occasions, rows, strict=True)]
    if greeting.kind in TRANSACTIONAL:
        _send_notices(merchant, greeting, rows, keys, occasions, now)
    else:
        # one batch whatever the occasions: a win-back's is each member's last visit
        recipients = [(row.id, row.msisdn, row.opted_out) for row in rows]
        enqueue_marketing_batch(merchant, recipients, keys, _renderer(merchant, greeting, rows, occasions, now),
                                now=now, occasion=occasions)
        _give_points(merchant, greeting, rows, occasions, now)
    if greeting.kind is CareKind.TIER_CHANGE:
        seen = CareMemberTier.__table__
        db.session.execute(seen.update().where(seen.c.member_id == sa.bindparam("b_id"))
                           .values(tier=sa.bindparam("b_tier")), [{"b_id": row.id, "b_tier": row.tier} for row in rows])
    return len(rows)


def _label_text(label) -> str:
    """An occasion's label as text: a year, a period, or the day of a last visit or a lapse."""
    return f"{label:%Y%m%d}" if isinstance(label, datetime) else str(label)


def _row_values(merchant: Merchant, row, now: datetime) -> dict:
    values = member_values(MemberRow(row.id, row.name, row.points_balance, row.tier), now=now, wanted=ROW_FIELDS)
    values["shop"], values["expiring_points"] = merchant.name, 0
    return values


def _send_notices(merchant: Merchant, greeting: CareGreeting, rows: list, keys: list[str], occasions: list[str],
                  now: datetime) -> None:
    """Transactional notices of the member's own account, one ``enqueue_sms`` each: any hour, to
    opted-out members too, no cap (docs/sending.md); the idempotency key makes a second run's a
    no-op. A points notice goes only where points still lapse beyond what the member spent."""
    expiring = (expiring_points_of([row.id for row in rows], now=now, days=greeting.days + 1)
                if greeting.kind is CareKind.POINTS_EXPIRING else {})
    members = {member.id: member for member in db.session.scalars(
        sa.select(Member).where(Member.id.in_([row.id for row in rows])))}
    fill = compile_template(greeting.body)
    for row, key, occasion in zip(rows, keys, occasions, strict=True):
        values = _row_values(merchant, row, now)
        if greeting.kind is CareKind.POINTS_EXPIRING:
            values["expiring_points"] = expiring.get(row.id, 0)
            if not values["expiring_points"]:
                continue
        try:
            enqueue_sms(merchant, msisdn=row.msisdn, body=fill(values), kind=MessageKind.TRANSACTIONAL, now=now,
                        member=members[row.id], idempotency_key=key, occasion=occasion)
        except ValidationError as error:  # a number that cannot get SMS: the others still go
            logger.info("care notice %s: member %s skipped: %s", greeting.id, row.id, error.message)


def _renderer(merchant: Merchant, greeting: CareGreeting, rows: list, occasions: list[str], now: datetime):
    """The batch's ``render``: each member's text, and a coupon for each member whose greeting
    will go (recorded against the occasion, so a repeated run never issues a second)."""
    coupon_app = get_coupon_app(merchant, greeting.coupon_app_id) if greeting.coupon_app_id else None

    def render(recipients, kept: list[bool]) -> list:
        coupons = {}
        if coupon_app is not None:
            coupons = issue_batch_coupons(coupon_app, merchant, rows, kept, now=now)
            if coupons:
                occasion_of_member = {row.id: occasion for row, occasion in zip(rows, occasions, strict=True)}
                db.session.execute(sa.insert(CareCoupon), [
                    {"occasion": occasion_of_member[member_id], "member_id": member_id, "coupon_id": coupon.id}
                    for member_id, coupon in coupons.items()])
        fill = compile_template(greeting.body)
        bodies: list = []
        for row, keep in zip(rows, kept, strict=True):
            values = _row_values(merchant, row, now)
            if coupon_app is not None and not put_coupon(values, coupons.get(row.id), keep, merchant):
                bodies.append(Suppressed(NO_COUPON_LEFT))
                continue
            bodies.append(fill(values))
        return bodies
    return render


def gift_for(greeting: CareGreeting, tier: str) -> int:
    """The points a member of ``tier`` gets with the greeting: the tier's own, else the greeting's."""
    return int(greeting.gift_points_by_tier.get(tier, greeting.gift_points)) if tier else greeting.gift_points


def _give_points(merchant: Merchant, greeting: CareGreeting, rows: list, occasions: list[str], now: datetime) -> None:
    """The greeting's points, once per member and occasion (the ledger's idempotency key). Every
    member whose day it is gets them, whether or not the text may go (opted out, capped): the gift
    is the member's benefit, the text only tells of it."""
    gifts = {row.id: gift_for(greeting, row.tier) for row in rows}
    occasion_of_member = {row.id: occasion for row, occasion in zip(rows, occasions, strict=True)}
    due = [member_id for member_id, points in gifts.items() if points > 0]
    if not due:
        return
    reason = f"{greeting_name(greeting)}礼遇"
    for member in db.session.scalars(sa.select(Member).where(Member.id.in_(due)).order_by(Member.id)):
        grant_points(member, merchant, gifts[member.id], reason=reason, actor=SYSTEM, now=now,
                     idempotency_key=f"{occasion_of_member[member.id]}:{member.id}")


# -- the console's view of today and the week -----------------------------------------------------

@dataclass
class Planned:
    day: date
    greeting: CareGreeting
    name: str
    members: int


@dataclass
class Outlook:
    #: per greeting id: counts of today's greetings by outcome (queued, sent, suppressed …)
    today: dict[int, Counter]
    planned: list[Planned]
    statutory: list[StatutoryDay]


def outlook(merchant: Merchant, *, now: datetime, days: int = PLAN_DAYS) -> Outlook:
    """What went out today (outbox rows of greetings created today, by greeting and status) and
    what the next ``days`` days (today included) will send, with the statutory days among them."""
    local = _local(merchant, now)
    today = local.date()
    start = datetime.combine(today, time(0), tzinfo=local.tzinfo)
    sent: dict[int, Counter] = defaultdict(Counter)
    for occasion, status, count in db.session.execute(
            sa.select(OutboundMessage.occasion, OutboundMessage.status, sa.func.count())
            .where(OutboundMessage.merchant_id == merchant.id, OutboundMessage.occasion.like(f"{OCCASION_PREFIX}%"),
                   OutboundMessage.created_at >= start, OutboundMessage.created_at < start + timedelta(days=1))
            .group_by(OutboundMessage.occasion, OutboundMessage.status)):
        sent[int(occasion.split(":")[1])][MessageStatus(status).value] += count
    planned = []
    for greeting in (greeting for greeting in list_greetings(merchant) if greeting.enabled):
        # today's has gone when its hour has (it shows above)
        first = today + timedelta(days=1 if local.hour >= greeting.hour else 0)
        for day in (first + timedelta(days=n) for n in range((today + timedelta(days=days) - first).days)):
            whom = audience(merchant, greeting, day)
            if whom is None:
                continue
            conditions = [whom.condition, _not_reached(greeting, whom)]
            # a member of the day before with the same occasion is greeted that day, not this one
            # (IS NOT TRUE: a NULL there is no match, not a reason to leave the member out)
            before = audience(merchant, greeting, day - timedelta(days=1)) if day > first else None
            if before is not None:
                conditions.append(sa.and_(before.condition, before.label == whom.label).is_not(True))
            members = db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(
                Member.merchant_id == merchant.id, Member.deleted_at.is_(None), *conditions))
            if members:
                planned.append(Planned(day, greeting, greeting_name(greeting), members))
    planned.sort(key=lambda plan: (plan.day, plan.greeting.kind, plan.greeting.code, plan.greeting.id))
    return Outlook(dict(sent), planned, statutory_days(today, today + timedelta(days=days - 1)))


def _not_reached(greeting: CareGreeting, whom: Audience) -> sa.ColumnElement:
    """Members the greeting has not reached yet for this occasion, for the plan: the job skips one
    it has reached (the outbox key is taken), and a win-back's absence or a churn's period spans
    many days. A win-back has reached a member when it went after the last visit (its occasion);
    an occasion written as text (a year, a period, a month and tier) is matched whole; a points
    notice's (a lapse date) is not matched here, only by the day before in ``outlook``."""
    sent = sa.and_(OutboundMessage.merchant_id == greeting.merchant_id, OutboundMessage.member_id == Member.id)
    if greeting.kind is CareKind.WIN_BACK:
        return ~sa.exists().where(sent, OutboundMessage.occasion.like(f"{OCCASION_PREFIX}{greeting.id}:%"),
                                  OutboundMessage.created_at >= whom.label)
    if isinstance(whom.label.type, sa.String):
        return ~sa.exists().where(sent, OutboundMessage.occasion == sa.literal(f"{OCCASION_PREFIX}{greeting.id}:")
                                  + whom.label)
    return sa.true()


# -- the staff's call list ------------------------------------------------------------------------

def list_to_call(merchant: Merchant, *, now: datetime) -> Iterator[tuple[str, sa.Row]]:
    """The members the switched-on win-back and churn greetings reach today, for staff to call:
    (the greeting's name, the member's row), streamed in member id order per greeting."""
    today = _local(merchant, now).date()
    for greeting in list_greetings(merchant):
        if not greeting.enabled or greeting.kind not in PER_TIER:
            continue
        whom = audience(merchant, greeting, today)
        rows = db.session.execute(
            sa.select(Member.id, Member.name, Member.msisdn, Member.tier, Member.last_visit_at, Member.total_spend)
            .where(Member.merchant_id == merchant.id, Member.deleted_at.is_(None), whom.condition)
            .order_by(Member.id).execution_options(yield_per=1000))
        name = greeting_name(greeting)
        for row in rows:
            yield name, row
