"""Wizard app kinds: auto-reply, coupon, vote, info query, event sign-up.

Each kind declares its reply texts (default and placeholders) in ``REPLIES`` and a handler
``handler(app, ctx) -> bool`` that answers the texter and says whether the text counted as a use
(toward the app's per-number limit and usage count).
"""
from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mcrm.core.errors import ConflictError, DomainError, NotFoundError, ValidationError
from mcrm.core.templates import render_template
from mcrm.core.text import fold, to_half_width
from mcrm.extensions import db
from mcrm.keywords.context import Context, per_transaction
from mcrm.keywords.fields import MEMBER_FIELDS, member_values
from mcrm.keywords.models import (AppKind, AppStatus, CouponCode, EventSignup, InfoRow, KeywordApp, KeywordUse,
                                  PollVote, SignupStatus)
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.messaging.services import enqueue_sms

#: unambiguous characters for generated coupon codes (no 0/O, 1/I/L)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LIMIT_REPLY = ("您已达到参与次数上限，感谢支持！", MEMBER_FIELDS + ("limit",))

#: kind → reply id → (default text, extra placeholders besides the member's fields)
REPLIES = {
    AppKind.AUTOREPLY: {
        "reply": ("感谢关注{shop}！", ()),
    },
    AppKind.COUPON: {
        "issued": ("您的优惠券码{code}，有效期至{expires}，到店出示即可使用。", ("code", "expires")),
        "sold_out": ("抱歉，优惠券已领完，感谢关注！", ()),
    },
    AppKind.VOTE: {
        "voted": ("投票成功：{option}。感谢参与！", ("option",)),
        "already": ("您已投过票（{option}），每个号码只能投一次。", ("option",)),
        "options": ("请回复 {keyword} 加选项编号：{options}", ("keyword", "options")),
    },
    AppKind.INFO: {
        "found": ("{code}：{info}", ("code", "info")),
        "not_found": ("没有查到{code}，请核对后再试。", ("code",)),
        "usage": ("请回复 {keyword} 加查询号，例如 {keyword} 12345。", ("keyword",)),
    },
    AppKind.EVENT: {
        "confirmed": ("报名成功！{event}，{seats}位，{when}见。如需取消，回复{keyword} QX。",
                      ("event", "seats", "when", "keyword")),
        "too_many": ("抱歉，{event}每次最多报名{max_seats}位，本次未报名。请回复“{keyword} 人数”，人数不超过{max_seats}。",
                     ("event", "seats", "max_seats", "keyword")),
        "waiting": ("{event}名额已满，您在候补第{position}位，有空位会短信通知。", ("event", "position", "keyword")),
        "already": ("您已报名{event}（{status}），无需重复报名。如需取消，回复{keyword} QX。",
                    ("event", "status", "keyword")),
        "cancelled": ("已取消{event}的报名，欢迎下次参加。", ("event",)),
        "not_signed_up": ("您没有报名{event}，回复{keyword}即可报名。", ("event", "keyword")),
        "reminder": ("提醒：{event}将于{when}开始，期待您的光临。", ("event", "when")),
        "promoted": ("好消息：{event}有空位了，您的{seats}位已确认，{when}见。", ("event", "seats", "when")),
    },
}


def reply_ids(kind: str) -> list[str]:
    return list(REPLIES[kind]) + ["limit"]


def reply_default(kind: str, reply_id: str) -> str:
    return LIMIT_REPLY[0] if reply_id == "limit" else REPLIES[kind][reply_id][0]


def reply_fields(app: KeywordApp, reply_id: str) -> tuple[str, ...] | None:
    """Placeholders the reply may use; None for an info app's answer before its table is uploaded."""
    if reply_id == "limit":
        return LIMIT_REPLY[1]
    extra = REPLIES[app.kind][reply_id][1]
    if app.kind == AppKind.INFO and reply_id == "found":
        columns = (app.config or {}).get("columns")
        if not columns:
            return None
        extra += tuple(column_placeholders(columns))
    return MEMBER_FIELDS + extra


