"""Members: enrol, update, delete, opt out and in, look up."""
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import lazyload

from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.core.msisdn import normalize_mobile, normalize_msisdn
from mcrm.core.rows import register_inserted
from mcrm.extensions import db
from mcrm.members.birthdays import Birthday, parse_birthday
from mcrm.members.models import (ConsentEvent, ConsentRecord, Gender, Member, MemberTag, OptOut, Source,
                                 member_number)
from mcrm.members.name_keys import name_sort_key
from mcrm.merchants.models import Merchant
from mcrm.webhooks import events as webhook_events
from mcrm.webhooks.models import WebhookEvent
from mcrm.webhooks.services import emit

MAX_TAGS = 20


@dataclass(frozen=True)
class Consent:
    """How a member agreed to marketing: channel (sms, console, import, api) and detail."""
    channel: str
    detail: str = ""


@dataclass(frozen=True)
class Welcome:
    """What a member added in the console or by import gets: the join gift, the welcome SMS."""
    gift: bool = False
    sms: bool = False

    @classmethod
    def of(cls, merchant: Merchant) -> "Welcome":
        """The merchant's own choice (the console; the import page's defaults)."""
        return cls(gift=merchant.added_members_get_gift, sms=merchant.added_members_get_sms)


#: who welcomes new members: the join gift and the welcome SMS (the ZC reply) belong to features
#: above members, which register here (``keywords.apps.members``)
_WELCOMERS: list = []


def on_welcome(welcomer):
    """Register ``welcomer(merchant, members, welcome, *, now, actor)``; returns it (a decorator)."""
    _WELCOMERS.append(welcomer)
    return welcomer


def welcome_members(merchant: Merchant, members: list[Member], welcome: Welcome, *, now: datetime,
                    actor) -> None:
    """Give members just added in the console or by import what ``welcome`` says. Flushes."""
    if members and (welcome.gift or welcome.sms):
        for welcomer in _WELCOMERS:
            welcomer(merchant, members, welcome, now=now, actor=actor)


#: what features above members keep on a member and set when it joins (points: its tier); they
#: register here (``points.services``), so that members never imports them
_JOINERS: list = []


def on_join(joiner):
    """Register ``joiner(member, merchant, *, now)``, run as a member joins or comes back; returns it."""
    _JOINERS.append(joiner)
    return joiner


#: ``member`` of opt_out_number / opt_in_number and ``existing`` of enrol_member when the caller
#: has not read the number's member
LOOK_UP = object()


def enrol_member(merchant: Merchant, *, msisdn: str, now: datetime, source: str = Source.CONSOLE,
                 consent: Consent | None = None, region: str = "CN", existing: Member | None = LOOK_UP,
                 **fields) -> Member:
    """Create a member; the msisdn must not belong to a live member of this merchant.

    A soft-deleted member with the same number comes back, with the new fields. ``existing``: the
    number's member, live or deleted (or None for none), when the caller has read it already.
    """
    msisdn = normalize_mobile(msisdn, region)
    if existing is LOOK_UP:
        existing = find_member_by_msisdn(merchant, msisdn, include_deleted=True)
    if existing is not None and existing.deleted_at is None:
        raise ConflictError("%(msisdn)s is already a member", msisdn=msisdn, member_id=existing.id)
    member = prepare_member(merchant, msisdn, now=now, source=source, consent=consent, revive=existing,
                            **fields)
    if existing is None and not member.tags:
        _insert_pending(member)
    db.session.flush()
    if consent is not None and existing is None:  # a revived member's was logged by prepare_member
        log_consents([(member, ConsentEvent.CONSENT, consent)], now=now)
    emit_joined(merchant.id, [(member.id, msisdn)], source=source, now=now)
    return member


