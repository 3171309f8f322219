"""Built-in member apps: join, points, stop, start."""
import re

from mcrm.core.errors import ValidationError
from mcrm.core.msisdn import is_mobile
from mcrm.keywords.context import Context, render_reply
from mcrm.members.birthdays import parse_birthday
from mcrm.members.models import Member, Source
from mcrm.members.services import (Consent, Welcome, enrol_member, find_member_by_msisdn, on_welcome, opt_in,
                                   opt_in_number, opt_out_number, update_member)
from mcrm.merchants.models import Merchant
from mcrm.messaging.services import enqueue_sms
from mcrm.points.services import Actor, grant_points

SMS_ACTOR = Actor("sms")
#: a word that means to be a birthday: digits with date punctuation, maybe a lunar prefix
_BIRTHDAY_LIKE = re.compile(r"(农历|阴历|nl)?[\d\-/.年月日]*\d[\d\-/.年月日]*", re.IGNORECASE)


def consent_for(ctx: Context) -> Consent:
    """SMS consent: the keyword as sent and the number it went to (the time is consent_at)."""
    return Consent("sms", f"keyword {ctx.parsed.first} to {ctx.destination}")


def join(ctx: Context) -> None:
    """``ZC 张三 19900315``: enrol, or update an existing member; an opted-out one opts back in."""
    fields = {}
    names = []
    for word in ctx.parsed.args:
        if _BIRTHDAY_LIKE.fullmatch(word):
            try:
                fields["birthday"] = parse_birthday(word, today=ctx.now.date())
            except ValidationError:
                ctx.reply("join_bad_birthday")
                return
        else:
            names.append(word)
    if names:
        fields["name"] = " ".join(names)[:64]
    # one read for both questions: a live member (update it), or a deleted one (enrolling revives it)
    existing = find_member_by_msisdn(ctx.merchant, ctx.msisdn, include_deleted=True)
    member = ctx.member = existing if existing is not None and existing.deleted_at is None else None
    if member is None:
        if not is_mobile(ctx.msisdn):  # a landline: it would never get the texts members get
            ctx.reply("join_not_mobile")
            return
        # a concurrent join of the same number fails this one's insert on the unique index: the job
        # runs the text again and then finds the member
        member = ctx.member = enrol_member(ctx.merchant, msisdn=ctx.msisdn, now=ctx.now, source=Source.SMS,
                                           consent=consent_for(ctx), existing=existing, **fields)
        if member.opted_out:  # it said STOP before joining: joining by SMS opts back in
            opt_in(member, consent_for(ctx), now=ctx.now)
        gift = give_join_gift(ctx.merchant, member, actor=SMS_ACTOR, now=ctx.now)
        ctx.say(welcome_text(ctx.merchant, member, gift_points=gift, now=ctx.now))
        return
    if fields:
        update_member(member, **fields)
    if member.opted_out:
        opt_in(member, consent_for(ctx), now=ctx.now)
        ctx.reply("join_back")
        return
    ctx.reply("join_updated")


def give_join_gift(merchant: Merchant, member: Member, *, actor: Actor, now) -> int:
    """The merchant's join gift; returns its points (0: the merchant gives none)."""
    gift = merchant.join_gift_points
    if gift:
        # keyed by merchant and number, whichever way it joined: leaving and joining again (by SMS,
        # in the console, by import) never pays the gift twice
        grant_points(member, merchant, gift, reason="入会礼", actor=actor, now=now,
                     idempotency_key=f"join-gift:{merchant.id}:{member.msisdn}")
    return gift


def welcome_text(merchant: Merchant, member: Member, *, gift_points: int, now) -> str:
    """The welcome of a new member: the answer to ZC, and the SMS of a member added in the console
    or by import (the merchant's join_welcome text, one text for both)."""
    return render_reply(merchant, "join_welcome", member, now=now, gift_points=gift_points)


@on_welcome
def welcome_added_members(merchant: Merchant, members: list[Member], welcome: Welcome, *, now, actor: Actor) -> None:
    """Members added in the console or by import: the join gift and the welcome SMS, as chosen.

    An opted-out member gets the gift but no SMS: they asked for no texts. Each welcome SMS is keyed
    by the member, so an import batch run again never texts anyone twice."""
    for member in members:
        gift = give_join_gift(merchant, member, actor=actor, now=now) if welcome.gift else 0
        if welcome.sms and not member.opted_out:
            enqueue_sms(merchant, msisdn=member.msisdn, body=welcome_text(merchant, member, gift_points=gift, now=now),
                        kind="transactional", now=now, member=member, idempotency_key=f"welcome:{member.id}")


def points(ctx: Context) -> None:
    if ctx.member is None:
        ctx.reply("not_member")
        return
    ctx.reply("points")


def stop(ctx: Context) -> None:
    """Opt out of all marketing, member or not (a number that joins later stays opted out); one
    confirmation (a repeat gets no second answer)."""
    # the member the engine read (the reply shows it): read once, not again by the members service
    if opt_out_number(ctx.merchant, ctx.msisdn, now=ctx.now, channel="sms", member=ctx.member,
                      detail=f"keyword {ctx.parsed.first} to {ctx.destination}"):
        ctx.reply("stop")


def start(ctx: Context) -> None:
    """Opt back in; a number that is no member and never said STOP is invited to join."""
    if not opt_in_number(ctx.merchant, ctx.msisdn, consent_for(ctx), now=ctx.now, member=ctx.member) \
            and ctx.member is None:
        ctx.reply("not_member")
        return
    ctx.reply("start")