def _say(app: KeywordApp, ctx: Context, reply_id: str, *, table: dict | None = None, **values) -> None:
    ctx.reply_with(app.replies.get(reply_id) or reply_default(app.kind, reply_id), table=table, **values)


def run(app: KeywordApp, ctx: Context) -> None:
    """Answer a text to ``app``, within its per-number limit, and count the use."""
    if app.per_number_limit is not None:
        used = db.session.scalar(sa.select(sa.func.count()).where(KeywordUse.app_id == app.id,
                                                                  KeywordUse.msisdn == ctx.msisdn))
        if used >= app.per_number_limit:
            _say(app, ctx, "limit", limit=app.per_number_limit)
            return
    if KINDS[app.kind](app, ctx):
        db.session.add(KeywordUse(app_id=app.id, msisdn=ctx.msisdn, created_at=ctx.now))
        db.session.execute(sa.update(KeywordApp).where(KeywordApp.id == app.id)
                           .values(uses=KeywordApp.uses + 1), execution_options={"synchronize_session": False})
        db.session.flush()


def list_live_apps(merchant: Merchant, *, now: datetime) -> list[KeywordApp]:
    """Wizard apps that answer right now: active and inside their date range."""
    minute = now.replace(second=0, microsecond=0)
    return list(per_transaction(("apps", merchant.id, minute), lambda: _query_live_apps(merchant, now=now)))


#: built once: with one MO per transaction, building it costs as much as running it
_LIVE_APPS = sa.select(KeywordApp).where(
    KeywordApp.merchant_id == sa.bindparam("merchant_id"), KeywordApp.status == AppStatus.ACTIVE,
    sa.or_(KeywordApp.starts_at.is_(None), KeywordApp.starts_at <= sa.bindparam("now")),
    sa.or_(KeywordApp.ends_at.is_(None), KeywordApp.ends_at > sa.bindparam("now"))).order_by(KeywordApp.id)


def _query_live_apps(merchant: Merchant, *, now: datetime) -> list[KeywordApp]:
    return db.session.scalars(_LIVE_APPS, {"merchant_id": merchant.id, "now": now}).all()


# -- auto-reply ---------------------------------------------------------------------------------

def autoreply(app: KeywordApp, ctx: Context) -> bool:
    _say(app, ctx, "reply")
    return True


# -- coupon -------------------------------------------------------------------------------------

def coupon_expiry(now: datetime, days: int, zone: str) -> datetime:
    """When a coupon issued ``now`` and good for ``days`` stops working: at the end of the merchant's
    local day ``days`` after today, so it is good through the whole of the date its SMS names."""
    last_day = now.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def last_valid_moment(expires_at: datetime | None) -> datetime | None:
    """The last instant a coupon can be redeemed (None: it never expires). Its local date is what
    the SMS, the counter page and the download show: the day it stops working would be a day late."""
    return None if expires_at is None else expires_at - timedelta(microseconds=1)


def last_valid_day(expires_at: datetime | None, zone: str) -> date | None:
    moment = last_valid_moment(expires_at)
    return None if moment is None else moment.astimezone(ZoneInfo(zone)).date()


def coupon(app: KeywordApp, ctx: Context) -> bool:
    """Issue one unique code: the next one from the uploaded pool, or a generated one within stock."""
    expires_at = coupon_expiry(ctx.now, int(app.config.get("valid_days") or 30), ctx.merchant.timezone)
    member_id = ctx.member.id if ctx.member else None
    if app.config.get("source") == "pool":
        code = _take_from_pool(app, ctx.msisdn, member_id, ctx.now, expires_at)
    else:
        code = _generate(app, ctx.msisdn, member_id, ctx.now, expires_at)
    if code is None:
        _say(app, ctx, "sold_out")
        return False
    _say(app, ctx, "issued", code=code, expires=last_valid_day(expires_at, ctx.merchant.timezone).isoformat())
    return True


