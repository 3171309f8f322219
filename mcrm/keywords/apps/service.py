"""Built-in service apps: help, feedback intake, survey start and answers."""
from mcrm.core.errors import NotFoundError
from mcrm.feedback.models import TicketKind
from mcrm.feedback.services import open_ticket
from mcrm.keywords import texts
from mcrm.keywords.apps.custom import issue_reward_coupon, last_valid_day
from mcrm.keywords.context import Context, per_transaction
from mcrm.surveys import services as surveys

#: what help calls each built-in in the SMS (consumers read Chinese); short, so that the default
#: help reply with every built-in fits one SMS (70 characters with the signature)
HELP_LABELS = {"join": "注册", "points": "积分", "stop": "退订", "start": "订阅", "suggestion": "建议",
               "complaint": "投诉", "praise": "表扬", "survey": "调查"}


def help_keywords(merchant, custom_apps, *, now) -> str:
    """``ZC注册，JF积分，...``: each built-in's first keyword, then the active wizard apps."""
    keywords = texts.builtin_keywords(merchant)
    survey = per_transaction(("survey", merchant.id), lambda: surveys.has_active_survey(merchant, now=now))
    entries = [_entry(keywords[app][0], label) for app, label in HELP_LABELS.items()
               if keywords.get(app) and (app != "survey" or survey)]
    entries += [_entry(app.keywords[0], app.name) for app in custom_apps if app.keywords]
    return "，".join(entries)


def _entry(keyword: str, label: str) -> str:
    """``ZC注册``; a keyword that is its label already (``积分``) stands alone, and a space keeps a
    keyword ending in a letter apart from a label starting with one (``TP New dishes``)."""
    if keyword == label:
        return keyword
    return f"{keyword} {label}" if keyword[-1:].isascii() and label[:1].isascii() else keyword + label


def help_app(ctx: Context, *, custom_apps=()) -> None:
    ctx.reply("help", keywords=help_keywords(ctx.merchant, custom_apps, now=ctx.now))


def feedback(kind: str):
    def app(ctx: Context, *, text: str | None = None) -> None:
        body = ctx.parsed.rest if text is None else text
        if not body.strip():
            ctx.reply("feedback_empty")
            return
        ticket = open_ticket(ctx.merchant, msisdn=ctx.msisdn, kind=kind, text=body, now=ctx.now,
                             member=ctx.member, inbound_message_id=ctx.inbound_id)
        ctx.reply("feedback_received", kind=texts.FEEDBACK_KIND_LABELS[kind], ticket_no=ticket.number)
    app.__name__ = f"feedback_{kind}"
    return app


suggestion = feedback(TicketKind.SUGGESTION)
complaint = feedback(TicketKind.COMPLAINT)
praise = feedback(TicketKind.PRAISE)


#: added to the thanks when completing the survey earned points
REWARD_NOTE = "已赠送您{points}积分。"
#: and when it earned a coupon
COUPON_NOTE = "赠送优惠券{code}，{expires}前有效。"


def survey(ctx: Context, *, chosen=None) -> None:
    """``DC`` or ``DC <code>`` (or the survey ``chosen`` by its extension): start the survey, or
    resume the number's open session of it; the intro and the waiting question are the reply."""
    code = ctx.parsed.args[0] if ctx.parsed.args and chosen is None else None
    try:
        session, resumed = surveys.start_survey(ctx.merchant, msisdn=ctx.msisdn, now=ctx.now, code=code,
                                                member=ctx.member, survey=chosen)
    except NotFoundError:
        ctx.reply("survey_none")
        return
    ctx.say(surveys.opening_text(session, resumed=resumed))


def survey_answer(ctx: Context, session) -> None:
    step = surveys.record_answer(session, ctx.parsed.text, now=ctx.now, member=ctx.member)
    if not step.completed:
        ctx.say(step.text)
        return
    if step.thanks:
        ctx.say(step.thanks)
    else:
        ctx.reply("survey_thanks")
    notes = REWARD_NOTE.format(points=step.reward_points) if step.reward_points else ""
    if step.reward_coupon_app_id:
        coupon = issue_reward_coupon(ctx.merchant, step.reward_coupon_app_id, msisdn=ctx.msisdn, now=ctx.now,
                                     member_id=ctx.member.id if ctx.member else None)
        if coupon is not None:   # none left: the thanks go without one
            notes += COUPON_NOTE.format(code=coupon.code,
                                        expires=last_valid_day(coupon.expires_at, ctx.merchant.timezone))
    if notes and ctx.replies:
        ctx.replies[-1].body += notes


def survey_by_extension(ctx: Context, chosen=None) -> None:
    """A text to the survey's extension: an answer while the number's session of it is open, else
    the start (the text itself is then only the knock on the door)."""
    session = surveys.find_open_session(ctx.merchant, ctx.msisdn, now=ctx.now)
    if session is not None and (chosen is None or session.survey_id == chosen.id):
        survey_answer(ctx, session)
    else:
        survey(ctx, chosen=chosen)
