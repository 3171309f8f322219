"""Outbox and inbox rules: what may be sent, when, and how MOs are routed and claimed.

``enqueue_sms`` is the only way an MT enters the outbox; the gateway (``store.SqlMessageStore``)
takes it from there. Inbound rows are written by the gateway and consumed by the keyword engine with
``claim_inbound`` / ``mark_inbound_done`` / ``mark_inbound_failed``.
"""
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value

from mcrm.auth.models import Staff
from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.core.msisdn import mask_msisdn, normalize_msisdn
from mcrm.core.rows import as_loaded
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.members.services import on_opt_out_list
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import (InboundMessage, InboundPart, InboundStatus, MessageKind, MessageStatus,
                                   OutboundMessage, SuppressReason)
from mcrm.messaging.rules import is_sendable_msisdn, is_single_part, next_window_start
from mcrm.messaging.store import MAX_PARTS, PART_UCS2, SINGLE_UCS2, UCS2, claim_update, count_parts

logger = logging.getLogger(__name__)

#: a claim older than this belongs to a worker that died; several live workers never wait this long
DEFAULT_LEASE = timedelta(minutes=10)


class Suppressed(NamedTuple):
    """What a batch's ``render`` returns instead of a body when the caller itself suppresses a
    message (a campaign whose coupon pool ran dry)."""
    reason: str


#: (member id or None, E.164 number, opted out?): what the marketing rules need of a recipient
Recipient = tuple[int | None, str, bool]
#: numbers per IN (...) list of the set-based rules: well under every database's parameter
#: limit (SQLite 32,766, PostgreSQL 65,535), and a power of two, as ``_padded`` lists are
_IN_CHUNK = 4096


# ------------------------------------------------------------------------------------------ outbox


def enqueue_sms(merchant: Merchant, *, msisdn: str, body: str, kind: str, now: datetime,
                member: Member | None = None, idempotency_key: str | None = None,
                occasion: str | None = None, region: str = "CN",
                secret_body: str | None = None) -> OutboundMessage:
    """Put one MT in the outbox (flushes, never commits) and return its row.

    Marketing gets the signature and the unsubscribe hint, and is suppressed (a row with status
    ``suppressed`` and the reason, so the console shows why) for opted-out members, past the
    per-day frequency cap, or when this number already had this ``occasion``; outside the
    merchant's sending window it waits (``not_before``) for the next window. Transactional goes at
    any hour with the signature only, opted out or not. The same ``idempotency_key`` twice returns
    the first row.

    ``secret_body`` is the body as the phone must get it when ``body`` shows a secret in it masked
    (a login code): the row's ``body`` and ``text`` keep the masked form, and only the gateway reads
    the real one (``OutboundMessage.secret_text``).
    """
    kind = _check_kind(kind)
    try:
        values = _outbound_values(merchant, msisdn=msisdn, body=body, kind=kind, now=now, member=member,
                                  idempotency_key=idempotency_key, occasion=occasion, region=region,
                                  secret_body=secret_body)
    except ValidationError:
        existing = _find_by_idempotency_key(merchant, idempotency_key) if idempotency_key is not None else None
        if existing is None:
            raise
        return existing
    # one Core INSERT: the key's unique index settles a repeat (or a concurrent request) without a
    # lookup first or a savepoint around it, and the ORM's unit of work would cost several times
    # more. Pending rows go first: the member may have been added just now.
    db.session.flush()
    new_id = db.session.connection().execute(_insert_outbound(), values).scalar()
    if new_id is None:
        return _find_by_idempotency_key(merchant, idempotency_key)
    message = as_loaded(OutboundMessage, dict(values, id=new_id))
    db.session.add(message)
    return message


#: every column an MT row is inserted with (the others start empty)
_OUTBOUND_EMPTY = dict.fromkeys(("source_addr", "secret_text", "suppressed_reason", "not_before", "retry_at",
                                 "last_error", "error_code", "claim_id", "claimed_at", "submitted_at",
                                 "delivered_at"))


def _outbound_values(merchant: Merchant, *, msisdn: str, body: str, kind: MessageKind, now: datetime,
                     member: Member | None, idempotency_key: str | None, occasion: str | None,
                     region: str, secret_body: str | None) -> dict:
    """The new row's values, after every check (ValidationError) and the marketing rules."""
    msisdn = normalize_msisdn(msisdn, region)
    body = (body or "").strip()
    if not body:
        raise ValidationError("The message is empty")
    if member is not None and (member.merchant_id != merchant.id or member.msisdn != msisdn):
        raise ValidationError("The member does not belong to this merchant and number")
    text = _on_air(merchant, body, kind)
    secret_body = (secret_body or "").strip()
    secret_text = _on_air(merchant, secret_body, kind) if secret_body and secret_body != body else None
    parts = count_parts(secret_text or text).parts
    if parts > MAX_PARTS:
        raise ValidationError("The message is too long: %(parts)s parts (at most %(most)s)", parts=parts,
                              most=MAX_PARTS)

    values = dict(_OUTBOUND_EMPTY, merchant_id=merchant.id, member_id=member.id if member else None,
                  msisdn=msisdn, body=body, text=text, secret_text=secret_text, kind=kind, parts=parts,
                  status=MessageStatus.QUEUED, attempts=0, idempotency_key=idempotency_key, occasion=occasion,
                  created_at=now)
    if kind is MessageKind.MARKETING:
        if member is None:
            member = db.session.scalar(sa.select(Member).where(
                Member.merchant_id == merchant.id, Member.msisdn == msisdn, Member.deleted_at.is_(None)))
            values["member_id"] = member.id if member else None
        send_at = next_send_time(merchant, now)
        if send_at > now:
            values["not_before"] = send_at
        reason = _suppress_reason(merchant, msisdn, member, occasion, send_at)
        if reason:
            values.update(status=MessageStatus.SUPPRESSED, suppressed_reason=reason, not_before=None,
                          secret_text=None)
    return values