def _take_from_pool(app, msisdn, member_id, now, expires_at) -> str | None:
    for _attempt in range(3):  # another worker may take the same free code first: try the next
        free = db.session.scalar(sa.select(CouponCode.id).where(CouponCode.app_id == app.id,
                                                                CouponCode.msisdn.is_(None))
                                 .order_by(CouponCode.id).limit(1))
        if free is None:
            return None
        taken = db.session.execute(
            sa.update(CouponCode).where(CouponCode.id == free, CouponCode.msisdn.is_(None))
            .values(msisdn=msisdn, member_id=member_id, issued_at=now, expires_at=expires_at)
            .returning(CouponCode.code), execution_options={"synchronize_session": False}).scalar()
        if taken is not None:
            _count_taken(app, 1, limit=None)
            return taken
    return None


def _count_taken(app: KeywordApp, amount: int, *, limit: int | None) -> bool:
    """Add ``amount`` to the app's ``taken`` unless that would pass ``limit``; says whether it did.

    One conditional UPDATE: on PostgreSQL a second transaction waits for the first one's row lock,
    then checks the condition against the committed count, so two texts can never both take the
    last seat or code (a read of the count, then a write, lets both through).
    """
    guard = [KeywordApp.id == app.id]
    if limit is not None:
        guard.append(KeywordApp.taken + amount <= limit)
    done = db.session.execute(sa.update(KeywordApp).where(*guard).values(taken=KeywordApp.taken + amount),
                              execution_options={"synchronize_session": False})
    return done.rowcount == 1


def _generate(app, msisdn, member_id, now, expires_at) -> str | None:
    stock = app.config.get("stock")
    if not _count_taken(app, 1, limit=None if stock is None else int(stock)):
        return None
    prefix = str(app.config.get("prefix") or "").upper()
    for _attempt in range(5):
        code = prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        try:
            with db.session.begin_nested():
                db.session.add(CouponCode(merchant_id=app.merchant_id, app_id=app.id, code=code, msisdn=msisdn,
                                          member_id=member_id, issued_at=now, expires_at=expires_at))
        except IntegrityError:
            continue  # 31^8 codes: a clash is rare, another draw fixes it
        return code
    raise ConflictError("Could not draw a unique coupon code")


def coupons_left(app: KeywordApp) -> int | None:
    """Codes the app can still issue: free codes in the pool, or the stock not yet taken (None: no limit)."""
    if app.config.get("source") == "pool":
        return db.session.scalar(sa.select(sa.func.count()).where(CouponCode.app_id == app.id,
                                                                  CouponCode.msisdn.is_(None)))
    stock = app.config.get("stock")
    return None if stock is None else max(0, int(stock) - app.taken)


class IssuedCoupon(NamedTuple):
    id: int
    code: str
    expires_at: datetime


def issue_coupons(app: KeywordApp, holders: list[tuple[int | None, str]], *, now: datetime,
                  zone: str) -> list[IssuedCoupon | None]:
    """One new code per (member id, msisdn) holder, set-based (a campaign's batch), as ``coupon``
    issues one to a texter: from the pool in order, or generated within the stock, good for the
    app's days in the merchant's ``zone``. A holder the pool or stock cannot serve gets None.
    Flushes; the codes count in the app's ``taken``."""
    if not holders:
        return []
    expires_at = coupon_expiry(now, int(app.config.get("valid_days") or 30), zone)
    if app.config.get("source") == "pool":
        issued = _issue_from_pool(app, holders, now, expires_at)
    else:
        issued = _issue_generated(app, holders, now, expires_at)
    return issued + [None] * (len(holders) - len(issued))


def issue_reward_coupon(merchant: Merchant, app_id: int, *, member_id: int | None, msisdn: str,
                        now: datetime) -> IssuedCoupon | None:
    """One code of the merchant's coupon app as a reward (a survey completed), as ``issue_coupons``
    issues a campaign's; None when the app is not the merchant's coupon app any more (or ended), or
    it has no code left."""
    app = db.session.get(KeywordApp, app_id)
    if app is None or app.merchant_id != merchant.id or app.kind != AppKind.COUPON or app.status == AppStatus.ENDED:
        return None
    return issue_coupons(app, [(member_id, msisdn)], now=now, zone=merchant.timezone)[0]


_CODES = CouponCode.__table__


