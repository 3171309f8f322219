"""Segments: compile a definition to one query, count and sample it, describe it, save it.

Every entry point takes the merchant's id and checks the definition first: a bad one raises a
ValidationError saying what is wrong, in words the console shows as they are.
"""
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import force_locale, gettext

from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.segments import conditions as _builtin  # noqa: F401  (registers the built-in conditions)
from mcrm.segments import rules
from mcrm.segments import survey_conditions as _surveys  # noqa: F401  (registers the survey conditions)
from mcrm.segments.models import Segment
from mcrm.segments.sql import SOURCES, Context, segment_count, segment_where

#: members shown beside the live count while a segment is edited
SAMPLE_SIZE = 10
MAX_NAME = 60


def check_definition(merchant_id: int, definition) -> dict:
    """The definition normalized (see rules.normalize), with every object it names belonging to the merchant.

    ``definition`` may be a dict or its JSON text (the CLI and the builder send text).
    """
    if isinstance(definition, (str, bytes)):
        try:
            definition = json.loads(definition)
        except ValueError:
            raise ValidationError("The segment definition is not valid JSON") from None
    normalized = rules.normalize(definition)
    _names(merchant_id, normalized)
    return normalized


def _names(merchant_id: int, definition: dict) -> dict:
    """(source, id) → display name of each object the definition refers to; an unknown id is an error."""
    names, options = {}, {}
    for item in rules.conditions(definition):
        condition = rules.VOCABULARY.get(item["type"])
        for param in condition.params:
            if param.kind != "ref" or item.get(param.name) is None:
                continue
            if param.source not in options:
                options[param.source] = dict(SOURCES[param.source](merchant_id))
            if item[param.name] not in options[param.source]:
                raise ValidationError("The %(param)s chosen in condition %(condition)s no longer exists",
                                      param=param.name, condition=condition.key)
            names[(param.source, item[param.name])] = options[param.source][item[param.name]]
    return names


def _context(merchant_id: int, now: datetime) -> Context:
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFoundError("No such merchant")
    return Context(merchant_id=merchant_id, now=now, zone=ZoneInfo(merchant.timezone))


def _where(merchant_id: int, definition, now: datetime) -> list:
    return segment_where(check_definition(merchant_id, definition), _context(merchant_id, now))


def member_ids_select(merchant_id: int, definition, *, now: datetime) -> sa.Select:
    """One SELECT of the ids of the merchant's live members in the segment (for campaigns: use it as
    a subquery, ``Member.id.in_(...)``, or iterate it in batches)."""
    return sa.select(Member.id).where(*_where(merchant_id, definition, now))


def member_msisdns_select(merchant_id: int, definition, *, now: datetime) -> sa.Select:
    """One SELECT of the numbers of the merchant's live members in the segment (for activity kept by
    number, such as survey sessions: ``msisdn.in_(...)``)."""
    return sa.select(Member.msisdn).where(*_where(merchant_id, definition, now))


def count_members(merchant_id: int, definition, *, now: datetime) -> int:
    return db.session.scalar(segment_count(check_definition(merchant_id, definition), _context(merchant_id, now)))


def sample_members(merchant_id: int, definition, *, now: datetime, limit: int = SAMPLE_SIZE) -> list[Member]:
    """A few members of the segment, newest first, to show what it catches."""
    return list(db.session.scalars(sa.select(Member).where(*_where(merchant_id, definition, now))
                                   .order_by(Member.id.desc()).limit(limit)))


def describe(merchant_id: int, definition, *, locale: str | None = None) -> str:
    """The segment in plain words (``金卡 且 5月生日``), in ``locale`` or the current request's language."""
    normalized = check_definition(merchant_id, definition)
    names = _names(merchant_id, normalized)
    if locale is None:
        return rules.describe(normalized, translate=gettext, names=names)
    with force_locale(locale):
        return rules.describe(normalized, translate=gettext, names=names)


# -- saved segments -------------------------------------------------------------------------------

def get_segment(merchant_id: int, segment_id: int) -> Segment:
    """The merchant's segment; another merchant's id is as missing as one that never existed."""
    segment = db.session.get(Segment, segment_id)
    if segment is None or segment.merchant_id != merchant_id:
        raise NotFoundError("No such segment")
    return segment


def list_segments(merchant_id: int) -> list[Segment]:
    return list(db.session.scalars(sa.select(Segment).where(Segment.merchant_id == merchant_id)
                                   .order_by(Segment.name, Segment.id)))


def save_segment(merchant_id: int, *, name: str, definition, now: datetime, segment_id: int | None = None,
                 staff_id: int | None = None) -> Segment:
    """Create a segment, or replace the name and definition of ``segment_id``; names are unique per merchant."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the segment a name")
    if len(name) > MAX_NAME:
        raise ValidationError("A segment name has at most %(count)s characters", count=MAX_NAME)
    normalized = check_definition(merchant_id, definition)
    segment = get_segment(merchant_id, segment_id) if segment_id else Segment(merchant_id=merchant_id,
                                                                               created_at=now)
    taken = db.session.scalar(sa.select(Segment.id).where(Segment.merchant_id == merchant_id, Segment.name == name,
                                                          Segment.id != (segment.id or 0)))
    if taken is not None:
        raise ConflictError("There is already a segment called %(name)s", name=name)
    segment.name, segment.definition, segment.staff_id, segment.updated_at = name, normalized, staff_id, now
    db.session.add(segment)
    db.session.flush()
    return segment


def delete_segment(segment: Segment) -> None:
    db.session.delete(segment)
    db.session.flush()


# -- the builder --------------------------------------------------------------------------------

def builder_vocabulary(merchant_id: int) -> list[dict]:
    """Every condition with its params, labels translated and lists filled, for the builder's script."""
    cache: dict[str, list] = {}

    def options(source):
        if source not in cache:
            cache[source] = [[value, label] for value, label in SOURCES[source](merchant_id)]
        return cache[source]

    return [{"type": condition.key, "label": gettext(condition.label), "category": gettext(condition.category),
             "params": [{"name": p.name, "kind": p.kind, "label": gettext(p.label), "required": p.required,
                         "default": p.default, "min": p.minimum, "max": p.maximum,
                         "choices": [[value, gettext(label)] for value, label in p.choices]
                         or (options(p.source) if p.source else [])}
                        for p in condition.params]}
            for condition in rules.VOCABULARY]