def _on_air(merchant: Merchant, body: str, kind: MessageKind) -> str:
    """What the phone shows: the signature, the body, and for marketing the unsubscribe hint."""
    text = merchant.signature + body
    return text + merchant.unsubscribe_hint if kind is MessageKind.MARKETING else text


_INSERTS: dict[str, sa.Insert] = {}


def _insert_outbound() -> sa.Insert:
    """``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`` for this database
    (SQLite and PostgreSQL both have it): no id back means the key is taken."""
    dialect = db.session.get_bind().dialect.name
    if dialect not in _INSERTS:
        table = OutboundMessage.__table__
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](table)
        _INSERTS[dialect] = insert.on_conflict_do_nothing(index_elements=[table.c.idempotency_key]) \
            .returning(table.c.id)
    return _INSERTS[dialect]


def _check_kind(kind) -> MessageKind:
    try:
        return MessageKind(kind)
    except ValueError:
        raise ValidationError("Unknown message kind %(kind)r: marketing or transactional", kind=kind) from None


def get_outbound(merchant: Merchant, message_id: int) -> OutboundMessage:
    """The merchant's MT of that id; another merchant's is as missing as one that never was."""
    message = db.session.get(OutboundMessage, message_id)
    if message is None or message.merchant_id != merchant.id:
        raise NotFoundError("No such message")
    return message


def _find_by_idempotency_key(merchant: Merchant, key: str) -> OutboundMessage | None:
    existing = db.session.scalar(sa.select(OutboundMessage).where(OutboundMessage.idempotency_key == key))
    if existing is not None and existing.merchant_id != merchant.id:
        raise ConflictError("This idempotency key belongs to another merchant's message")
    return existing


def next_send_time(merchant: Merchant, now: datetime) -> datetime:
    """``now`` if it is inside the merchant's sending window (local time), else the next window start."""
    return next_window_start(ZoneInfo(merchant.timezone), merchant.send_window_start,
                             merchant.send_window_end, now)


def _local_day_bounds(merchant: Merchant, moment: datetime) -> tuple[datetime, datetime]:
    zone = ZoneInfo(merchant.timezone)
    day: date = moment.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(moment.tzinfo), end.astimezone(moment.tzinfo)


def _suppress_reason(merchant: Merchant, msisdn: str, member: Member | None, occasion: str | None,
                     send_at: datetime) -> str | None:
    opted_out = member.opted_out if member is not None else on_opt_out_list(merchant, msisdn)
    recipient = (member.id if member is not None else None, msisdn, opted_out)
    return marketing_suppressions(merchant, [recipient], occasion=occasion, send_at=send_at)[0]


def _padded(values: Sequence[str]) -> list[str]:
    """``values`` (not empty) repeated at the end up to the next power of two: an IN list of every
    length is another statement, which the driver keeps prepared (SQLite: 128 of them, here each
    of thousands of parameters, ~1 MB), so a win-back at a million members grew by 127 MB."""
    return [*values, *[values[-1]] * ((1 << (len(values) - 1).bit_length()) - len(values))]


def _per_recipient(occasion: str | Sequence[str] | None, recipients: Sequence) -> list[str | None]:
    if occasion is None or isinstance(occasion, str):
        return [occasion] * len(recipients)
    if len(occasion) != len(recipients):
        raise ValueError("one occasion per recipient")
    return list(occasion)


def _counted(merchant: Merchant, send_at: datetime, outbox, *,
             bounded: bool = True) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """(the merchant's marketing messages that count for the duplicate and cap rules, those of them
    that go out on the same local day as a message sent at ``send_at``), over ``outbox``: the
    OutboundMessage model or an alias of it. ``bounded`` adds a bound on ``created_at`` that the
    day's messages meet anyway, which keeps the index range of a query over many numbers short."""
    counted = sa.and_(outbox.merchant_id == merchant.id, outbox.kind == MessageKind.MARKETING,
                      outbox.status != MessageStatus.SUPPRESSED)
    day_start, day_end = _local_day_bounds(merchant, send_at)
    sent_at = sa.func.coalesce(outbox.not_before, outbox.created_at)
    same_day = [sent_at >= day_start, sent_at < day_end]
    if bounded:
        same_day.insert(0, outbox.created_at >= day_start - timedelta(days=1))
    return counted, sa.and_(*same_day)