def _issue_from_pool(app, holders, now, expires_at) -> list[IssuedCoupon]:
    free = db.session.execute(sa.select(_CODES.c.id, _CODES.c.code).where(
        _CODES.c.app_id == app.id, _CODES.c.msisdn.is_(None)).order_by(_CODES.c.id).limit(len(holders))).all()
    if not free:
        return []
    pairs = list(zip(free, holders, strict=False))
    db.session.execute(
        _CODES.update().where(_CODES.c.id == sa.bindparam("b_id"), _CODES.c.msisdn.is_(None))
        .values(msisdn=sa.bindparam("b_msisdn"), member_id=sa.bindparam("b_member"), issued_at=now,
                expires_at=expires_at),
        [{"b_id": code_id, "b_msisdn": msisdn, "b_member": member_id}
         for (code_id, _code), (member_id, msisdn) in pairs])
    # a texter may have taken one of them in the meantime: the holders from the first lost code on
    # get none from this call (the caller's next batch tries again)
    owner = dict(db.session.execute(sa.select(_CODES.c.id, _CODES.c.msisdn).where(
        _CODES.c.id.in_([code_id for code_id, _code in free]))).all())
    issued = []
    for (code_id, code), (_member_id, msisdn) in pairs:
        if owner.get(code_id) != msisdn:
            break
        issued.append(IssuedCoupon(code_id, code, expires_at))
    _count_taken(app, len(issued), limit=None)
    return issued


def _issue_generated(app, holders, now, expires_at) -> list[IssuedCoupon]:
    stock = app.config.get("stock")
    wanted = len(holders)
    while wanted and not _count_taken(app, wanted, limit=None if stock is None else int(stock)):
        db.session.refresh(app, ["taken"])     # another issue came first: take what is left
        wanted = max(0, min(wanted, int(stock) - app.taken))
    if not wanted:
        return []
    prefix = str(app.config.get("prefix") or "").upper()
    insert = _CODES.insert().returning(_CODES.c.id, _CODES.c.code, sort_by_parameter_order=True)
    for _attempt in range(5):
        rows = [{"merchant_id": app.merchant_id, "app_id": app.id, "msisdn": msisdn, "member_id": member_id,
                 "issued_at": now, "expires_at": expires_at, "redeemed_at": None, "redeemed_by": None,
                 "code": prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))}
                for member_id, msisdn in holders[:wanted]]
        try:
            with db.session.begin_nested():
                inserted = db.session.connection().execute(insert, rows).all()
        except IntegrityError:
            continue  # 31^8 codes: a clash is rare, another draw fixes it
        return [IssuedCoupon(code_id, code, expires_at) for code_id, code in inserted]
    raise ConflictError("Could not draw a unique coupon code")


def add_pool_codes(app: KeywordApp, codes: list[str]) -> int:
    """Add uploaded codes to a pool coupon; duplicates (in the list or already stored) are refused."""
    if app.kind != AppKind.COUPON:
        raise ValidationError("Only coupon apps have a code pool")
    cleaned = [normalize_code(c) for c in codes if str(c).strip()]
    if not cleaned:
        raise ValidationError("No codes given")
    if any(not 3 <= len(c) <= 32 for c in cleaned):
        raise ValidationError("A code is 3 to 32 characters")
    if len(set(cleaned)) != len(cleaned):
        raise ConflictError("The list has the same code twice")
    clash = db.session.scalar(sa.select(CouponCode.code).where(CouponCode.merchant_id == app.merchant_id,
                                                               CouponCode.code.in_(cleaned)).limit(1))
    if clash:
        raise ConflictError("Code %(code)s is already used", code=clash)
    db.session.add_all(CouponCode(merchant_id=app.merchant_id, app_id=app.id, code=c) for c in cleaned)
    db.session.flush()
    return len(cleaned)


def normalize_code(code: str) -> str:
    return to_half_width(str(code)).strip().upper()


def find_issued_coupon(merchant, code: str) -> CouponCode | None:
    """The merchant's coupon with that code once it has been issued to a number (a code still in the
    pool is nobody's coupon yet), typed in any case or width."""
    coupon_row = db.session.scalar(sa.select(CouponCode).where(CouponCode.merchant_id == merchant.id,
                                                               CouponCode.code == normalize_code(code)))
    return coupon_row if coupon_row is not None and coupon_row.msisdn is not None else None


