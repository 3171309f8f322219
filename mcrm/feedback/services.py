"""The feedback desk: tickets from SMS and the console, their thread, assignment, statuses,
response targets with overdue reminders, the satisfaction question and the figures.

Replies, reminders and the satisfaction question are transactional SMS: each answers the member's
own ticket (docs/feedback.md), so they go at any hour, opted out or not.
"""
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from mcrm.auth.models import Role, Staff
from mcrm.core.errors import NotFoundError, ValidationError
from mcrm.core.msisdn import mask_msisdn, normalize_msisdn
from mcrm.extensions import db
from mcrm.feedback.models import (OPEN_STATUSES, EntryKind, FeedbackTicket, ResponseTarget, TicketEntry,
                                  TicketKind, TicketStatus)
from mcrm.feedback.rules import can_move, median, parse_satisfaction, target_minutes
from mcrm.members.models import Member
from mcrm.members.services import find_member_by_msisdn
from mcrm.merchants.models import Merchant
from mcrm.messaging.services import enqueue_sms
from mcrm.webhooks import events
from mcrm.webhooks.models import WebhookEvent
from mcrm.webhooks.services import emit

logger = logging.getLogger(__name__)

MAX_TEXT = 700
#: minutes to the first reply when the merchant set nothing: complaints within 2 hours
DEFAULT_TARGETS = {TicketKind.SUGGESTION: None, TicketKind.COMPLAINT: 120, TicketKind.PRAISE: None}
#: the longest target a merchant may set: a week
MAX_TARGET_MINUTES = 7 * 24 * 60
#: a member's further texts join their open ticket when it saw activity this recently
JOIN_WINDOW = timedelta(hours=24)
#: the owners hear of an overdue ticket this long after its assignee (at once when nobody is assigned)
OWNER_AFTER = timedelta(minutes=30)
#: an answer to the satisfaction question counts this long after it was asked
SATISFACTION_WINDOW = timedelta(days=3)

#: the SMS texts (the signature is added by the outbox)
OVERDUE_ASSIGNEE = "工单{no}（{kind}）已超时未回复：{text}"
OVERDUE_OWNER = "工单{no}（{kind}）超时未回复，负责人：{assignee}。{text}"
SATISFACTION_QUESTION = "您的工单{no}已处理，请评价：回复1满意 2一般 3不满意"
KIND_WORDS = {"suggestion": "建议", "complaint": "投诉", "praise": "表扬"}


def _clean_kind(kind: str) -> str:
    if kind not in tuple(TicketKind):
        raise ValidationError("Unknown feedback kind %(kind)r", kind=kind)
    return kind


def _clean_text(text: str | None, empty: ValidationError) -> str:
    text = (text or "").strip()
    if not text:
        raise empty
    if len(text) > MAX_TEXT:
        raise ValidationError("The text is longer than %(most)s characters", most=MAX_TEXT)
    return text


# ------------------------------------------------------------------------------------ tickets


def open_ticket(merchant: Merchant, *, msisdn: str, kind: str, text: str, now: datetime,
                member: Member | None = None, inbound_message_id: int | None = None,
                actor: Staff | None = None) -> FeedbackTicket:
    """A new ticket (flushes); its ``number`` is what the texter is told. Its deadline follows the
    target for its kind and the member's tier. A texted one keeps the first ``MAX_TEXT`` characters,
    as the SMS was; a typed one longer than that is refused."""
    kind = _clean_kind(kind)
    text = (text or "").strip()
    if not text:
        raise ValidationError("Feedback text is empty")
    target = target_minutes(response_targets(merchant), kind, member.tier if member else None)
    ticket = FeedbackTicket(merchant_id=merchant.id, member_id=member.id if member else None, msisdn=msisdn,
                            kind=kind, text=text[:MAX_TEXT], inbound_message_id=inbound_message_id,
                            status=TicketStatus.NEW, received_at=now, created_at=now, last_activity_at=now,
                            created_by_id=actor.id if actor else None,
                            due_at=now + timedelta(minutes=target) if target is not None else None)
    db.session.add(ticket)
    db.session.flush()
    emit(merchant.id, WebhookEvent.FEEDBACK_RECEIVED,
         [events.feedback_received(ticket, member_no=member.member_no if member else None)], now=now)
    return ticket