def marketing_suppressions(merchant: Merchant, recipients: Sequence[Recipient], *,
                           occasion: str | Sequence[str] | None, send_at: datetime) -> list[str | None]:
    """Why each recipient's marketing message going out at ``send_at`` must be suppressed, or None
    when it may go: the rules of docs/sending.md, in this order: opted out, invalid number,
    duplicate occasion, frequency cap. The one definition of those rules, for one message
    (``enqueue_sms``) and for a batch (``enqueue_marketing_batch``): one query per rule and chunk
    of numbers, never one per recipient. ``occasion`` is the batch's, or one per recipient (a
    win-back's occasion is each member's last visit: a query per occasion was one per member)."""
    occasions = _per_recipient(occasion, recipients)
    reasons: list[str | None] = [
        SuppressReason.OPTED_OUT if opted_out else None if is_sendable_msisdn(msisdn)
        else SuppressReason.INVALID_NUMBER for _member_id, msisdn, opted_out in recipients]
    counted, same_day = _counted(merchant, send_at, OutboundMessage)
    open_rows = [i for i, reason in enumerate(reasons) if reason is None]
    # (number, occasion) already in the outbox, and each number's messages that day
    taken: set[tuple[str, str | None]] = set()
    sent_today: Counter = Counter()
    for start in range(0, len(open_rows), _IN_CHUNK):
        chunk = open_rows[start:start + _IN_CHUNK]
        wanted = sorted({occasions[i] for i in chunk} - {None})
        of_occasion = OutboundMessage.occasion.in_(_padded(wanted)) if wanted else sa.false()
        # one grouped query per chunk answers both rules: these occasions' messages and the day's
        for msisdn, found, of_these, today in db.session.execute(
                sa.select(OutboundMessage.msisdn, OutboundMessage.occasion,
                          sa.func.sum(sa.case((of_occasion, 1), else_=0)),
                          sa.func.sum(sa.case((same_day, 1), else_=0)))
                .where(counted, sa.or_(of_occasion, same_day),
                       OutboundMessage.msisdn.in_(_padded([recipients[i][1] for i in chunk])))
                .group_by(OutboundMessage.msisdn, OutboundMessage.occasion)):
            if of_these:
                taken.add((msisdn, found))
            sent_today[msisdn] += today
    cap = merchant.frequency_cap_per_day
    for i, reason in enumerate(reasons):
        if reason is None:
            msisdn = recipients[i][1]
            if (msisdn, occasions[i]) in taken:
                reasons[i] = SuppressReason.DUPLICATE_OCCASION
            elif sent_today.get(msisdn, 0) >= cap:
                reasons[i] = SuppressReason.FREQUENCY_CAP
    return reasons


def enqueue_marketing_batch(merchant: Merchant, recipients: Sequence[Recipient], keys: Sequence[str],
                            render: Callable[[Sequence[Recipient], list[bool]], list], *, now: datetime,
                            occasion: str | Sequence[str]) -> Counter:
    """Put one marketing MT per recipient in the outbox, set-based: the rules of
    ``marketing_suppressions`` for all of them at once, then one executemany INSERT. Flushes.

    ``keys`` are the rows' idempotency keys: a key already in the outbox inserts nothing (ON
    CONFLICT DO NOTHING), so a batch run twice, or by two processes at once, leaves one row per key.
    ``render(recipients, kept)`` returns each recipient's body (``kept[i]`` says whether its message
    will go, so that the caller hands out coupons only to those), or ``Suppressed(reason)``.
    ``occasion`` is the batch's, or one per recipient.
    Returns counts by outcome: ``queued`` and each suppression reason (rows attempted, whether or
    not a key was already there).
    """
    occasions = _per_recipient(occasion, recipients)
    send_at = next_send_time(merchant, now)
    not_before = send_at if send_at > now else None
    reasons = marketing_suppressions(merchant, recipients, occasion=occasions, send_at=send_at)
    bodies = render(recipients, [reason is None for reason in reasons])
    signature, hint = merchant.signature, merchant.unsubscribe_hint
    outcome: Counter = Counter()
    connection = db.session.connection()
    to_db = _BATCH_TIME.bind_processor(connection.dialect)
    created_at, waits_until = to_db(now), to_db(not_before)
    queued, suppressed = MessageStatus.QUEUED.value, MessageStatus.SUPPRESSED.value
    marketing = MessageKind.MARKETING.value
    rows = []
    for (member_id, msisdn, _opted_out), key, reason, body, of_row in zip(recipients, keys, reasons, bodies,
                                                                          occasions, strict=True):
        if body.__class__ is Suppressed:
            reason, body = reason or body.reason, ""
        text = signature + body + hint
        parts = 1 if is_single_part(text) else count_parts(text).parts
        if reason is None and parts > MAX_PARTS:
            reason = SuppressReason.TOO_LONG
        rows.append((merchant.id, member_id, msisdn, body, text, marketing, parts,
                     suppressed if reason else queued, reason, None if reason else waits_until, 0, key,
                     of_row, created_at))
        outcome[reason or "queued"] += 1
    if rows:
        db.session.flush()
        connection.exec_driver_sql(_batch_insert_sql(connection.dialect), rows)
    return outcome


def counts_in_sql(merchant: Merchant, fixed: str) -> bool:
    """Whether the parts of marketing texts whose own constant text is ``fixed`` follow from their
    length alone, so that SQL can count them (``enqueue_marketing_select``): the signature, ``fixed``
    or the hint has a character outside GSM-7, so every such text goes as UCS-2, and none of them
    lies beyond the Basic Multilingual Plane (one UTF-16 unit each). Chinese texts are."""
    shape = count_parts(merchant.signature + fixed + merchant.unsubscribe_hint)
    return shape.encoding == UCS2 and shape.chars == len(merchant.signature + fixed + merchant.unsubscribe_hint)


