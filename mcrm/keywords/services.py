"""The merchant's keywords, reply texts and wizard apps, as the console changes them.

The engine that answers texts is ``mcrm.keywords.engine``; each wizard kind's own rules are in
``mcrm.keywords.apps``.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.core.templates import TemplateError, check_template, render_template, template_fields
from mcrm.core.text import fold, to_half_width
from mcrm.extensions import db
from mcrm.keywords import texts
from mcrm.keywords.apps.config import check_ready, clean_config, read_info_csv
from mcrm.keywords.apps.custom import (MEMBER_FIELDS, REPLIES, cancel_signup, column_placeholders, event_when,
                                       reply_default, reply_fields, reply_ids, vote_counts)
from mcrm.keywords.context import Reply
from mcrm.keywords.engine import answer_text
from mcrm.keywords.models import (AppKind, AppStatus, CouponCode, EventSignup, InfoRow, KeywordApp,
                                  KeywordUse, KeywordWord, PollVote, SignupStatus)
from mcrm.keywords.records import iter_records
from mcrm.keywords.rules import find_conflicts, parse_text
from mcrm.merchants.models import Merchant
from mcrm.messaging.services import enqueue_sms
from mcrm.messaging.texts import check_length

MAX_KEYWORD_LENGTH = 20


def _taken_words(merchant: Merchant, *, except_builtin: str | None = None,
                 except_app: KeywordApp | None = None) -> dict[str, tuple[str, object]]:
    """Folded keyword → who has it: ("staff", the command), ("builtin", its label) or ("app", its name)."""
    taken = {word: ("staff", word.upper()) for word in texts.STAFF_COMMANDS}
    for app, words in texts.builtin_keywords(merchant).items():
        if app != except_builtin:
            taken.update({fold(w): ("builtin", texts.BUILTIN_LABELS[app]) for w in words})
    query = sa.select(KeywordWord.word, KeywordApp.name).join(KeywordApp).where(KeywordWord.merchant_id == merchant.id)
    if except_app is not None:
        query = query.where(KeywordWord.app_id != except_app.id)
    for word, name in db.session.execute(query).all():
        taken.setdefault(word, ("app", name))
    return taken


def check_keywords(words: list[str], taken: dict[str, tuple[str, object]]) -> list[str]:
    """Each keyword cleaned and checked: length, one word, and not anyone else's."""
    cleaned = [to_half_width(w).strip() for w in words if w.strip()]
    if not cleaned:
        raise ValidationError("Give at least one keyword")
    for word in cleaned:
        if len(word) > MAX_KEYWORD_LENGTH:
            raise ValidationError("Keyword %(word)s is longer than %(count)s characters", word=word,
                                  count=MAX_KEYWORD_LENGTH)
        if parse_text(word).keyword != fold(word):
            raise ValidationError("Keyword %(word)s must be one word without separators", word=word)
    conflicts = find_conflicts(cleaned, taken)
    if conflicts:
        word, (kind, owner) = conflicts[0][0], conflicts[0][1] or ("twice", None)
        if kind == "twice":
            raise ConflictError("Keyword %(word)s is given twice", word=word)
        if kind == "staff":
            raise ConflictError("Keyword %(word)s is the staff command %(owner)s", word=word, owner=owner)
        if kind == "builtin":
            raise ConflictError("Keyword %(word)s is already used by the built-in %(owner)s", word=word, owner=owner)
        raise ConflictError("Keyword %(word)s is already used by the app %(owner)s", word=word, owner=owner)
    return cleaned


def set_builtin_keywords(merchant: Merchant, app: str, words: list[str]) -> None:
    if app not in texts.DEFAULT_KEYWORDS:
        raise ValidationError("Unknown built-in app %(app)s", app=app)
    cleaned = check_keywords(words, _taken_words(merchant, except_builtin=app))
    _update_texts(merchant, "keywords", app, cleaned)


def set_reply_text(merchant: Merchant, reply_id: str, template: str) -> None:
    """Save a built-in reply text; empty puts the default back. Refused unless it renders."""
    if reply_id not in texts.DEFAULT_REPLIES:
        raise ValidationError("Unknown reply %(reply)s", reply=reply_id)
    template = (template or "").strip()
    if template:
        texts.check_reply(reply_id, template, signature=merchant.signature)  # TemplateError: a ValidationError
    _update_texts(merchant, "replies", reply_id, template or None)


