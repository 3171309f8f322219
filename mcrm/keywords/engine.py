"""The keyword engine: one stored MO in, its app run, its replies queued as transactional SMS.

Order (docs/keywords.md): STOP words win over everything; then staff commands from staff phones;
then an extension that routes to one app or survey; then an open survey takes the text as an answer
when it can be one; then the first word's keyword; then an open survey takes any other text (to ask
again); then an answer to a ticket's satisfaction question, or a further text that joins the number's
open ticket; anything else gets the merchant's choice (help, feedback or nothing).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.core.msisdn import mask_msisdn, normalize_msisdn
from mcrm.core.text import fold, to_half_width
from mcrm.extensions import db
from mcrm.feedback.services import add_member_text, find_ticket_to_join, record_satisfaction
from mcrm.keywords import actions, texts
from mcrm.keywords.apps.custom import list_live_apps
from mcrm.keywords.apps.staff import find_staff, run_command
from mcrm.keywords.context import Context, Reply, per_transaction
from mcrm.keywords.models import KeywordApp
from mcrm.keywords.rules import KeywordTable, Outcome, ParsedText, parse_text
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import InboundMessage, OutboundMessage
from mcrm.messaging.services import enqueue_sms
from mcrm.surveys.services import can_answer, find_open_session, find_survey_by_extension

logger = logging.getLogger(__name__)

#: SMPP data_coding values whose payload is not text (8-bit binary)
BINARY_CODINGS = {0x02, 0x04, 0xF6}

#: app references in a keyword table: built-in names, or this prefix and a wizard app's id
CUSTOM = "app:"


def keyword_table(merchant: Merchant, apps: list[KeywordApp]) -> KeywordTable:
    """Every keyword of the merchant → app: built-ins first, then active wizard apps."""
    builtins = texts.builtin_keywords(merchant)
    table = KeywordTable(stop_words=frozenset(fold(w) for w in builtins["stop"]))
    for app, words in builtins.items():
        table.add(app, words)
    for app in apps:
        table.add(f"{CUSTOM}{app.id}", app.keywords)
    return table


def answer_text(merchant: Merchant, *, msisdn: str, text: str | None, now: datetime, extension: str = "",
                destination: str = "", inbound_id: int | None = None, is_binary: bool = False,
                testing_app: KeywordApp | None = None) -> list[Reply]:
    """Run the engine on one text and return the replies (nothing is queued): the heart of
    ``handle_inbound_sms`` and of the wizard's live test panel (where ``testing_app`` answers even
    while paused). Flushes app effects."""
    parsed = ParsedText(Outcome.GARBLED) if is_binary else parse_text(text)
    ctx = Context(merchant=merchant, msisdn=msisdn, parsed=parsed, now=now, destination=destination,
                  inbound_id=inbound_id)
    apps = list_live_apps(merchant, now=now)
    if testing_app is not None and testing_app not in apps:
        apps.append(testing_app)
        table = keyword_table(merchant, apps)
    else:
        minute = now.replace(second=0, microsecond=0)
        table = per_transaction(("table", merchant.id, minute), lambda: keyword_table(merchant, apps))
    if parsed.outcome == Outcome.GARBLED:
        return []  # a decoding failure or binary data: answering could only confuse
    if not parsed.is_text:
        _answer_unrecognised(ctx, "help", apps)  # empty or over-long: tell them what works
        return ctx.replies
    if table.is_stop(parsed):
        actions.run_builtin("stop", ctx, apps=apps)
        return ctx.replies
    command = texts.STAFF_COMMANDS.get(parsed.keyword)
    if command is not None:
        staff = find_staff(merchant, msisdn)
        if staff is not None and run_command(ctx, staff, command):
            return ctx.replies
    app_ref = _extension_app(merchant, extension, apps)
    if app_ref is not None:
        # a text to <service number><extension> is all for that app: no keyword needed
        whole = ParsedText(Outcome.TEXT, text=parsed.text, keyword=parsed.keyword, first=parsed.first,
                           args=(to_half_width(parsed.first),) + parsed.args if parsed.first else parsed.args,
                           rest=parsed.text)
        ctx.parsed = whole
        if app_ref == "survey":
            actions.run_survey_extension(ctx)
        else:
            _run(app_ref, ctx, apps)
        return ctx.replies
    survey = find_survey_by_extension(merchant, extension, now=now)
    if survey is not None:
        actions.run_survey_extension(ctx, survey)
        return ctx.replies
    app_ref, matched = table.match(parsed)
    session = find_open_session(merchant, msisdn, now=now)
    if session is not None and (app_ref is None or (app_ref != "survey" and can_answer(session, parsed.text))):
        # inside a survey a keyword is the keyword only when it cannot be an answer; the survey's own
        # (DC) always is, so a texter can resume or switch even from a free-text question
        actions.run_survey_answer(ctx, session)
        return ctx.replies
    if app_ref is not None:
        ctx.parsed = matched
        _run(app_ref, ctx, apps)
        return ctx.replies
    if record_satisfaction(merchant, msisdn, parsed.text, now=now) is not None:
        ctx.reply("feedback_rated")
        return ctx.replies
    ticket = find_ticket_to_join(merchant, msisdn, now=now)
    if ticket is not None:
        # staff see it in the thread and answer from there: an automatic reply would only repeat
        add_member_text(ticket, text=parsed.text, now=now, inbound_message_id=inbound_id)
        return ctx.replies
    unknown = texts.unknown_action(merchant)
    if unknown == "feedback":
        _answer_unrecognised(ctx, "suggestion", apps, text=parsed.text)
    elif unknown == "help":
        _answer_unrecognised(ctx, "help", apps)
    return ctx.replies


#: the outbox occasion of automatic answers to texts the engine did not understand
UNRECOGNISED = "unrecognised"

#: the number's latest such answers, newest first, read along the (merchant, msisdn, id) index: a
#: range on created_at here makes SQLite walk every message of the merchant in the last hour instead
_LATEST_UNRECOGNISED = sa.select(OutboundMessage.created_at).where(
    OutboundMessage.merchant_id == sa.bindparam("merchant_id"), OutboundMessage.msisdn == sa.bindparam("msisdn"),
    OutboundMessage.occasion == UNRECOGNISED).order_by(OutboundMessage.id.desc()).limit(sa.bindparam("limit"))


def _answer_unrecognised(ctx: Context, app: str, apps: list[KeywordApp], **options) -> None:
    """Run ``app`` on a text not understood; past the merchant's answers per number and hour, it still
    runs (a feedback ticket is kept) but says nothing, which ends a loop with an auto-responder."""
    per_hour = texts.unknown_per_hour(ctx.merchant)
    since = ctx.now - timedelta(hours=1)
    latest = db.session.scalars(_LATEST_UNRECOGNISED, {"merchant_id": ctx.merchant.id, "msisdn": ctx.msisdn,
                                                       "limit": per_hour}).all()
    answered = sum(1 for created_at in latest if created_at > since)
    actions.run_builtin(app, ctx, apps=apps, **options)
    if answered >= per_hour:
        logger.info("%s had %d answers to unrecognised texts this hour: no more", mask_msisdn(ctx.msisdn), answered)
        ctx.replies.clear()
    for reply in ctx.replies:
        reply.occasion = UNRECOGNISED


def _extension_app(merchant: Merchant, extension: str, apps: list[KeywordApp]) -> str | None:
    if not extension:
        return None
    for app in apps:
        if app.extension and extension == app.extension:
            return f"{CUSTOM}{app.id}"
    return texts.extensions(merchant).get(extension)


def _run(app_ref: str, ctx: Context, apps: list[KeywordApp]) -> None:
    if app_ref.startswith(CUSTOM):
        app_id = int(app_ref[len(CUSTOM):])
        actions.run_custom(next(a for a in apps if a.id == app_id), ctx)
    else:
        actions.run_builtin(app_ref, ctx, apps=apps)


def handle_inbound_sms(inbound: InboundMessage, *, now: datetime) -> list:
    """Answer one claimed MO: run its app and queue the replies in the outbox. Flushes.

    Unrouted MOs and senders that are no phone number get nothing. Each reply carries the key
    ``mo:<id>:<n>``, so even a re-run of the same MO never queues a reply twice.
    """
    if inbound.merchant_id is None:
        return []
    merchant_id = inbound.merchant_id
    merchant = per_transaction(("merchant", merchant_id), lambda: db.session.get(Merchant, merchant_id))
    try:
        msisdn = normalize_msisdn(inbound.msisdn)
    except ValidationError:
        logger.info("MO %s from %s is no phone number: not answered", inbound.id, mask_msisdn(inbound.msisdn))
        return []
    replies = answer_text(merchant, msisdn=msisdn, text=inbound.text, now=now, extension=inbound.extension or "",
                          destination=inbound.destination_addr, inbound_id=inbound.id,
                          is_binary=inbound.data_coding in BINARY_CODINGS)
    queued = []
    for number, reply in enumerate(replies):
        queued.append(enqueue_sms(merchant, msisdn=reply.msisdn, body=reply.body, kind="transactional", now=now,
                                  member=reply.member, idempotency_key=f"mo:{inbound.id}:{number}",
                                  occasion=reply.occasion, secret_body=reply.secret_body))
    logger.debug("MO %s from %s answered with %d SMS", inbound.id, mask_msisdn(msisdn), len(queued))
    return queued