def _sendable_sql(msisdn, dialect: str) -> sa.ColumnElement[bool]:
    """``rules.is_sendable_msisdn`` in SQL: ``+``, then 7 to 15 ASCII digits, the first not 0."""
    if dialect == "postgresql":
        return msisdn.regexp_match(r"^\+[1-9][0-9]{6,14}$")
    return sa.and_(msisdn.op("GLOB")("+[1-9]*"), sa.func.length(msisdn).between(8, 16),
                   sa.not_(sa.func.substr(msisdn, 2).op("GLOB")("*[^0-9]*")))


def enqueue_marketing_select(merchant: Merchant, recipients: sa.Select, *, now: datetime, occasion: str) -> int:
    """``enqueue_marketing_batch`` as one INSERT ... SELECT: the rows built and the rules of
    ``marketing_suppressions`` applied by the database, without a Python object per recipient
    (at a million members this runs at about twice the rate of the driver's own executemany).

    ``recipients`` selects ``member_id``, ``msisdn``, ``opted_out``, ``body`` (the text rendered in
    SQL) and ``idempotency_key``; every text must be one whose parts SQL can count: its constant
    text passes ``counts_in_sql`` and its member values hold no character beyond the BMP (the
    caller sends other members through ``enqueue_marketing_batch``). Flushes. A key already in the
    outbox inserts nothing. Returns the rows inserted."""
    dialect = db.session.get_bind().dialect.name
    source = recipients.subquery("recipient")
    send_at = next_send_time(merchant, now)
    outbox = sa.orm.aliased(OutboundMessage)
    # not bounded: with a bound on created_at, SQLite (without statistics of the outbox) read the
    # cap from the day's index, every message queued that day for each member (1.6 ms a member),
    # instead of the number's few messages from the number's index
    counted, same_day = _counted(merchant, send_at, outbox, bounded=False)
    # one read of the number's marketing messages answers both rules, and the number is its only
    # condition: no planner can take the occasion's index instead, whose rows of the occasion being
    # queued grow with every batch (PostgreSQL did, knowing nothing of a new occasion: each batch
    # slower than the one before)
    history = (sa.select(sa.case(
        (sa.func.count(sa.case((outbox.occasion == occasion, 1))) > 0, SuppressReason.DUPLICATE_OCCASION.value),
        (sa.func.count(sa.case((same_day, 1))) >= merchant.frequency_cap_per_day,
         SuppressReason.FREQUENCY_CAP.value), else_=sa.null()))
        .where(counted, outbox.msisdn == source.c.msisdn).scalar_subquery())
    text = sa.literal(merchant.signature) + source.c.body + sa.literal(merchant.unsubscribe_hint)
    units = sa.func.length(text)
    parts = sa.case((units <= SINGLE_UCS2, 1), else_=(units + PART_UCS2 - 1) // PART_UCS2)
    reason = sa.case(
        (source.c.opted_out == sa.true(), SuppressReason.OPTED_OUT.value),
        (sa.not_(_sendable_sql(source.c.msisdn, dialect)), SuppressReason.INVALID_NUMBER.value),
        else_=sa.func.coalesce(history, sa.case((parts > MAX_PARTS, SuppressReason.TOO_LONG.value))))
    # OFFSET 0 keeps both databases from merging this subquery into the outer one, which would run
    # each row's rule subqueries once per column that tests the reason (not a CTE: a statement that
    # starts with WITH has no rowcount in Python's sqlite3)
    ruled = sa.select(source.c.member_id, source.c.msisdn, source.c.body, text.label("text"),
                      parts.label("parts"), reason.label("reason"), source.c.idempotency_key) \
        .offset(0).subquery("ruled")
    waits = send_at if send_at > now else None
    free = ruled.c.reason.is_(None)
    table = OutboundMessage.__table__
    rows = sa.select(
        sa.literal(merchant.id), ruled.c.member_id, ruled.c.msisdn, ruled.c.body, ruled.c.text,
        sa.literal(MessageKind.MARKETING.value), ruled.c.parts,
        sa.case((free, MessageStatus.QUEUED.value), else_=MessageStatus.SUPPRESSED.value), ruled.c.reason,
        sa.case((free, sa.literal(waits, table.c.not_before.type)), else_=sa.null()) if waits else sa.null(),
        sa.literal(0), ruled.c.idempotency_key, sa.literal(occasion), sa.literal(now, table.c.created_at.type)
    ).where(ruled.c.member_id.is_not(None))  # (SQLite's INSERT ... SELECT ... ON CONFLICT needs a WHERE)
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](table)
    db.session.flush()
    # preserve_rowcount: psycopg's cursor is closed after an INSERT without RETURNING, its count lost
    return db.session.execute(insert.from_select(list(_BATCH_COLUMNS), rows)
                              .on_conflict_do_nothing(index_elements=[table.c.idempotency_key]),
                              execution_options={"preserve_rowcount": True}).rowcount


#: the columns a batch inserts, in the order of its rows (the others start empty)
_BATCH_COLUMNS = ("merchant_id", "member_id", "msisdn", "body", "text", "kind", "parts", "status",
                  "suppressed_reason", "not_before", "attempts", "idempotency_key", "occasion", "created_at")
_BATCH_TIME = OutboundMessage.__table__.c.created_at.type