def set_unknown_action(merchant: Merchant, action: str, *, per_hour: int | str | None = None) -> None:
    """What texts matching no keyword get, and at most how many answers a number gets an hour."""
    if action not in texts.UNKNOWN_ACTIONS:
        raise ValidationError("Unknown texts get one of: %(actions)s", actions=", ".join(texts.UNKNOWN_ACTIONS))
    settings = dict(merchant.texts or {})
    settings["unknown"] = action
    if per_hour is not None:
        low, high = texts.UNKNOWN_PER_HOUR_RANGE
        try:
            per_hour = int(str(per_hour).strip())
        except ValueError:
            per_hour = 0
        if not low <= per_hour <= high:
            raise ValidationError("Answers per number and hour: a whole number from 1 to 60")
        settings["unknown_per_hour"] = per_hour
    merchant.texts = settings
    db.session.flush()


def _update_texts(merchant: Merchant, section: str, key: str, value) -> None:
    # a new dict each time: the JSON column only notices reassignment
    settings = dict(merchant.texts or {})
    part = dict(settings.get(section) or {})
    if value is None:
        part.pop(key, None)
    else:
        part[key] = value
    settings[section] = part
    merchant.texts = settings
    db.session.flush()


def create_keyword_app(merchant: Merchant, *, kind: str, name: str) -> KeywordApp:
    """Step one of the wizard: a paused app of ``kind``; keywords, replies and limits come next."""
    if kind not in tuple(AppKind):
        raise ValidationError("Unknown app type %(kind)s", kind=kind)
    app = KeywordApp(merchant_id=merchant.id, kind=kind, name=_app_name(name), status=AppStatus.PAUSED,
                     replies={}, config={}, per_number_limit=1 if kind == AppKind.COUPON else None)
    db.session.add(app)
    db.session.flush()
    return app


def rename_keyword_app(app: KeywordApp, name: str) -> None:
    """The name shows in the help reply, so a typo must be fixable; the type stays."""
    app.name = _app_name(name)
    db.session.flush()


def _app_name(name: str | None) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationError("Give the app a name of at most 100 characters")
    return name


def set_app_keywords(app: KeywordApp, merchant: Merchant, words: list[str]) -> None:
    """The first word is the keyword, the others aliases; refused if any is taken by anyone else."""
    _refuse_if_ended(app)
    cleaned = check_keywords(words, _taken_words(merchant, except_app=app))
    app.words = []
    db.session.flush()  # old rows go before new ones arrive: the same word may be kept
    app.words = [KeywordWord(merchant_id=merchant.id, word=fold(word), display=word, position=position)
                 for position, word in enumerate(cleaned)]
    db.session.flush()


def set_app_replies(app: KeywordApp, replies: dict[str, str]) -> None:
    """Save the app's reply texts; each must render (placeholders of its kind), empty = default."""
    saved, signature = {}, db.session.get(Merchant, app.merchant_id).signature
    for reply_id in reply_ids(app.kind):
        template = (replies.get(reply_id) or "").strip()
        if not template:
            continue
        allowed = reply_fields(app, reply_id)
        try:
            # an info table not uploaded yet: its columns are checked against the reply on upload
            check_template(template, template_fields(template) if allowed is None else allowed)
            check_length(template, signature=signature)
        except TemplateError as error:
            raise ValidationError("%(reply_id)s: %(reason)s", reply_id=reply_id, reason=error) from None
        saved[reply_id] = template
    app.replies = saved
    db.session.flush()


def set_app_limits(app: KeywordApp, merchant: Merchant, *, per_number_limit: int | None,
                   starts_at: datetime | None, ends_at: datetime | None, extension: str | None) -> None:
    _refuse_if_ended(app)
    if per_number_limit is not None and per_number_limit < 1:
        raise ValidationError("The limit per number is at least 1 (or empty for no limit)")
    if starts_at and ends_at and starts_at >= ends_at:
        raise ValidationError("The app must start before it ends")
    extension = (extension or "").strip() or None
    if extension is not None:
        if not extension.isdigit() or len(extension) > 6:
            raise ValidationError("An extension is 1 to 6 digits")
        if extension in texts.extensions(merchant):
            raise ConflictError("Extension %(extension)s already goes to the built-in %(app)s", extension=extension,
                                app=texts.BUILTIN_LABELS.get(texts.extensions(merchant)[extension], ""))
        other = db.session.scalar(sa.select(KeywordApp.name).where(
            KeywordApp.merchant_id == merchant.id, KeywordApp.extension == extension, KeywordApp.id != app.id))
        if other:
            raise ConflictError("Extension %(extension)s already goes to app %(app)s", extension=extension, app=other)
    app.per_number_limit, app.starts_at, app.ends_at, app.extension = per_number_limit, starts_at, ends_at, extension
    db.session.flush()


