"""Staff commands by SMS, from phones registered to the merchant's staff only.

``XF <msisdn> <amount>`` purchase, ``DH <msisdn> <points> [reason]`` redeem, ``DL`` login code,
``HX <code>`` coupon redeemed, ``RC <day> <time> <title>`` agenda item, ``1`` confirms agenda
reminders. Every error is answered to the staff phone, never raised.

The member is told of a purchase or redemption with the same SMS whether staff texted it or used
the console (``tell_member``, ``queue_member_notice``); a login code likewise, whether asked for by
``DL`` or on the sign-in page (``send_login_code``).
"""
from datetime import datetime

import sqlalchemy as sa
from flask_babel import get_babel
from sqlalchemy.orm import lazyload

from mcrm.agenda.services import add_item_by_sms, confirm_reminders
from mcrm.agenda.texts import when_text
from mcrm.auth.login_codes import CODE_DIGITS, issue_login_code
from mcrm.auth.models import Staff
from mcrm.core.errors import ConfirmationRequiredError, DomainError, InsufficientPointsError, ValidationError
from mcrm.core.msisdn import normalize_mobile
from mcrm.core.templates import render_template
from mcrm.extensions import db
from mcrm.keywords import texts
from mcrm.keywords.apps.custom import redeem_coupon
from mcrm.keywords.context import Context, find_member
from mcrm.keywords.rules import Outcome, ParsedText
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.messaging.services import enqueue_sms
from mcrm.points.models import EntryKind, PointsEntry
from mcrm.points.rules import parse_amount
from mcrm.points.services import Actor, record_purchase, redeem_points


#: built once, with bind parameters: building it costs more than running it. Staff.merchant is a
#: joined load elsewhere; here the merchant is in the session already, so the join only costs time
_STAFF_BY_MSISDN = sa.select(Staff).where(
    Staff.merchant_id == sa.bindparam("merchant_id"), Staff.msisdn == sa.bindparam("msisdn"),
    Staff.is_active.is_(True)).limit(1).options(lazyload(Staff.merchant))


def find_staff(merchant, msisdn: str) -> Staff | None:
    return db.session.scalar(_STAFF_BY_MSISDN, {"merchant_id": merchant.id, "msisdn": msisdn})


def _actor(staff: Staff) -> Actor:
    return Actor(f"sms:{staff.display_name or staff.username}"[:64], staff.id)


def _target_member(ctx: Context):
    """The member named by the first argument, or None after answering why not (a landline is
    refused as such: it can never be a member)."""
    msisdn = normalize_mobile(ctx.parsed.args[0])
    member = find_member(ctx.merchant, msisdn)
    if member is None:
        ctx.reply("staff_no_member", msisdn=msisdn, member=None)
    return member


def purchase(ctx: Context, staff: Staff) -> None:
    if len(ctx.parsed.args) != 2:
        ctx.reply("staff_usage", member=None)
        return
    member = _target_member(ctx)
    if member is None:
        return
    amount = ctx.parsed.args[1]
    try:
        # keyed by the MO: a re-processed text never records the purchase twice
        entry = record_purchase(member, ctx.merchant, amount, actor=_actor(staff), now=ctx.now,
                                idempotency_key=f"mo:{ctx.inbound_id}" if ctx.inbound_id else None)
    except ConfirmationRequiredError as error:
        # a text cannot be asked "are you sure?" and answered safely: the console can
        raise ValidationError("%(amount)s is above %(threshold)s: record it in the console, where it can be "
                              "confirmed", **error.details) from None
    earned = entry.points if entry is not None else 0
    amount_text = str(entry.amount if entry is not None else amount)
    ctx.reply("staff_purchase", msisdn=member.msisdn, amount=amount_text, earned=earned,
              points=member.points_balance, member=None)
    tell_member(ctx, member, entry, amount=amount)


def redeem(ctx: Context, staff: Staff) -> None:
    if len(ctx.parsed.args) < 2:
        ctx.reply("staff_usage", member=None)
        return
    member = _target_member(ctx)
    if member is None:
        return
    reason = " ".join(ctx.parsed.args[2:]) or "短信兑换"
    wanted = ctx.parsed.args[1]
    try:
        entry = redeem_points(member, wanted, reason=reason, actor=_actor(staff), now=ctx.now,
                              idempotency_key=f"mo:{ctx.inbound_id}" if ctx.inbound_id else None)
    except InsufficientPointsError as error:
        ctx.reply("staff_short", msisdn=member.msisdn, points=error.details["balance"],
                  redeemed=error.details["needed"], member=None)
        return
    ctx.reply("staff_redeem", msisdn=member.msisdn, redeemed=-entry.points, points=member.points_balance,
              member=None)
    tell_member(ctx, member, entry)