def _batch_insert_sql(dialect) -> str:
    """The batch's INSERT for the driver itself: a campaign's rows skip SQLAlchemy's per-row
    parameter processing (its values are plain already: times converted once per batch), which
    cost as much as the database's own work. ON CONFLICT on the key as in ``_insert_outbound``."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {OutboundMessage.__tablename__} ({', '.join(_BATCH_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(_BATCH_COLUMNS))}) ON CONFLICT (idempotency_key) DO NOTHING")


def release_stale_claims(now: datetime, lease: timedelta = DEFAULT_LEASE) -> int:
    """Return SENDING messages whose claim is older than ``lease`` to QUEUED (a gateway that died
    and never came back with its worker id). Live workers keep their claims: they hold a message
    for seconds, never for a lease. Flushes; returns how many were released."""
    table = OutboundMessage.__table__
    result = db.session.execute(
        table.update()
        .where(table.c.status == MessageStatus.SENDING.value, table.c.claimed_at < now - lease)
        .values(status=MessageStatus.QUEUED.value, claim_id=None, claimed_at=None))
    if result.rowcount:
        logger.warning("released %d outbound claim(s) older than %s", result.rowcount, lease)
    return result.rowcount


# ------------------------------------------------------------------------------------------- inbox


def route_inbound(destination_addr: str, access_number: str) -> tuple[Merchant | None, str]:
    """The active merchant whose service number (access number + sub-code) is the longest prefix of
    ``destination_addr``, and the extension digits after it; ``(None, "")`` when none matches."""
    digits = re.sub(r"\D", "", destination_addr or "")
    if not digits.startswith(access_number) and digits.startswith("86" + access_number):
        digits = digits[2:]            # some SMSCs prefix the country code
    if not digits.startswith(access_number):
        return None, ""
    rest = digits[len(access_number):]
    prefixes = [rest[:n] for n in range(1, min(len(rest), 10) + 1)]
    if not prefixes:
        return None, ""
    merchant = db.session.scalar(
        sa.select(Merchant).where(Merchant.sub_code.in_(prefixes), Merchant.is_active.is_(True))
        .order_by(sa.func.length(Merchant.sub_code).desc()).limit(1))
    if merchant is None:
        return None, ""
    return merchant, rest[len(merchant.sub_code):]


def check_simulated_text(merchant: Merchant, *, actor: Staff, msisdn: str, destination_addr: str,
                         access_number: str) -> None:
    """Refuse (ValidationError) a phone-simulator text that would act beyond the signed-in staff's reach.

    It must reach ``merchant`` itself: with another merchant's sub-code starting with this one's,
    an extension could make it that merchant's text. And it may come from a staff's trusted phone
    only if that phone is the signer's own: staff commands (XF, DH, DL, HX) run for that phone, so a
    manager could otherwise award points as the owner or ask their login code.
    """
    routed, _extension = route_inbound(destination_addr, access_number)
    if routed is None or routed.id != merchant.id:
        raise ValidationError("%(number)s is not your service number: the simulator only texts your own "
                              "number and its extensions", number=destination_addr)
    if msisdn != actor.msisdn and db.session.scalar(sa.select(Staff.id).where(
            Staff.merchant_id == merchant.id, Staff.msisdn == msisdn, Staff.is_active.is_(True))):
        raise ValidationError("%(msisdn)s is another staff member's trusted phone: the simulator texts from "
                              "it only when they are signed in", msisdn=msisdn)


def _storable_text(text: str) -> str:
    """``text`` with what no database column can hold replaced by U+FFFD: NUL (PostgreSQL refuses it
    in text) and lone surrogates (not UTF-8 at all). A surrogate pair (UCS-2 decoded one code unit at
    a time) becomes the character it stands for."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", "\ufffd")


_INSERT_INBOUND = sa.insert(InboundMessage.__table__).returning(InboundMessage.__table__.c.id)


def store_inbound(*, source_addr: str, destination_addr: str, text: str, data_coding: int, received_at: datetime,
                  parts: int = 1, payload: bytes = b"", complete: bool = True, access_number: str,
                  region: str = "CN") -> InboundMessage:
    """Route one MO and add it to the inbox (status new, or unrouted). Flushes.

    Text no database can store (see ``_storable_text``) is stored with U+FFFD in its place, so such
    an MO is kept rather than refused for ever; ``payload`` keeps the bytes as received."""
    merchant, extension = route_inbound(destination_addr, access_number)
    try:
        msisdn = normalize_msisdn(source_addr, region)
    except ValidationError:
        msisdn = (source_addr or "")[:32]          # kept as given: the console still shows it
    values = dict(merchant_id=merchant.id if merchant else None, msisdn=_storable_text(msisdn),
                  destination_addr=_storable_text((destination_addr or "")[:32]), extension=extension[:21],
                  text=_storable_text(text or ""), data_coding=data_coding, parts=parts, complete=complete,
                  payload=payload or b"", received_at=received_at,
                  status=InboundStatus.NEW if merchant else InboundStatus.UNROUTED,
                  claim_id=None, claimed_at=None, processed_at=None, error=None)
    # a Core INSERT, as in enqueue_sms: the gateway stores every MO through here
    new_id = db.session.connection().execute(_INSERT_INBOUND, values).scalar_one()
    row = as_loaded(InboundMessage, dict(values, id=new_id))
    db.session.add(row)
    if merchant is None:
        logger.info("MO from %s to %s matches no merchant: stored unrouted", mask_msisdn(msisdn), destination_addr)
    return row