def create_ticket(merchant: Merchant, *, msisdn: str, kind: str, text: str, now: datetime, actor: Staff,
                  assignee_id: int | None = None) -> FeedbackTicket:
    """A ticket typed in the console (a complaint by phone or at the counter), linked to the member
    of that number when there is one."""
    msisdn = normalize_msisdn(msisdn)
    text = _clean_text(text, ValidationError("Feedback text is empty"))
    ticket = open_ticket(merchant, msisdn=msisdn, kind=kind, text=text, now=now,
                         member=find_member_by_msisdn(merchant, msisdn), actor=actor)
    if assignee_id:
        assign_ticket(ticket, merchant, assignee_id=assignee_id)
    return ticket


def get_ticket(merchant: Merchant, ticket_id: int) -> FeedbackTicket:
    ticket = db.session.scalar(sa.select(FeedbackTicket).where(FeedbackTicket.id == ticket_id,
                                                               FeedbackTicket.merchant_id == merchant.id))
    if ticket is None:
        raise NotFoundError("No such ticket")
    return ticket


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox shows: ``status`` "open" (new and in progress), "all" or one status;
    ``assignee`` a staff id, "none" or "" (anyone)."""
    kind: str = ""
    status: str = "open"
    assignee: str = ""
    overdue: bool = False

    def query_args(self) -> dict[str, str]:
        """The inbox's query string for these filters, which every page link keeps."""
        args = {"kind": self.kind, "status": self.status, "assignee": self.assignee, "overdue": "1" * self.overdue}
        return {name: value for name, value in args.items() if value}


#: tickets per inbox page
INBOX_PAGE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class InboxCursor:
    """Where the next inbox page starts: after the ticket ``id`` in section ``overdue`` (1: the
    overdue section, which comes first), with overdue judged ``as_of`` the first page's time so that
    a ticket falling due while staff page on neither repeats nor goes missing."""
    overdue: int
    id: int
    as_of: datetime

    def __str__(self) -> str:
        return f"{self.overdue}-{self.id}-{(self.as_of - _EPOCH) // timedelta(microseconds=1)}"

    @classmethod
    def parse(cls, text: str | None) -> "InboxCursor | None":
        """The cursor from a page link; None (the first page) for anything else."""
        parts = (text or "").split("-")
        if len(parts) != 3 or not all(part.isdigit() for part in parts) or parts[0] not in ("0", "1"):
            return None
        try:
            as_of = _EPOCH + timedelta(microseconds=int(parts[2]))
        except OverflowError:
            return None
        return cls(int(parts[0]), int(parts[1]), as_of)


@dataclass(frozen=True)
class InboxPage:
    tickets: list[FeedbackTicket]
    #: the next page's cursor (None: this is the last page)
    next: InboxCursor | None
    #: the time overdue was judged at: the first page's
    as_of: datetime