def set_app_config(app: KeywordApp, **config) -> None:
    """The kind's own settings, each checked (see ``mcrm.keywords.apps.custom``)."""
    merged = dict(app.config or {})
    merged.update(clean_config(app.kind, config))
    app.config = merged
    db.session.flush()


def activate_keyword_app(app: KeywordApp) -> None:
    _refuse_if_ended(app)
    if not app.words and not app.extension:
        raise ValidationError("Give the app a keyword (or an extension) before switching it on")
    check_ready(app)
    if app.kind == AppKind.COUPON and app.config.get("source") == "pool" and not app_figures(app)["pool_left"]:
        raise ValidationError("Add codes to the pool first: every text would get the 'no coupons left' reply")
    app.status = AppStatus.ACTIVE
    db.session.flush()


def pause_keyword_app(app: KeywordApp) -> None:
    _refuse_if_ended(app)
    app.status = AppStatus.PAUSED
    db.session.flush()


def end_keyword_app(app: KeywordApp, *, now: datetime) -> None:
    """Stop the app for good. Its keywords and extension are free for other apps at once; what it
    collected stays on its page and in its download, and coupons it issued can still be redeemed
    until they expire. Its keywords are kept in ``config["ended_keywords"]`` for the record."""
    if app.status == AppStatus.ENDED:
        return
    app.config = {**(app.config or {}), "ended_keywords": app.keywords}
    app.words = []
    app.extension = None
    app.status = AppStatus.ENDED
    if app.ends_at is None or app.ends_at > now:
        app.ends_at = now
    db.session.flush()


def can_delete_keyword_app(app: KeywordApp) -> bool:
    """Only an app that never answered a text and holds nothing collected (a draft, a mistake)."""
    return not app.uses and next(iter_records(app, batch=1), None) is None


def delete_keyword_app(app: KeywordApp) -> None:
    if not can_delete_keyword_app(app):
        raise ConflictError("%(app)s has answered texts: end it instead, which keeps what it collected",
                            app=app.name)
    db.session.delete(app)
    db.session.flush()


def _refuse_if_ended(app: KeywordApp) -> None:
    if app.status == AppStatus.ENDED:
        raise ConflictError("%(app)s has ended and can no longer be changed", app=app.name)


def list_keyword_apps(merchant: Merchant) -> list[KeywordApp]:
    return db.session.scalars(sa.select(KeywordApp).where(KeywordApp.merchant_id == merchant.id)
                              .order_by(KeywordApp.id.desc())).all()


def has_coupon_app(merchant: Merchant) -> bool:
    """Whether the counter needs the coupon look-up (any coupon app, even a paused one, has codes out)."""
    return db.session.scalar(sa.select(sa.exists().where(KeywordApp.merchant_id == merchant.id,
                                                         KeywordApp.kind == AppKind.COUPON)))


def try_text(merchant: Merchant, *, msisdn: str, text: str, now: datetime, extension: str = "",
             app: KeywordApp | None = None) -> list[Reply]:
    """The live test panel: the replies ``text`` would get (``app`` as if switched on), with every
    effect rolled back."""
    savepoint = db.session.begin_nested()
    try:
        return answer_text(merchant, msisdn=msisdn, text=text, now=now, extension=extension, testing_app=app)
    finally:
        savepoint.rollback()