def claim_inbound(worker_id: str, limit: int, now: datetime,
                  lease: timedelta = DEFAULT_LEASE) -> list[InboundMessage]:
    """Move up to ``limit`` routed MOs to PROCESSING for ``worker_id`` and return them, oldest first.

    New rows, and rows whose claim is older than ``lease`` (a worker that crashed mid-batch), are
    claimed with one conditional UPDATE, so two workers never get the same row. Flushes: commit
    right away so other workers see the claim, then process each row and finish it with
    ``mark_inbound_done`` (in the same transaction as its effects) or ``mark_inbound_failed``.
    The rows come back detached from the session (one statement claims and reads them).
    """
    claim_id = f"{worker_id}:{now.timestamp():.6f}"
    rows = db.session.connection().execute(_claim_statement(db.session.get_bind().dialect.name, limit),
                                           {"stale_before": now - lease, "claim_id": claim_id, "now": now})
    claimed = []
    for row in sorted(rows, key=lambda row: row.id):
        # detached, with every column as the claim left it: the commit that publishes the claim
        # does not expire it, so the batch reads its rows without a query each
        inbound = as_loaded(InboundMessage, dict(row._mapping))
        inbound.held_claim = claim_id
        claimed.append(inbound)
    return claimed


_CLAIMS: dict[tuple[str, int], sa.Update] = {}


def _claim_statement(dialect: str, limit: int) -> sa.Update:
    """The claim of ``claim_inbound`` for this database and batch size, built once (building it
    cost more than running it): ``UPDATE ... RETURNING`` every column."""
    if (dialect, limit) not in _CLAIMS:
        table = InboundMessage.__table__
        claimable = sa.or_(table.c.status == InboundStatus.NEW.value,
                           sa.and_(table.c.status == InboundStatus.PROCESSING.value,
                                   table.c.claimed_at < sa.bindparam("stale_before")))
        _CLAIMS[dialect, limit] = claim_update(
            table, claimable, limit, dialect, status=InboundStatus.PROCESSING.value,
            claim_id=sa.bindparam("claim_id"), claimed_at=sa.bindparam("now")).returning(*table.c)
    return _CLAIMS[dialect, limit]


#: PROCESSING → a final status, only while this worker's claim holds (built once: building a
#: statement costs more than running it)
_FINISH_INBOUND = sa.update(InboundMessage.__table__).where(
    InboundMessage.__table__.c.id == sa.bindparam("inbound_id"),
    InboundMessage.__table__.c.status == InboundStatus.PROCESSING.value,
    InboundMessage.__table__.c.claim_id == sa.bindparam("held_claim"),
).values(status=sa.bindparam("new_status"), processed_at=sa.bindparam("now"), error=sa.bindparam("reason"),
         claim_id=None)


def _finish_inbound(inbound: InboundMessage, status: InboundStatus, now: datetime, error: str | None) -> None:
    result = db.session.connection().execute(_FINISH_INBOUND, {
        "inbound_id": inbound.id, "held_claim": inbound.held_claim, "new_status": status, "now": now,
        "reason": error})
    if result.rowcount != 1:
        # the lease ran out and another worker has it now: roll back so its effects happen once
        raise ConflictError("Inbound message %(id)s is no longer claimed by this worker", id=inbound.id)
    # the row now holds exactly these values: tell the object without reading the row back
    for name, value in (("status", status), ("processed_at", now), ("error", error), ("claim_id", None)):
        set_committed_value(inbound, name, value)


def mark_inbound_done(inbound: InboundMessage, *, now: datetime) -> None:
    """PROCESSING → DONE, only if this worker's claim still holds (else ConflictError: roll back)."""
    _finish_inbound(inbound, InboundStatus.DONE, now, None)


#: DONE for a whole batch claimed together (one claim id), built once like _FINISH_INBOUND
_FINISH_BATCH = sa.update(InboundMessage.__table__).where(
    InboundMessage.__table__.c.id.in_(sa.bindparam("inbound_ids", expanding=True)),
    InboundMessage.__table__.c.status == InboundStatus.PROCESSING.value,
    InboundMessage.__table__.c.claim_id == sa.bindparam("held_claim"),
).values(status=InboundStatus.DONE, processed_at=sa.bindparam("now"), error=None, claim_id=None)


def mark_inbound_batch_done(batch: list[InboundMessage], *, now: datetime) -> None:
    """``mark_inbound_done`` for every MO of one claim in a single UPDATE (one per MO cost about a
    twelfth of a batch's work): all of them, or ConflictError if this worker's claim no longer
    holds one of them (roll back, as for one MO)."""
    if not batch:
        return
    held_claim = batch[0].held_claim
    result = db.session.connection().execute(_FINISH_BATCH, {
        "inbound_ids": [inbound.id for inbound in batch], "held_claim": held_claim, "now": now})
    if result.rowcount != len(batch) or any(inbound.held_claim != held_claim for inbound in batch):
        raise ConflictError("Some inbound messages of the batch are no longer claimed by this worker")
    for inbound in batch:
        for name, value in (("status", InboundStatus.DONE), ("processed_at", now), ("error", None),
                            ("claim_id", None)):
            set_committed_value(inbound, name, value)


def mark_inbound_failed(inbound: InboundMessage, *, now: datetime, error: str) -> None:
    """PROCESSING → FAILED with a short reason (kept for the console, never retried)."""
    _finish_inbound(inbound, InboundStatus.FAILED, now, (error or "")[:200])