class CouponState(StrEnum):
    """Where an issued coupon stands: the one verdict the counter page shows."""
    VALID = "valid"
    REDEEMED = "redeemed"
    EXPIRED = "expired"


def coupon_state(coupon_row: CouponCode, now: datetime) -> str:
    if coupon_row.redeemed_at is not None:
        return CouponState.REDEEMED
    if coupon_row.expires_at is not None and coupon_row.expires_at <= now:
        return CouponState.EXPIRED
    return CouponState.VALID


def coupon_refusal(coupon_row: CouponCode | None, code: str, now: datetime) -> DomainError | None:
    """Why that coupon cannot be redeemed now, or None when it can."""
    code = normalize_code(code)
    if coupon_row is None:
        return NotFoundError("No issued coupon %(code)s", code=code)
    state = coupon_state(coupon_row, now)
    if state == CouponState.REDEEMED:
        return ConflictError("Coupon %(code)s was already redeemed", code=code)
    if state == CouponState.EXPIRED:
        return ValidationError("Coupon %(code)s has expired", code=code)
    return None


def redeem_coupon(merchant, code: str, *, by: str, now: datetime) -> CouponCode:
    """Mark an issued code redeemed (by staff in the console or by SMS ``HX <code>``).

    The mark is one conditional UPDATE (still unredeemed, not expired): of two cashiers pressing
    at once, the second one's update finds the code redeemed and is refused.
    """
    coupon_row = find_issued_coupon(merchant, code)
    refusal = coupon_refusal(coupon_row, code, now)
    if refusal is not None:
        raise refusal
    marked = db.session.execute(
        sa.update(CouponCode).where(CouponCode.id == coupon_row.id, CouponCode.redeemed_at.is_(None),
                                    sa.or_(CouponCode.expires_at.is_(None), CouponCode.expires_at > now))
        .values(redeemed_at=now, redeemed_by=by[:64]), execution_options={"synchronize_session": False})
    db.session.refresh(coupon_row)
    if marked.rowcount != 1:
        raise coupon_refusal(coupon_row, code, now)
    return coupon_row


# -- vote ---------------------------------------------------------------------------------------

def vote_options(app: KeywordApp) -> list[tuple[str, str]]:
    return [(str(key), str(label)) for key, label in app.config.get("options", [])]


def vote(app: KeywordApp, ctx: Context) -> bool:
    options = vote_options(app)
    existing = db.session.scalar(sa.select(PollVote).where(PollVote.app_id == app.id,
                                                           PollVote.msisdn == ctx.msisdn))
    labels = dict(options)
    if existing is not None:
        _say(app, ctx, "already", option=labels.get(existing.option, existing.option))
        return False
    choice = fold(ctx.parsed.args[0]) if ctx.parsed.args else ""
    picked = next((key for key, label in options if choice in (fold(key), fold(label))), None)
    if picked is None:
        _say(app, ctx, "options", keyword=ctx.parsed.first,
             options=" ".join(f"{key}.{label}" for key, label in options))
        return False
    try:
        with db.session.begin_nested():
            db.session.add(PollVote(app_id=app.id, msisdn=ctx.msisdn, option=picked, created_at=ctx.now))
    except IntegrityError:  # the same number's other text won the race
        _say(app, ctx, "already", option=labels[picked])
        return False
    _say(app, ctx, "voted", option=labels[picked])
    return True


def vote_counts(app: KeywordApp) -> list[tuple[str, str, int]]:
    """(key, label, votes) for every option, in the configured order."""
    counts = dict(db.session.execute(sa.select(PollVote.option, sa.func.count()).where(PollVote.app_id == app.id)
                                     .group_by(PollVote.option)).all())
    return [(key, label, counts.get(key, 0)) for key, label in vote_options(app)]


# -- info query ---------------------------------------------------------------------------------

#: the prefix of a column's placeholder when its own name is taken: ``{col:name}`` is the table's
#: column "name", ``{name}`` stays the member's name
COLUMN_PREFIX = "col:"
#: what the engine fills in an info app's answer; a column never takes one of these names over
_ENGINE_FIELDS = frozenset(MEMBER_FIELDS + REPLIES[AppKind.INFO]["found"][1] + ("gift_points",))


