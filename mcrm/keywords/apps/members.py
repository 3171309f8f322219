"""Built-in member apps: join, points, stop, start."""
import re

from mcrm.core.errors import ValidationError
from mcrm.core.msisdn import is_mobile
from mcrm.keywords.context import Context
from mcrm.members.birthdays import parse_birthday
from mcrm.members.models import Source
from mcrm.members.services import (Consent, enrol_member, find_member_by_msisdn, opt_in, opt_in_number,
                                   opt_out_number, update_member)
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
        gift = ctx.merchant.join_gift_points
        if gift:
            # keyed by merchant and number: leaving and joining again never pays the gift twice
            grant_points(member, ctx.merchant, gift, reason="入会礼", actor=SMS_ACTOR, now=ctx.now,
                         idempotency_key=f"join-gift:{ctx.merchant.id}:{ctx.msisdn}")
        ctx.reply("join_welcome")
        return
    if fields:
        update_member(member, **fields)
    if member.opted_out:
        opt_in(member, consent_for(ctx), now=ctx.now)
        ctx.reply("join_back")
        return
    ctx.reply("join_updated")


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