# ------------------------------------------------------------------------------------ console reads

PAGE_SIZE = 50
#: statuses of messages that went to the SMSC, for the daily figures
_SENT = (MessageStatus.SUBMITTED, MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED)


@dataclass(frozen=True)
class LogEntry:
    """One line of the message log: an MO the merchant received or an MT it sent."""
    message: InboundMessage | OutboundMessage

    @property
    def inbound(self) -> bool:
        return isinstance(self.message, InboundMessage)

    @property
    def at(self) -> datetime:
        return self.message.received_at if self.inbound else self.message.created_at

    @property
    def cursor(self) -> str:
        """Names this line in a ``before`` link: ``i`` (MO) or ``o`` (MT) and the row id."""
        return f"{'i' if self.inbound else 'o'}{self.message.id}"


#: a page link's cursor, as ``LogEntry.cursor`` writes it
CURSOR = re.compile(r"^([io])(\d{1,18})$")
#: lines at the same moment: the MO before the reply it caused (the log walks this order backwards)
_RANK = {InboundMessage: 0, OutboundMessage: 1}


def list_log(merchant: Merchant, *, direction: str | None = None, status: str | None = None,
             kind: str | None = None, msisdn: str | None = None, day: date | None = None,
             before: str | None = None, limit: int = PAGE_SIZE) -> list[LogEntry]:
    """The merchant's texts in both directions, newest first, one page after the ``before`` cursor.

    ``direction`` is ``in`` (MOs), ``out`` (MTs) or None (both, merged by time). ``status`` and
    ``kind`` are an MT's, so asking for them lists MTs only. Keyset paging over (time, direction,
    id) on each table's (merchant, time) index: no OFFSET, whatever the log's size.
    """
    start = _log_position(merchant, before) if before else None
    entries = []
    if direction != "out" and not status and not kind:
        query = sa.select(InboundMessage).where(InboundMessage.merchant_id == merchant.id)
        entries += _log_page(merchant, query, InboundMessage.received_at, msisdn, day, start, limit)
    if direction != "in":
        query = sa.select(OutboundMessage).where(OutboundMessage.merchant_id == merchant.id)
        if status:
            query = query.where(OutboundMessage.status == MessageStatus(status))
        if kind:
            query = query.where(OutboundMessage.kind == MessageKind(kind))
        entries += _log_page(merchant, query, OutboundMessage.created_at, msisdn, day, start, limit)
    entries.sort(key=lambda e: (e.at, _RANK[type(e.message)], e.message.id), reverse=True)
    return entries[:limit]


def _log_position(merchant: Merchant, cursor: str) -> tuple[datetime, int, int]:
    """(time, rank, id) of the line a cursor names; a cursor of another merchant's row is refused."""
    match = CURSOR.match(cursor)
    model = {"i": InboundMessage, "o": OutboundMessage}[match.group(1)] if match else None
    row = db.session.get(model, int(match.group(2))) if match else None
    if row is None or row.merchant_id != merchant.id:
        raise ValidationError("That page link is out of date; start again from the first page")
    return LogEntry(row).at, _RANK[model], row.id


def _log_page(merchant: Merchant, query: sa.Select, at: sa.Column, msisdn: str | None, day: date | None,
              start: tuple[datetime, int, int] | None, limit: int) -> list[LogEntry]:
    model = at.class_
    if msisdn:
        query = query.where(model.msisdn == msisdn)
    if day is not None:
        low, high = _local_day_bounds(merchant, datetime.combine(day, time(12), tzinfo=ZoneInfo(merchant.timezone)))
        query = query.where(at >= low, at < high)
    if start is not None:
        start_at, start_rank, start_id = start
        rank = _RANK[model]
        # strictly older in the merged order: earlier, or as old and ranked before the cursor's line
        if rank == start_rank:
            query = query.where(sa.or_(at < start_at, sa.and_(at == start_at, model.id < start_id)))
        else:
            query = query.where(at < start_at if rank > start_rank else at <= start_at)
    rows = db.session.scalars(query.order_by(at.desc(), model.id.desc()).limit(limit))
    return [LogEntry(row) for row in rows]


def daily_figures(merchant: Merchant, *, now: datetime, days: int = 14) -> list[dict]:
    """Per local day, newest first: messages queued, sent to the SMSC, delivered, failed (incl.
    expired), suppressed, and the SMS parts sent (what the operator bills). One grouped query a day."""
    zone = ZoneInfo(merchant.timezone)
    today = now.astimezone(zone).date()
    out = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        start, end = _local_day_bounds(merchant, datetime.combine(day, time(12), tzinfo=zone))
        rows = db.session.execute(
            sa.select(OutboundMessage.status, sa.func.count(), sa.func.sum(OutboundMessage.parts))
            .where(OutboundMessage.merchant_id == merchant.id, OutboundMessage.created_at >= start,
                   OutboundMessage.created_at < end)
            .group_by(OutboundMessage.status)).all()
        by_status = {status: (n, parts or 0) for status, n, parts in rows}
        figures = {"day": day, "total": sum(n for n, _ in by_status.values())}
        figures["sent"] = sum(by_status.get(s, (0, 0))[0] for s in _SENT)
        figures["parts"] = sum(by_status.get(s, (0, 0))[1] for s in _SENT)
        figures["delivered"] = by_status.get(MessageStatus.DELIVERED, (0, 0))[0]
        figures["failed"] = sum(by_status.get(s, (0, 0))[0] for s in (MessageStatus.FAILED, MessageStatus.EXPIRED))
        figures["suppressed"] = by_status.get(MessageStatus.SUPPRESSED, (0, 0))[0]
        figures["waiting"] = sum(by_status.get(s, (0, 0))[0] for s in (MessageStatus.QUEUED, MessageStatus.SENDING))
        figures["delivery_rate"] = figures["delivered"] / figures["sent"] if figures["sent"] else None
        out.append(figures)
    return out