def list_tickets(merchant: Merchant, filters: InboxFilter, *, now: datetime, after: InboxCursor | None = None,
                 limit: int = INBOX_PAGE) -> InboxPage:
    """A page of the tickets that pass the filters: the overdue ones first, then the rest, newest
    first in each. Keyset paging on (overdue, id), so a page costs the same however deep it is; the
    later pages show the inbox as it was at the first (tickets opened since wait for a new first
    page), so nothing repeats or goes missing while staff page."""
    as_of = after.as_of if after else now
    overdue = sa.case((sa.and_(FeedbackTicket.status.in_(OPEN_STATUSES), FeedbackTicket.first_response_at.is_(None),
                               FeedbackTicket.due_at <= as_of), 1), else_=0)
    query = sa.select(FeedbackTicket, overdue).where(FeedbackTicket.merchant_id == merchant.id)
    if filters.kind in tuple(TicketKind):
        query = query.where(FeedbackTicket.kind == filters.kind)
    if filters.status == "open" or filters.overdue:
        query = query.where(FeedbackTicket.status.in_(OPEN_STATUSES))
    if filters.status in tuple(TicketStatus):
        query = query.where(FeedbackTicket.status == filters.status)
    if filters.assignee == "none":
        query = query.where(FeedbackTicket.assignee_id.is_(None))
    elif filters.assignee.isdigit():
        query = query.where(FeedbackTicket.assignee_id == int(filters.assignee))
    if filters.overdue:
        query = query.where(FeedbackTicket.first_response_at.is_(None), FeedbackTicket.due_at <= as_of)
    if after is not None:
        # a ticket opened since the first page would fall among the pages already seen
        query = query.where(FeedbackTicket.created_at <= as_of, sa.or_(overdue < after.overdue, sa.and_(overdue == after.overdue,
                                                                     FeedbackTicket.id < after.id)))
    rows = db.session.execute(query.order_by(overdue.desc(), FeedbackTicket.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return InboxPage(tickets=[ticket for ticket, _overdue in rows], as_of=as_of,
                     next=InboxCursor(rows[-1][1], rows[-1][0].id, as_of) if more else None)


def list_assignable_staff(merchant: Merchant) -> list[Staff]:
    return db.session.scalars(sa.select(Staff).where(Staff.merchant_id == merchant.id, Staff.is_active.is_(True))
                              .order_by(Staff.display_name, Staff.username)).all()


def assign_ticket(ticket: FeedbackTicket, merchant: Merchant, *, assignee_id: int | None) -> FeedbackTicket:
    """Give the ticket to an active staff member of the shop (None: to nobody). Someone now works on
    it, so a new ticket is then in progress. A new assignee of an overdue ticket is reminded again."""
    if assignee_id:
        staff = db.session.scalar(sa.select(Staff).where(Staff.id == assignee_id, Staff.merchant_id == merchant.id,
                                                         Staff.is_active.is_(True)))
        if staff is None:
            raise ValidationError("The chosen staff member is not active in this shop")
        if staff.id != ticket.assignee_id:
            ticket.assignee_reminded_at = None
        ticket.assignee_id = staff.id
        if ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.IN_PROGRESS
    else:
        ticket.assignee_id = None
    db.session.flush()
    return ticket


def move_ticket(ticket: FeedbackTicket, merchant: Merchant, *, to: str, now: datetime,
                ask_satisfaction: bool = False) -> FeedbackTicket:
    """new → in progress → resolved → closed (docs/feedback.md). Resolving may ask the member, by
    SMS, how satisfied they are; the question goes once per ticket."""
    if to not in tuple(TicketStatus) or not can_move(ticket.status, to):
        raise ValidationError("A %(status)s ticket cannot become %(to)s", status=ticket.status, to=to)
    ticket.status = to
    if to == TicketStatus.RESOLVED:
        ticket.resolved_at = now
        if ask_satisfaction and ticket.satisfaction_asked_at is None:
            enqueue_sms(merchant, msisdn=ticket.msisdn, body=SATISFACTION_QUESTION.format(no=ticket.number),
                        kind="transactional", now=now, member=_live_member(ticket),
                        idempotency_key=f"feedback-satisfaction:{ticket.id}", occasion=f"feedback:{ticket.id}")
            ticket.satisfaction_asked_at = now
    elif to == TicketStatus.CLOSED:
        ticket.closed_at = now
    else:
        ticket.resolved_at = None
    db.session.flush()
    return ticket


def add_note(ticket: FeedbackTicket, *, body: str, actor: Staff, now: datetime) -> TicketEntry:
    """An internal note: staff read it, the member never does."""
    body = _clean_text(body, ValidationError("The note is empty"))
    entry = TicketEntry(ticket_id=ticket.id, kind=EntryKind.NOTE, body=body, staff_id=actor.id, created_at=now)
    db.session.add(entry)
    db.session.flush()
    return entry


def list_entries(ticket: FeedbackTicket) -> list[TicketEntry]:
    return db.session.scalars(sa.select(TicketEntry).where(TicketEntry.ticket_id == ticket.id)
                              .order_by(TicketEntry.created_at, TicketEntry.id)).all()


def _live_member(ticket: FeedbackTicket) -> Member | None:
    """The ticket's member while still a live member with that number, for the outbox row."""
    member = ticket.member
    if member is None or member.deleted_at is not None or member.msisdn != ticket.msisdn:
        return None
    return member


# ------------------------------------------------------------------------------ replies and joins


def reply_to_ticket(ticket: FeedbackTicket, merchant: Merchant, *, body: str, actor: Staff, now: datetime,
                    idempotency_key: str | None = None) -> TicketEntry:
    """Text the member (a transactional SMS) and record it in the thread. The first reply is the
    ticket's response: it stops the overdue clock, and a new ticket is then in progress.

    The same ``idempotency_key`` (one per rendered form) with the same body again, from a double
    click or a resent POST, returns the first reply and sends nothing; a different body is a new
    reply, so a form reused after the browser's back button loses nothing."""
    if ticket.status == TicketStatus.CLOSED:
        raise ValidationError("The ticket is closed")
    body = _clean_text(body, ValidationError("The reply is empty"))
    key = None
    if idempotency_key:
        digest = hashlib.sha256(f"{idempotency_key}\n{body}".encode()).hexdigest()[:40]
        key = f"feedback-reply:{ticket.id}:{digest}"
    message = enqueue_sms(merchant, msisdn=ticket.msisdn, body=body, kind="transactional", now=now,
                          member=_live_member(ticket), occasion=f"feedback:{ticket.id}", idempotency_key=key)
    if key is not None and (done := db.session.scalar(
            sa.select(TicketEntry).where(TicketEntry.outbound_message_id == message.id))) is not None:
        return done
    entry = TicketEntry(ticket_id=ticket.id, kind=EntryKind.REPLY, body=body, staff_id=actor.id,
                        outbound_message_id=message.id, created_at=now)
    db.session.add(entry)
    ticket.first_response_at = ticket.first_response_at or now
    ticket.last_activity_at = now
    if ticket.status == TicketStatus.NEW:
        ticket.status = TicketStatus.IN_PROGRESS
    db.session.flush()
    return entry


def find_ticket_to_join(merchant: Merchant, msisdn: str, *, now: datetime) -> FeedbackTicket | None:
    """The number's latest open ticket when it saw activity within ``JOIN_WINDOW``."""
    return db.session.scalar(sa.select(FeedbackTicket).where(
        FeedbackTicket.merchant_id == merchant.id, FeedbackTicket.msisdn == msisdn,
        FeedbackTicket.status.in_(OPEN_STATUSES), FeedbackTicket.last_activity_at >= now - JOIN_WINDOW)
        .order_by(FeedbackTicket.id.desc()).limit(1))


def add_member_text(ticket: FeedbackTicket, *, text: str, now: datetime,
                    inbound_message_id: int | None = None) -> TicketEntry:
    """A further text of the member joins the thread, as the SMS was (the first ``MAX_TEXT``)."""
    entry = TicketEntry(ticket_id=ticket.id, kind=EntryKind.MO, body=(text or "").strip()[:MAX_TEXT],
                        inbound_message_id=inbound_message_id, created_at=now)
    db.session.add(entry)
    ticket.last_activity_at = now
    db.session.flush()
    return entry


def find_satisfaction_pending(merchant: Merchant, msisdn: str, *, now: datetime) -> FeedbackTicket | None:
    """The number's latest ticket asked about satisfaction within the window and not answered yet."""
    return db.session.scalar(sa.select(FeedbackTicket).where(
        FeedbackTicket.merchant_id == merchant.id, FeedbackTicket.msisdn == msisdn,
        FeedbackTicket.satisfaction.is_(None), FeedbackTicket.satisfaction_asked_at >= now - SATISFACTION_WINDOW)
        .order_by(FeedbackTicket.satisfaction_asked_at.desc()).limit(1))


def record_satisfaction(merchant: Merchant, msisdn: str, text: str | None, *, now: datetime) -> FeedbackTicket | None:
    """A text answering the satisfaction question: the score is kept, and the ticket returned. None
    (nothing recorded) when the text is no such answer or no question waits for one."""
    score = parse_satisfaction(text)
    if score is None:
        return None
    ticket = find_satisfaction_pending(merchant, msisdn, now=now)
    if ticket is not None:
        ticket.satisfaction, ticket.satisfaction_at = score, now
        db.session.flush()
    return ticket


# -------------------------------------------------------------------------- targets and reminders


def response_targets(merchant: Merchant) -> dict[tuple[str, str], int | None]:
    """(kind, tier) → minutes to the first reply (None: no target), tier "" being everyone: the
    merchant's own, else the default of the kind."""
    targets: dict[tuple[str, str], int | None] = {(kind, ""): minutes for kind, minutes in DEFAULT_TARGETS.items()}
    for row in db.session.scalars(sa.select(ResponseTarget).where(ResponseTarget.merchant_id == merchant.id)):
        targets[(row.kind, row.tier)] = row.minutes
    return targets


def list_target_tiers(merchant: Merchant) -> list[str]:
    """The merchant's tiers, lowest first: each may have its own targets."""
    return [name for name, _score in sorted(merchant.tier_thresholds, key=lambda tier: tier[1])]


def set_response_targets(merchant: Merchant, targets: dict[tuple[str, str], int | None]) -> None:
    """Save targets keyed (kind, tier) (flushes); they apply to tickets opened from now on. For
    everyone (tier "") None means no target; for a tier it means the kind's target applies."""
    rows = {(row.kind, row.tier): row for row in db.session.scalars(
        sa.select(ResponseTarget).where(ResponseTarget.merchant_id == merchant.id))}
    for (kind, tier), minutes in targets.items():
        kind, tier = _clean_kind(kind), (tier or "").strip()
        if len(tier) > 20:
            raise ValidationError("A tier name is longer than 20 characters")
        if minutes is not None and not 1 <= minutes <= MAX_TARGET_MINUTES:
            raise ValidationError("A target must be between 1 and %(most)s minutes", most=MAX_TARGET_MINUTES)
        row = rows.get((kind, tier))
        if tier and minutes is None:
            if row is not None:
                db.session.delete(row)
            continue
        row = row or ResponseTarget(merchant_id=merchant.id, kind=kind, tier=tier)
        row.minutes = minutes
        db.session.add(row)
    db.session.flush()


def send_overdue_reminders(merchant: Merchant, *, now: datetime) -> int:
    """Text the assignee of each overdue ticket once, and the owners once ``OWNER_AFTER`` later (at
    once when nobody is assigned). Each SMS has its own outbox key, so a re-run sends nothing twice.
    Flushes; the job commits. Returns how many SMS were queued."""
    tickets = db.session.scalars(sa.select(FeedbackTicket).where(
        FeedbackTicket.merchant_id == merchant.id, FeedbackTicket.status.in_(OPEN_STATUSES),
        FeedbackTicket.first_response_at.is_(None), FeedbackTicket.due_at <= now,
        sa.or_(FeedbackTicket.assignee_reminded_at.is_(None), FeedbackTicket.owner_reminded_at.is_(None)))).all()
    owners = None
    queued = 0
    for ticket in tickets:
        assignee = ticket.assignee if ticket.assignee and ticket.assignee.is_active else None
        kind, text = KIND_WORDS[ticket.kind], ticket.text[:30]
        if ticket.assignee_reminded_at is None and assignee is not None and assignee.msisdn:
            enqueue_sms(merchant, msisdn=assignee.msisdn, kind="transactional", now=now,
                        body=OVERDUE_ASSIGNEE.format(no=ticket.number, kind=kind, text=text),
                        idempotency_key=f"feedback-overdue:{ticket.id}:s{assignee.id}",
                        occasion=f"feedback:{ticket.id}")
            ticket.assignee_reminded_at = now
            queued += 1
        told = ticket.assignee_reminded_at
        owners_due = told + OWNER_AFTER <= now if told is not None else True
        if ticket.owner_reminded_at is None and owners_due:
            if owners is None:
                owners = db.session.scalars(sa.select(Staff).where(
                    Staff.merchant_id == merchant.id, Staff.role == Role.OWNER, Staff.is_active.is_(True),
                    Staff.msisdn.is_not(None)).order_by(Staff.id)).all()
            name = (assignee.display_name or assignee.username) if assignee else "无"
            # an owner who is the assignee has been told already
            for owner in (o for o in owners if assignee is None or o.id != assignee.id):
                enqueue_sms(merchant, msisdn=owner.msisdn, kind="transactional", now=now,
                            body=OVERDUE_OWNER.format(no=ticket.number, kind=kind, assignee=name, text=text),
                            idempotency_key=f"feedback-overdue:{ticket.id}:o{owner.id}",
                            occasion=f"feedback:{ticket.id}")
                queued += 1
            ticket.owner_reminded_at = now
        logger.info("ticket %s of %s is overdue", ticket.id, mask_msisdn(ticket.msisdn))
    db.session.flush()
    return queued


# ------------------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """The desk's figures over the tickets received since ``since``."""
    since: date
    #: (Monday of the week, kind → tickets), oldest week first, every week listed
    weeks: list[tuple[date, dict[str, int]]] = field(default_factory=list)
    median_first_response: timedelta | None = None
    median_resolution: timedelta | None = None
    #: score (1 satisfied, 2 so-so, 3 dissatisfied) → answers
    satisfaction: dict[int, int] = field(default_factory=dict)
    satisfaction_asked: int = 0


def ticket_figures(merchant: Merchant, *, now: datetime, weeks: int = 12) -> Figures:
    """Tickets by kind and local week, the median time to the first reply and to resolution, and the
    satisfaction answers, over the last ``weeks`` weeks (this one included)."""
    zone = ZoneInfo(merchant.timezone)
    today = now.astimezone(zone).date()
    first_monday = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    since = datetime.combine(first_monday, datetime.min.time(), tzinfo=zone)
    rows = db.session.execute(sa.select(
        FeedbackTicket.kind, FeedbackTicket.received_at, FeedbackTicket.first_response_at,
        FeedbackTicket.resolved_at, FeedbackTicket.satisfaction, FeedbackTicket.satisfaction_asked_at).where(
        FeedbackTicket.merchant_id == merchant.id, FeedbackTicket.received_at >= since)).all()
    counts = {first_monday + timedelta(weeks=n): dict.fromkeys(TicketKind, 0) for n in range(weeks)}
    figures = Figures(since=first_monday, satisfaction={1: 0, 2: 0, 3: 0})
    responses, resolutions = [], []
    for kind, received_at, first_response_at, resolved_at, satisfaction, asked_at in rows:
        day = received_at.astimezone(zone).date()
        counts[day - timedelta(days=day.weekday())][kind] += 1
        if first_response_at is not None:
            responses.append(first_response_at - received_at)
        if resolved_at is not None:
            resolutions.append(resolved_at - received_at)
        if satisfaction in figures.satisfaction:
            figures.satisfaction[satisfaction] += 1
        figures.satisfaction_asked += asked_at is not None
    figures.weeks = sorted(counts.items())
    figures.median_first_response, figures.median_resolution = median(responses), median(resolutions)
    return figures


def erase_feedback(merchant_id: int, member_id: int, msisdn: str, placeholder: str) -> None:
    """A member's erasure: the texts of its tickets and their threads go; the tickets stay, for
    the desk's figures. Flushes."""
    tickets = sa.select(FeedbackTicket.id).where(
        FeedbackTicket.merchant_id == merchant_id,
        sa.or_(FeedbackTicket.member_id == member_id, FeedbackTicket.msisdn == msisdn))
    db.session.execute(sa.update(TicketEntry.__table__).where(TicketEntry.__table__.c.ticket_id.in_(tickets))
                       .values(body=""))
    table = FeedbackTicket.__table__
    db.session.execute(sa.update(table).where(table.c.id.in_(tickets)).values(text="", msisdn=placeholder))
    db.session.expire_all()
    db.session.flush()