def column_placeholders(columns) -> dict[str, str]:
    """Placeholder → column of an uploaded table: the column's own name, or ``col:`` and its name
    when the engine fills that name (``{code}`` is what the texter typed, whatever the table says).

    Names starting with ``col:`` are always prefixed, so no two columns share a placeholder.
    """
    return {(COLUMN_PREFIX + column if column in _ENGINE_FIELDS or column.startswith(COLUMN_PREFIX)
             else column): column for column in columns}


def info(app: KeywordApp, ctx: Context) -> bool:
    if not ctx.parsed.args:
        _say(app, ctx, "usage", keyword=ctx.parsed.first)
        return False
    code = ctx.parsed.args[0]
    row = db.session.scalar(sa.select(InfoRow).where(InfoRow.app_id == app.id, InfoRow.lookup == fold(code)))
    if row is None:
        _say(app, ctx, "not_found", code=code)
        return True
    values = dict(row.values)
    info_text = " ".join(f"{k}:{v}" for k, v in values.items() if v != "")
    table = {placeholder: values.get(column) for placeholder, column in column_placeholders(values).items()}
    _say(app, ctx, "found", code=code, info=info_text, table=table)
    return True


# -- event sign-up ------------------------------------------------------------------------------

def event_when(app: KeywordApp, merchant) -> str:
    at = app.config.get("event_at")
    if not at:
        return ""
    return datetime.fromisoformat(at).astimezone(ZoneInfo(merchant.timezone)).strftime("%m月%d日%H:%M")


#: seats one text may ask for when the merchant set no limit
DEFAULT_MAX_SEATS = 5
#: ``BM QX``: the texter cancels their own sign-up (the stop words win only as the first word)
CANCEL_WORDS = frozenset(fold(w) for w in ("QX", "取消", "CANCEL", "退出", "不去了"))


def event(app: KeywordApp, ctx: Context) -> bool:
    """Sign up (``BM`` or ``BM 2`` for two seats): confirmed while seats last, then the waiting list.
    ``BM QX`` cancels the texter's sign-up and moves the waiting list up."""
    when, name, keyword = event_when(app, ctx.merchant), app.name, ctx.parsed.first
    existing = db.session.scalar(sa.select(EventSignup).where(EventSignup.app_id == app.id,
                                                              EventSignup.msisdn == ctx.msisdn))
    if ctx.parsed.args and fold(ctx.parsed.args[0]) in CANCEL_WORDS:
        if existing is None:
            _say(app, ctx, "not_signed_up", event=name, keyword=keyword)
            return False
        promoted = cancel_signup(app, existing, now=ctx.now)
        _say(app, ctx, "cancelled", event=name)
        template = app.replies.get("promoted") or reply_default(app.kind, "promoted")
        for moved in promoted:
            ctx.reply_with(template, to=moved.msisdn, event=name, seats=moved.seats, when=when)
        return False
    if existing is not None:
        status = "已确认" if existing.status == SignupStatus.CONFIRMED else "候补"
        _say(app, ctx, "already", event=name, status=status, keyword=keyword)
        return False
    seats = int(ctx.parsed.args[0]) if ctx.parsed.args and ctx.parsed.args[0].isdigit() else 1
    capacity = int(app.config.get("capacity") or 0)
    # a party bigger than the hall could only wait for ever: the per-text limit is the smaller one
    most = min(int(app.config.get("max_seats") or DEFAULT_MAX_SEATS), capacity)
    if seats > most:
        _say(app, ctx, "too_many", event=name, seats=seats, max_seats=most, keyword=keyword)
        return False
    seats = max(seats, 1)  # "BM 0" is someone signing up
    status = SignupStatus.CONFIRMED if _count_taken(app, seats, limit=capacity) else SignupStatus.WAITING
    db.session.add(EventSignup(app_id=app.id, msisdn=ctx.msisdn, member_id=ctx.member.id if ctx.member else None,
                               seats=seats, status=status, created_at=ctx.now))
    db.session.flush()
    if status == SignupStatus.CONFIRMED:
        _say(app, ctx, "confirmed", event=name, seats=seats, when=when, keyword=keyword)
    else:
        position = db.session.scalar(sa.select(sa.func.count()).where(
            EventSignup.app_id == app.id, EventSignup.status == SignupStatus.WAITING))
        _say(app, ctx, "waiting", event=name, position=position, keyword=keyword)
    return True