def tell_member(ctx: Context, member: Member, entry: PointsEntry | None, *, amount="") -> None:
    """Text the member about a points change staff made: a purchase (``entry`` None when it earned
    no whole point, then ``amount`` as typed says what was spent), a redemption, or a void of either.

    The one place these texts are made: the merchant's reply text, the same SMS for XF/DH by text
    and for the console. Nothing when the merchant turned these texts off.
    """
    if not ctx.merchant.points_change_sms:
        return
    voided = entry is not None and entry.voids_entry_id is not None
    if entry is None or entry.kind == EntryKind.EARN:
        spent = abs(entry.amount) if entry is not None else parse_amount(amount)
        ctx.reply("member_purchase_voided" if voided else "member_purchase", to=member.msisdn, member=member,
                  amount=str(spent), earned=abs(entry.points) if entry is not None else 0)
    else:
        ctx.reply("member_redeem_voided" if voided else "member_redeem", to=member.msisdn, member=member,
                  redeemed=abs(entry.points))


#: a change made in the console answers no text
_NO_TEXT = ParsedText(Outcome.EMPTY)


def queue_member_notice(merchant: Merchant, member: Member, entry: PointsEntry | None, *, now: datetime,
                        idempotency_key: str, amount="") -> None:
    """``tell_member`` for a change made in the console: the SMS (transactional) goes to the outbox.
    The same ``idempotency_key`` twice (a resent form) queues it once."""
    ctx = Context(merchant=merchant, msisdn=member.msisdn, parsed=_NO_TEXT, now=now)
    tell_member(ctx, member, entry, amount=amount)
    for reply in ctx.replies:
        enqueue_sms(merchant, msisdn=reply.msisdn, body=reply.body, kind="transactional", now=now,
                    member=reply.member, idempotency_key=idempotency_key)


#: what every page shows in place of a code
MASK = "*" * CODE_DIGITS


def login_code_bodies(merchant, code: str) -> tuple[str, str]:
    """The merchant's login-code SMS as stored and shown (the code masked), and as the phone gets it."""
    template = texts.reply_template(merchant, "login_code")
    return render_template(template, {"code": MASK}), render_template(template, {"code": code})


def send_login_code(staff: Staff, *, now: datetime) -> None:
    """Issue a code and queue it to the staff's phone as a transactional SMS (stored masked)."""
    shown, sent = login_code_bodies(staff.merchant, issue_login_code(staff, now=now))
    enqueue_sms(staff.merchant, msisdn=staff.msisdn, body=shown, secret_body=sent, kind="transactional",
                now=now)


def login_code(ctx: Context, staff: Staff) -> None:
    ctx.reply_secret(*login_code_bodies(ctx.merchant, issue_login_code(staff, now=ctx.now)))


def coupon_redeem(ctx: Context, staff: Staff) -> None:
    if len(ctx.parsed.args) != 1:
        ctx.reply("staff_usage", member=None)
        return
    coupon = redeem_coupon(ctx.merchant, ctx.parsed.args[0], by=_actor(staff).label, now=ctx.now)
    # the offer, so the staff at the counter knows what to give
    ctx.reply("coupon_redeemed", code=coupon.code, offer=coupon.app.name, member=None)


def agenda_add(ctx: Context, staff: Staff) -> None:
    item = add_item_by_sms(ctx.merchant, staff, ctx.parsed.rest, now=ctx.now)
    ctx.reply("staff_agenda_added", when=when_text(ctx.merchant, item.starts_at), title=item.title,
              remind=item.remind_minutes, member=None)


def agenda_confirm(ctx: Context, staff: Staff) -> bool:
    """``1``: confirm the staff member's open reminders. With none open (or more words after it),
    the text is not this command's: it goes on through the engine (a survey answer, a vote)."""
    if ctx.parsed.args:
        return False
    confirmed = confirm_reminders(ctx.merchant, staff, now=ctx.now)
    if not confirmed:
        return False
    items = "；".join(f"{when_text(ctx.merchant, r.occurs_at)} {r.item.title}" for r in confirmed)
    ctx.reply("staff_agenda_confirmed", items=items, member=None)
    return True


COMMANDS = {"purchase": purchase, "redeem": redeem, "login_code": login_code, "coupon_redeem": coupon_redeem,
            "agenda_add": agenda_add, "agenda_confirm": agenda_confirm}


def run_command(ctx: Context, staff: Staff, command: str) -> bool:
    """Run one staff command; a refused one (bad number, amount, unknown code) is answered with why.
    False when the command declines the text (``1`` with nothing to confirm): the engine reads on."""
    try:
        with db.session.begin_nested():
            return COMMANDS[command](ctx, staff) is not False
    except DomainError as error:
        ctx.replies.clear()  # nothing happened: no half-told story
        # in the staff's own language, else the console's default (a staff phone has no browser)
        ctx.reply("staff_error", error=error.translated(staff.locale or str(get_babel().default_locale)),
                  member=None)
        return True
