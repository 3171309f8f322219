"""The wordings of the agenda's SMS: defaults in Chinese and English, and a merchant's own.

The agenda keeps its own texts (``AgendaText`` rows) rather than the keyword replies' store
(``Merchant.texts``): that store is the keyword engine's (keywords, the unknown-text answer,
extensions, replies), and the agenda sits below the keywords. What both need is generic and lies
below them: the template checker (``mcrm.core.templates``) and the SMS length limit
(``mcrm.messaging.texts``). A merchant without a text of its own gets the default of its language
(``Merchant.locale``); an empty text puts the default back.
"""
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from mcrm.agenda.models import AgendaText
from mcrm.core.errors import NotFoundError
from mcrm.core.templates import check_template, render_template
from mcrm.extensions import db
from mcrm.merchants.models import Merchant
from mcrm.messaging.texts import check_length

STAFF_REMINDER, MEMBER_REMINDER, ESCALATION = "staff_reminder", "member_reminder", "escalation"

#: each text and the placeholders it may use; ``{place}`` is empty for an item without a place
FIELDS = {
    STAFF_REMINDER: ("shop", "when", "title", "place"),
    MEMBER_REMINDER: ("shop", "name", "when", "title", "place"),
    ESCALATION: ("shop", "staff", "when", "title", "place"),
}
NAMES = tuple(FIELDS)

LABELS = {
    STAFF_REMINDER: _l("Reminder to the staff of an item"),
    MEMBER_REMINDER: _l("Reminder to a member of an appointment"),
    ESCALATION: _l("Owner told a reminder is unconfirmed"),
}

#: the texts a merchant has not changed, in its language (the signature is added by the outbox)
DEFAULTS = {
    "zh": {
        STAFF_REMINDER: "日程提醒：{when} {title}{place}。回1确认。",
        MEMBER_REMINDER: "{name}您好，提醒您{when}的预约：{title}{place}。",
        ESCALATION: "{staff}未确认日程提醒：{when} {title}{place}。",
    },
    "en": {
        STAFF_REMINDER: "Reminder: {when} {title}{place}. Reply 1 to confirm.",
        MEMBER_REMINDER: "Dear {name}, a reminder of your appointment on {when}: {title}{place}.",
        ESCALATION: "{staff} has not confirmed the reminder: {when} {title}{place}.",
    },
}
#: what the fields are filled with, per language: the moment, the place and a member without a name
_WHEN = {"zh": "%m月%d日 %H:%M", "en": "%d %b %H:%M"}
_PLACE = {"zh": "，地点：{place}", "en": ", at {place}"}
_NAMELESS = {"zh": "会员", "en": "member"}
#: what a preview fills in
_SAMPLE_TITLE, _SAMPLE_PLACE, _SAMPLE_MEMBER, _SAMPLE_STAFF = "王总来店", "二楼包间", "王先生", "小李"


def _language(merchant: Merchant) -> str:
    return merchant.locale if merchant.locale in DEFAULTS else "zh"


def default_text(merchant: Merchant, name: str) -> str:
    return DEFAULTS[_language(merchant)][name]


def _own_texts(merchant: Merchant) -> dict[str, AgendaText]:
    rows = db.session.scalars(sa.select(AgendaText).where(AgendaText.merchant_id == merchant.id))
    return {row.name: row for row in rows}


def list_texts(merchant: Merchant) -> list[tuple[str, str, bool]]:
    """Every agenda text as (name, the text that goes, whether it is the merchant's own)."""
    own = _own_texts(merchant)
    return [(name, own[name].body if name in own else default_text(merchant, name), name in own) for name in NAMES]


def text_of(merchant: Merchant, name: str) -> str:
    """The template of one SMS: the merchant's own, else the default of its language."""
    row = db.session.scalar(sa.select(AgendaText).where(AgendaText.merchant_id == merchant.id,
                                                        AgendaText.name == name))
    return row.body if row is not None else default_text(merchant, name)


def check_text(merchant: Merchant, name: str, body: str) -> None:
    """Refuse (TemplateError) a text with a placeholder it may not use, unbalanced braces, or more
    SMS with the signature than any text may take."""
    check_template(body, FIELDS[name])
    check_length(body, signature=merchant.signature)


def set_text(merchant: Merchant, name: str, body: str, *, now: datetime) -> None:
    """Save a merchant's own wording of one SMS (flushes); empty puts the default back."""
    if name not in FIELDS:
        raise NotFoundError("No such agenda text")
    body = (body or "").strip()
    own = _own_texts(merchant).get(name)
    if not body:
        if own is not None:
            db.session.delete(own)
    else:
        check_text(merchant, name, body)
        if own is None:
            db.session.add(AgendaText(merchant_id=merchant.id, name=name, body=body, created_at=now, updated_at=now))
        else:
            own.body, own.updated_at = body, now
    db.session.flush()


def when_text(merchant: Merchant, moment: datetime) -> str:
    """``11月21日 15:00`` (``21 Nov 15:00`` in English): a moment as an SMS shows it, in the
    merchant's time."""
    return moment.astimezone(ZoneInfo(merchant.timezone)).strftime(_WHEN[_language(merchant)])


def render(merchant: Merchant, template: str, *, place: str = "", member_name: str | None = None,
           **values) -> str:
    """One agenda SMS: ``template`` (``text_of``, or a text being tried out) filled in."""
    language = _language(merchant)
    return render_template(template, {"shop": merchant.name, "name": member_name or _NAMELESS[language],
                                      "place": _PLACE[language].format(place=place) if place else "", **values})


def preview(merchant: Merchant, name: str, body: str, *, now: datetime) -> str:
    """A text as a phone would show it, signature first, filled with sample values (an item at
    ``now``); refused as ``set_text`` would refuse it. Empty previews the default."""
    template = (body or "").strip() or default_text(merchant, name)
    check_text(merchant, name, template)
    return merchant.signature + render(merchant, template, when=when_text(merchant, now), title=_SAMPLE_TITLE,
                                       place=_SAMPLE_PLACE, member_name=_SAMPLE_MEMBER, staff=_SAMPLE_STAFF)