def list_conversation(merchant: Merchant, msisdn: str, *, limit: int = 50) -> list[dict]:
    """What a phone with this number shows: its MOs to the merchant and the merchant's MTs to it
    (queued ones too, as "sending"), oldest first, the last ``limit`` of them."""
    inbound = db.session.scalars(
        sa.select(InboundMessage).where(InboundMessage.merchant_id == merchant.id, InboundMessage.msisdn == msisdn)
        .order_by(InboundMessage.id.desc()).limit(limit)).all()
    outbound = db.session.scalars(
        sa.select(OutboundMessage).where(OutboundMessage.merchant_id == merchant.id, OutboundMessage.msisdn == msisdn,
                                         OutboundMessage.status != MessageStatus.SUPPRESSED)
        .order_by(OutboundMessage.id.desc()).limit(limit)).all()
    entries = [{"at": m.received_at, "mine": True, "text": m.text, "status": m.status.value} for m in inbound]
    entries += [{"at": m.created_at, "mine": False, "text": m.text, "status": m.status.value} for m in outbound]
    entries.sort(key=lambda e: e["at"])
    return entries[-limit:]


def list_member_numbers(merchant: Merchant, *, limit: int = 20) -> list[tuple[str, str]]:
    """(msisdn, name) of the newest members, offered by the phone simulator."""
    return [tuple(row) for row in db.session.execute(
        sa.select(Member.msisdn, Member.name).where(Member.merchant_id == merchant.id, Member.deleted_at.is_(None))
        .order_by(Member.id.desc()).limit(limit))]


def erase_messages(merchant_id: int, member_id: int, msisdn: str, placeholder: str) -> None:
    """A member's erasure: the bodies and numbers of its outbox and inbox rows go (the rows stay,
    for the counts), and what still waits to be sent never is. Flushes."""
    outbox = OutboundMessage.__table__
    mine = sa.and_(outbox.c.merchant_id == merchant_id,
                   sa.or_(outbox.c.member_id == member_id, outbox.c.msisdn == msisdn))
    db.session.execute(sa.update(outbox).where(mine, outbox.c.status.in_([MessageStatus.QUEUED, MessageStatus.HELD]))
                       .values(status=MessageStatus.SUPPRESSED, suppressed_reason=SuppressReason.CANCELLED))
    db.session.execute(sa.update(outbox).where(mine).values(msisdn=placeholder, body="", text="", secret_text=None))
    inbox = InboundMessage.__table__
    db.session.execute(sa.update(inbox).where(inbox.c.merchant_id == merchant_id, inbox.c.msisdn == msisdn)
                       .values(msisdn=placeholder, text="", payload=b""))
    db.session.expire_all()
    db.session.flush()


def erase_inbound_parts(merchant_id: int, msisdn: str, *, access_number: str, region: str) -> int:
    """A member's erasure: the parts of long texts from its number to this merchant go, those whose
    message is in the inbox already (kept only against a resent part) and those still waiting for
    the rest (the erased person's text, half arrived). Parts keep the addresses as the SMSC sent
    them, so each is normalised and routed as it would be when stored; the table holds only groups
    younger than the reassembly deadline. Returns the parts deleted."""
    parts = InboundPart.__table__
    groups = db.session.execute(sa.select(parts.c.source_addr, parts.c.destination_addr).distinct()).all()
    theirs = []
    for source_addr, destination_addr in groups:
        try:
            sender = normalize_msisdn(source_addr, region)
        except ValidationError:
            continue
        merchant, _extension = route_inbound(destination_addr, access_number) if sender == msisdn else (None, "")
        if merchant is not None and merchant.id == merchant_id:
            theirs.append((source_addr, destination_addr))
    return sum(db.session.execute(sa.delete(parts).where(parts.c.source_addr == source_addr,
                                                         parts.c.destination_addr == destination_addr)).rowcount
               for source_addr, destination_addr in theirs)


def blank_old_bodies(merchant: Merchant, *, now: datetime) -> int:
    """Blank the bodies of the merchant's messages older than its retention setting (0 keeps them
    for ever); messages still on their way keep theirs. Returns the messages blanked."""
    days = merchant.message_retention_days
    if not days:
        return 0
    before = now - timedelta(days=days)
    outbox, inbox = OutboundMessage.__table__, InboundMessage.__table__
    done = db.session.execute(sa.update(outbox).where(
        outbox.c.merchant_id == merchant.id, outbox.c.created_at < before, outbox.c.text != "",
        outbox.c.status.not_in([MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD])
    ).values(body="", text="")).rowcount
    done += db.session.execute(sa.update(inbox).where(
        inbox.c.merchant_id == merchant.id, inbox.c.received_at < before, inbox.c.text != "",
        inbox.c.status.not_in([InboundStatus.NEW, InboundStatus.PROCESSING])
    ).values(text="", payload=b"")).rowcount
    return done