def cancel_signup(app: KeywordApp, signup: EventSignup, *, now: datetime) -> list[EventSignup]:
    """Cancel a sign-up (staff, or the texter); the waiting list moves up, first come first served, while seats fit.

    Returns the sign-ups now confirmed (the caller texts them the ``promoted`` reply). Every change
    is conditional, so the texter and staff cancelling at once free the seats once, and two
    cancels at once never confirm the same waiting party twice or past the capacity.
    """
    if signup.app_id != app.id:
        raise NotFoundError("No such sign-up")
    gone = db.session.execute(sa.delete(EventSignup).where(EventSignup.id == signup.id)
                              .returning(EventSignup.status, EventSignup.seats),
                              execution_options={"synchronize_session": False}).first()
    db.session.expunge(signup)
    if gone is None:
        return []  # cancelled by someone else a moment ago
    if gone.status == SignupStatus.CONFIRMED:
        _count_taken(app, -gone.seats, limit=None)
    capacity = int(app.config.get("capacity") or 0)
    promoted = []
    waiting = db.session.scalars(sa.select(EventSignup).where(EventSignup.app_id == app.id,
                                                              EventSignup.status == SignupStatus.WAITING)
                                 .order_by(EventSignup.id)).all()
    for candidate in waiting:
        if not _count_taken(app, candidate.seats, limit=capacity):
            break  # keep the order: nobody jumps the queue with a smaller party
        moved = db.session.execute(sa.update(EventSignup).where(EventSignup.id == candidate.id,
                                                                EventSignup.status == SignupStatus.WAITING)
                                   .values(status=SignupStatus.CONFIRMED),
                                   execution_options={"synchronize_session": False})
        if moved.rowcount != 1:  # cancelled or moved up by someone else meanwhile: give the seats back
            _count_taken(app, -candidate.seats, limit=None)
            continue
        db.session.refresh(candidate)
        promoted.append(candidate)
    return promoted


def send_event_reminders(merchant: Merchant, *, now: datetime) -> int:
    """Queue the reminder to every confirmed sign-up of events starting within their reminder window.

    Each sign-up is reminded once (``reminded_at``, and the outbox key ``event-reminder:<id>``), so a
    job that runs twice sends nothing twice. Returns how many reminders were queued.
    """
    sent = 0
    for app in list_live_apps(merchant, now=now):
        config = app.config or {}
        if app.kind != AppKind.EVENT or not config.get("event_at") or not config.get("remind_hours"):
            continue
        starts = datetime.fromisoformat(config["event_at"])
        if not starts - timedelta(hours=int(config["remind_hours"])) <= now < starts:
            continue
        template = app.replies.get("reminder") or reply_default(app.kind, "reminder")
        signups = db.session.scalars(sa.select(EventSignup).where(
            EventSignup.app_id == app.id, EventSignup.status == SignupStatus.CONFIRMED,
            EventSignup.reminded_at.is_(None))).all()
        for signup in signups:
            member = db.session.get(Member, signup.member_id) if signup.member_id else None
            values = {"shop": merchant.name, "event": app.name, "when": event_when(app, merchant)}
            if member is not None and member.deleted_at is None:
                values.update(member_values(member, now=now))
            else:
                member = None
            enqueue_sms(merchant, msisdn=signup.msisdn, body=render_template(template, values), kind="transactional",
                        now=now, member=member, idempotency_key=f"event-reminder:{signup.id}")
            signup.reminded_at = now
            sent += 1
    db.session.flush()
    return sent


KINDS = {
    AppKind.AUTOREPLY: autoreply,
    AppKind.COUPON: coupon,
    AppKind.VOTE: vote,
    AppKind.INFO: info,
    AppKind.EVENT: event,
}
