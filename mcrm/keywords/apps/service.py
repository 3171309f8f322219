"""Built-in service apps: help, feedback intake, survey start and answers."""
from mcrm.core.errors import NotFoundError
from mcrm.feedback.models import TicketKind
from mcrm.feedback.services import open_ticket
from mcrm.keywords import texts
from mcrm.keywords.context import Context, per_transaction
from mcrm.surveys import services as surveys

#: what help calls each built-in in the SMS (consumers read Chinese); short, so that the default
#: help reply with every built-in fits one SMS (70 characters with the signature)
HELP_LABELS = {"join": "注册", "points": "积分", "stop": "退订", "start": "订阅", "suggestion": "建议",
               "complaint": "投诉", "praise": "表扬", "survey": "调查"}


def help_keywords(merchant, custom_apps) -> str:
    """``ZC注册，JF积分，...``: each built-in's first keyword, then the active wizard apps."""
    keywords = texts.builtin_keywords(merchant)
    survey = per_transaction(("survey", merchant.id), lambda: surveys.has_active_survey(merchant))
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
    ctx.reply("help", keywords=help_keywords(ctx.merchant, custom_apps))


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


def survey(ctx: Context) -> None:
    """``DC`` or ``DC <code>``: start the survey; its opening question is the reply."""
    code = ctx.parsed.args[0] if ctx.parsed.args else None
    try:
        session = surveys.start_survey(ctx.merchant, msisdn=ctx.msisdn, now=ctx.now, code=code, member=ctx.member)
    except NotFoundError:
        ctx.reply("survey_none")
        return
    ctx.say(surveys.survey_intro(session))


def survey_answer(ctx: Context, session) -> None:
    if surveys.record_answer(session, ctx.parsed.text, now=ctx.now):
        ctx.reply("survey_thanks")