def emit_joined(merchant_id: int, members: list[tuple[int, str]], *, source: str, now: datetime) -> None:
    """The ``member.joined`` webhook event of each (member id, msisdn) just enrolled or revived."""
    emit(merchant_id, WebhookEvent.MEMBER_JOINED, [
        webhook_events.member_joined(member_no=member_number(member_id), msisdn=msisdn, source=source,
                                     joined_at=now)
        for member_id, msisdn in members], now=now)


_members = Member.__table__
_INSERT_MEMBER = sa.insert(_members).returning(_members.c.id)


def _insert_pending(member: Member) -> None:
    """Insert a new member (added, without tags) with one Core statement instead of the ORM's flush,
    which costs several times the statement (every join by SMS makes one). Every column is written
    as the flush would (its default where unset)."""
    for column in _members.columns:
        if column.key not in member.__dict__ and column.default is not None:
            default = column.default
            setattr(member, column.key, default.arg(None) if default.is_callable else default.arg)
    values = {column.key: getattr(member, column.key) for column in _members.columns if column.key != "id"}
    member.id = db.session.connection().execute(_INSERT_MEMBER, values).scalar_one()
    register_inserted(member)


def prepare_member(merchant: Merchant, msisdn: str, *, now: datetime, source: str = Source.CONSOLE,
                   consent: Consent | None = None, revive: Member | None = None, **fields) -> Member:
    """enrol_member without the look-up and the flush, for imports that flush a thousand at a time.

    ``msisdn`` must be E.164 and free; ``revive`` is its soft-deleted member, if there is one.
    """
    if source not in tuple(Source):
        raise ValidationError("Unknown source %(source)r", source=source)
    earlier_stop = take_opt_outs(merchant, [msisdn]).get(msisdn)
    member = revive or Member(merchant_id=merchant.id, msisdn=msisdn, msisdn_rev=msisdn[::-1])
    member.deleted_at = None
    member.joined_at = now
    member.source = source
    _apply_fields(member, fields)
    if revive is None:
        db.session.add(member)
    if consent is not None:
        record_consent(member, consent, now=now)
        if member.id is not None:  # a new member has no id yet: its enrolment logs the consent
            log_consents([(member, ConsentEvent.CONSENT, consent)], now=now)
    if earlier_stop is not None:  # the number said STOP before it joined: that still holds
        member.opted_out, member.opted_out_at = True, earlier_stop
    for joiner in _JOINERS:
        joiner(member, merchant, now=now)
    return member


def update_member(member: Member, **fields) -> Member:
    set_member_fields(member, **fields)
    db.session.flush()
    return member


def set_member_fields(member: Member, **fields) -> None:
    """update_member without the flush (imports flush per batch)."""
    _apply_fields(member, fields)


def _apply_fields(member: Member, fields: dict) -> None:
    for key, value in fields.items():
        if key == "name":
            value = (value or "").strip()
            if len(value) > 64:
                raise ValidationError("Name is longer than 64 characters")
            member.name = value
            member.name_key = name_sort_key(value)
        elif key == "gender":
            if value not in tuple(Gender):
                raise ValidationError("Gender must be one of %(genders)s", genders=", ".join(tuple(Gender)))
            member.gender = value
        elif key == "birthday":
            set_birthday(member, value)
        elif key == "tags":
            set_tags(member, value)
        elif key == "custom_fields":
            member.custom_fields = {str(k).strip(): str(v).strip() for k, v in (value or {}).items() if str(k).strip()}
        elif key == "opted_out":
            member.opted_out = bool(value)
        elif key in ("last_visit_at",):
            setattr(member, key, value)
        elif key == "total_spend":
            member.total_spend = Decimal(value or 0)
        else:
            raise ValidationError("Unknown member field %(key)r", key=key)