def upload_info_table(app: KeywordApp, data: bytes) -> int:
    """Replace an info-query app's table with an uploaded CSV; returns the row count.

    The ``found`` reply may use the columns as placeholders, so a table without a column the reply
    uses is refused (the reply would come out with holes).
    """
    if app.kind != AppKind.INFO:
        raise ValidationError("Only info-query apps have a table")
    header, records = read_info_csv(data)
    allowed = set(column_placeholders(header)) | set(MEMBER_FIELDS) | set(REPLIES[AppKind.INFO]["found"][1])
    missing = [f for f in template_fields(app.replies.get("found", "")) if f not in allowed]
    if missing:
        raise ValidationError("The reply uses {%(field)s} but the table has no such column", field=missing[0])
    lookups = [fold(r[header[0]]) for r in records]
    if any(not lookup or len(lookup) > 64 for lookup in lookups):
        raise ValidationError("Every %(column)s must be 1 to 64 characters", column=header[0])
    if len(set(lookups)) != len(lookups):
        raise ConflictError("The first column (%(column)s) has the same code twice", column=header[0])
    db.session.execute(sa.delete(InfoRow).where(InfoRow.app_id == app.id))
    db.session.execute(sa.insert(InfoRow), [{"app_id": app.id, "lookup": lookup, "values": record}
                                            for lookup, record in zip(lookups, records, strict=True)])
    app.config = {**(app.config or {}), "columns": header, "rows": len(records)}
    db.session.flush()
    return len(records)


def app_figures(app: KeywordApp) -> dict:
    """What the app's console page shows: usage, and its kind's live figures."""
    figures = {"numbers": db.session.scalar(sa.select(sa.func.count(sa.distinct(KeywordUse.msisdn)))
                                            .where(KeywordUse.app_id == app.id))}
    if app.kind == AppKind.VOTE:
        figures["votes"] = vote_counts(app)
    elif app.kind == AppKind.COUPON:
        counts = db.session.execute(sa.select(
            sa.func.count(CouponCode.issued_at), sa.func.count(CouponCode.redeemed_at),
            sa.func.count().filter(CouponCode.msisdn.is_(None))).where(CouponCode.app_id == app.id)).one()
        figures.update(issued=counts[0], redeemed=counts[1], pool_left=counts[2],
                       coupons=db.session.scalars(sa.select(CouponCode).where(
                           CouponCode.app_id == app.id, CouponCode.msisdn.is_not(None))
                           .order_by(CouponCode.issued_at.desc()).limit(50)).all())
    elif app.kind == AppKind.EVENT:
        figures["signups"] = list(iter_records(app))  # (sign-up, member name), in the order they came
        figures["seats_taken"] = sum(s.seats for s, _name in figures["signups"] if s.status == "confirmed")
    return figures


def cancel_event_signup(app: KeywordApp, signup_id: int, *, now: datetime) -> int:
    """Cancel a sign-up from the console and text everyone it moved off the waiting list.

    Returns how many were confirmed from the waiting list.
    """
    _refuse_if_ended(app)
    signup = db.session.get(EventSignup, signup_id)
    if signup is None:
        raise NotFoundError("No such sign-up")
    merchant = db.session.get(Merchant, app.merchant_id)
    template = app.replies.get("promoted") or reply_default(app.kind, "promoted")
    promoted = cancel_signup(app, signup, now=now)
    for moved in promoted:
        body = render_template(template, {"shop": merchant.name, "event": app.name, "seats": moved.seats,
                                          "when": event_when(app, merchant)})
        enqueue_sms(merchant, msisdn=moved.msisdn, body=body, kind="transactional", now=now,
                    idempotency_key=f"event-promoted:{moved.id}")
    return len(promoted)


def erase_keyword_records(merchant_id: int, msisdn: str, placeholder: str, *, now: datetime) -> None:
    """A member's erasure: its number leaves the records of the merchant's keyword apps (answered
    texts, votes, coupons, sign-ups), which keep ``placeholder`` so the counts, the per-number limits
    and the seats stay. A place on a waiting list goes (nobody could be told it came free); a
    confirmed seat stays, marked reminded, since no reminder can reach it. Flushes."""
    apps = sa.select(KeywordApp.id).where(KeywordApp.merchant_id == merchant_id)
    signups = EventSignup.__table__
    theirs = sa.and_(signups.c.app_id.in_(apps), signups.c.msisdn == msisdn)
    db.session.execute(sa.delete(signups).where(theirs, signups.c.status == SignupStatus.WAITING))
    db.session.execute(sa.update(signups).where(theirs, signups.c.reminded_at.is_(None)).values(reminded_at=now))
    for table in (signups, KeywordUse.__table__, PollVote.__table__):
        db.session.execute(sa.update(table).where(table.c.app_id.in_(apps), table.c.msisdn == msisdn)
                           .values(msisdn=placeholder))
    coupons = CouponCode.__table__
    db.session.execute(sa.update(coupons).where(coupons.c.merchant_id == merchant_id, coupons.c.msisdn == msisdn)
                       .values(msisdn=placeholder))
    db.session.expire_all()
    db.session.flush()