def set_birthday(member: Member, value: Birthday | str | None) -> None:
    if value in (None, ""):
        member.birthday = None
        member.birthday_year_known = True
        member.birthday_is_lunar = False
        member.birthday_lunar_month = member.birthday_lunar_day = None
        member.birthday_month = member.birthday_day = None
        return
    birthday = value if isinstance(value, Birthday) else parse_birthday(value)
    member.birthday_is_lunar = birthday.is_lunar
    member.birthday = birthday.solar
    member.birthday_year_known = birthday.year_known
    member.birthday_lunar_month = birthday.lunar_month
    member.birthday_lunar_day = birthday.lunar_day
    member.birthday_month = birthday.month
    member.birthday_day = birthday.day


def member_birthday(member: Member) -> Birthday | None:
    if member.birthday_is_lunar:
        return Birthday(lunar_month=member.birthday_lunar_month, lunar_day=member.birthday_lunar_day,
                        year_known=False)
    if member.birthday is not None:
        return Birthday(solar=member.birthday, year_known=member.birthday_year_known)
    return None


def parse_tags(text: str) -> list[str]:
    """Tags typed as 'vip, 常客 ; 午餐' → ['vip', '常客', '午餐']."""
    import re
    return [t for t in (p.strip() for p in re.split(r"[,，;；\s]+", text or "")) if t]


def set_tags(member: Member, tags) -> None:
    names = parse_tags(tags) if isinstance(tags, str) else [str(t).strip() for t in tags or [] if str(t).strip()]
    names = list(dict.fromkeys(names))
    if len(names) > MAX_TAGS:
        raise ValidationError("At most %(count)s tags", count=MAX_TAGS)
    if any(len(n) > 32 for n in names):
        raise ValidationError("A tag is at most 32 characters")
    keep = {t.tag: t for t in member.tags}
    member.tags = [keep.get(n) or MemberTag(tag=n, merchant_id=member.merchant_id) for n in names]


def record_consent(member: Member, consent: Consent, *, now: datetime) -> None:
    member.consent_at = now
    member.consent_channel = consent.channel
    member.consent_detail = consent.detail[:200]


_LOG_CONSENT = sa.insert(ConsentRecord.__table__)


def log_consents(events: list[tuple[Member | int, str, Consent]], *, now: datetime,
                 merchant_id: int | None = None) -> None:
    """Keep (member or member id, ConsentEvent, how) as consent records, in one statement (a join
    by SMS and an import both write them). ``merchant_id`` is needed when ids are given."""
    if not events:
        return
    db.session.connection().execute(_LOG_CONSENT, [
        dict(merchant_id=merchant_id if isinstance(member, int) else member.merchant_id,
             member_id=member if isinstance(member, int) else member.id, event=str(event),
             channel=consent.channel, detail=consent.detail[:200], at=now)
        for member, event, consent in events])


def list_consent_records(member: Member) -> list[ConsentRecord]:
    """The member's consents, opt-outs and opt-ins, oldest first."""
    return db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.member_id == member.id)
                              .order_by(ConsentRecord.id)).all()


def opt_out(member: Member, *, now: datetime, how: Consent = Consent(Source.CONSOLE)) -> bool:
    """Stop all marketing to the member, noting ``how`` it asked. Returns False when already opted out."""
    if member.opted_out:
        return False
    member.opted_out = True
    member.opted_out_at = now
    db.session.flush()
    log_consents([(member, ConsentEvent.OPT_OUT, how)], now=now)
    emit(member.merchant_id, WebhookEvent.MEMBER_OPTED_OUT, [webhook_events.member_opted_out(
        member_no=member.member_no, msisdn=member.msisdn, channel=how.channel, opted_out_at=now)], now=now)
    return True


def opt_in(member: Member, consent: Consent, *, now: datetime) -> bool:
    """Resume marketing, with a fresh consent record. Returns False when not opted out."""
    record_consent(member, consent, now=now)
    was_out = member.opted_out
    member.opted_out = False
    member.opted_out_at = None
    db.session.flush()
    if was_out:
        log_consents([(member, ConsentEvent.OPT_IN, consent)], now=now)
    return was_out


def delete_member(member: Member, *, now: datetime) -> None:
    """Soft delete: the row and its ledger stay for the records, the member leaves every list.

    An opted-out member's request goes onto the opt-out list: the number still wants no marketing.
    """
    member.deleted_at = now
    _keep_opt_out(member, now=now, detail=f"member {member.member_no} deleted")
    db.session.flush()


def _keep_opt_out(member: Member, *, now: datetime, detail: str) -> None:
    """Put an opted-out member's request on the opt-out list as its row leaves: the number still
    wants no marketing, whoever enrols it or texts it next."""
    if member.opted_out and db.session.scalar(_ON_OPT_OUT_LIST, {"merchant_id": member.merchant_id,
                                                                  "msisdn": member.msisdn}) is None:
        db.session.add(OptOut(merchant_id=member.merchant_id, msisdn=member.msisdn,
                              opted_out_at=member.opted_out_at or now, channel="member", detail=detail))


def opt_out_number(merchant: Merchant, msisdn: str, *, now: datetime, channel: str, detail: str = "",
                   region: str = "CN", member: Member | None = LOOK_UP) -> bool:
    """Stop all marketing to a number: its member's opt-out, or an entry on the opt-out list for a
    number that is no member. Returns False when it already was opted out.

    ``member``: the number's live member (or None for none) when the caller has read it already."""
    msisdn = normalize_msisdn(msisdn, region)
    if member is LOOK_UP:
        member = find_member_by_msisdn(merchant, msisdn)
    if member is not None:
        return opt_out(member, now=now, how=Consent(channel, detail))
    if on_opt_out_list(merchant, msisdn):
        return False
    db.session.add(OptOut(merchant_id=merchant.id, msisdn=msisdn, opted_out_at=now, channel=channel,
                          detail=detail[:200]))
    db.session.flush()
    emit(merchant.id, WebhookEvent.MEMBER_OPTED_OUT,
         [webhook_events.number_opted_out(msisdn=msisdn, channel=channel, opted_out_at=now)], now=now)
    return True


def opt_in_number(merchant: Merchant, msisdn: str, consent: Consent, *, now: datetime,
                  region: str = "CN", member: Member | None = LOOK_UP) -> bool:
    """The number's own request to get marketing again (its member's, or off the opt-out list).
    Returns False when it was not opted out. ``member`` as for ``opt_out_number``."""
    msisdn = normalize_msisdn(msisdn, region)
    if member is LOOK_UP:
        member = find_member_by_msisdn(merchant, msisdn)
    if member is not None:
        return opt_in(member, consent, now=now)
    return bool(take_opt_outs(merchant, [msisdn]))


# The look-ups every text to the keyword engine makes (a join, STOP, START) are built once, with
# bind parameters: building one costs more than running it.
_ON_OPT_OUT_LIST = sa.select(OptOut.id).where(OptOut.merchant_id == sa.bindparam("merchant_id"),
                                              OptOut.msisdn == sa.bindparam("msisdn"))
_OPT_OUTS_OF = sa.and_(OptOut.merchant_id == sa.bindparam("merchant_id"),
                       OptOut.msisdn.in_(sa.bindparam("msisdns", expanding=True)))
_FIND_OPT_OUTS = sa.select(OptOut.msisdn, OptOut.opted_out_at).where(_OPT_OUTS_OF)
_DELETE_OPT_OUTS = sa.delete(OptOut).where(_OPT_OUTS_OF).execution_options(synchronize_session=False)
#: Member.tags is selectin for the console lists, so a member load would fetch them in a second
#: query; one member's are loaded when touched
_MEMBER_BY_MSISDN = sa.select(Member).where(
    Member.merchant_id == sa.bindparam("merchant_id"), Member.msisdn == sa.bindparam("msisdn")
).options(lazyload(Member.tags))
_LIVE_MEMBER_BY_MSISDN = _MEMBER_BY_MSISDN.where(Member.deleted_at.is_(None))


def on_opt_out_list(merchant: Merchant, msisdn: str) -> bool:
    """Whether a number (E.164) that is no member asked this merchant for no marketing."""
    return db.session.scalar(_ON_OPT_OUT_LIST, {"merchant_id": merchant.id, "msisdn": msisdn}) is not None


def take_opt_outs(merchant: Merchant, msisdns: list[str]) -> dict[str, datetime]:
    """Take numbers (E.164) off the opt-out list as they become members; returns number → when it
    opted out, for those that were on it (the caller opts the member out, or in with consent)."""
    if not msisdns:
        return {}
    numbers = {"merchant_id": merchant.id, "msisdns": list(msisdns)}
    # on the connection: plain rows, without the ORM's execution path (a join by SMS asks each time);
    # nothing waits unflushed for this table (every service that adds to the list flushes)
    connection = db.session.connection()
    found = dict(connection.execute(_FIND_OPT_OUTS, numbers).all())
    if found:
        connection.execute(_DELETE_OPT_OUTS, numbers)
    return found


def list_opt_outs(merchant: Merchant, *, search: str = "", before_id: int | None = None,
                  limit: int = 50) -> list[OptOut]:
    """The opt-out list, newest first, a page at a time (``before_id``: the last id of the page
    before); ``search`` matches the end of the number."""
    query = sa.select(OptOut).where(OptOut.merchant_id == merchant.id)
    digits = "".join(ch for ch in search if ch.isdigit())
    if digits:
        query = query.where(OptOut.msisdn.endswith(digits, autoescape=True))
    if before_id is not None:
        query = query.where(OptOut.id < before_id)
    return db.session.scalars(query.order_by(OptOut.id.desc()).limit(limit)).all()


def find_member_by_msisdn(merchant: Merchant, msisdn: str, *, include_deleted: bool = False) -> Member | None:
    return db.session.scalar(_MEMBER_BY_MSISDN if include_deleted else _LIVE_MEMBER_BY_MSISDN,
                             {"merchant_id": merchant.id, "msisdn": msisdn})


def get_member_by_msisdn(merchant: Merchant, msisdn: str) -> Member:
    """The live member with this number (E.164), or NotFoundError."""
    member = find_member_by_msisdn(merchant, msisdn)
    if member is None:
        raise NotFoundError("No member has this number")
    return member


def get_member(merchant: Merchant, member_id: int) -> Member:
    query = sa.select(Member).where(Member.id == member_id, Member.merchant_id == merchant.id,
                                    Member.deleted_at.is_(None))
    member = db.session.scalar(query)
    if member is None:
        raise NotFoundError("No such member")
    return member


def erase_member_profile(member: Member, *, now: datetime) -> str:
    """Remove the person from a member row on their request (PIPL): name, number, birthday, custom
    fields and tags go; points, spend and tier stay, without the person, so the merchant's totals
    hold. The row is deleted, so the number may join again as a new member; it is opted out, so
    nothing is ever sent to it, and a number that had opted out stays on the opt-out list, so it
    joins again opted out and gets no marketing as a stranger either. Returns the placeholder now in place of the number: it says
    nothing about the number. Flushes.
    """
    placeholder = f"erased-{member.id}"
    # the number itself, as the list holds every number: opt-out wins over erasure, and marketing
    # can only be refused to a number it can recognise
    _keep_opt_out(member, now=now, detail=f"member {member.member_no} erased")
    member.name, member.name_key, member.gender = "", "", Gender.UNKNOWN
    member.msisdn, member.msisdn_rev = placeholder, placeholder[::-1]
    set_birthday(member, None)
    member.custom_fields = {}
    member.tags = []
    member.consent_detail = ""
    member.opted_out, member.opted_out_at = True, member.opted_out_at or now
    member.deleted_at = now
    db.session.flush()
    return placeholder
