"""Agenda items: create, change and list them; send their reminders; confirm and escalate.

Times given without a zone are the merchant's local time. Reminders are transactional SMS (an
appointment reminder is part of the member's own booking, docs/sending.md): they go at any hour,
to opted-out members too. Staff reply ``1`` to confirm; an unconfirmed staff reminder is passed to
the merchant's owners once, ``escalate_minutes`` after it went out.
"""
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from mcrm.agenda.models import AgendaItem, AgendaReminder, Repeat
from mcrm.agenda.parse import MAX_TITLE, parse_item_text
from mcrm.agenda.texts import ESCALATION, MEMBER_REMINDER, STAFF_REMINDER, render, text_of, when_text
from mcrm.auth.models import Role, Staff
from mcrm.core.errors import NotFoundError, ValidationError
from mcrm.core.msisdn import mask_msisdn, normalize_msisdn
from mcrm.core.recurrence import next_occurrence, occurrences_between
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.members.services import find_member_by_msisdn
from mcrm.merchants.models import Merchant
from mcrm.messaging.services import enqueue_sms

logger = logging.getLogger(__name__)

MAX_PLACE = 100
#: the longest a reminder or an escalation may wait: a week
MAX_MINUTES = 7 * 24 * 60
DEFAULT_REMIND_MINUTES = 30
DEFAULT_ESCALATE_MINUTES = 15
#: a reply ``1`` confirms the staff member's reminders sent within this time
CONFIRM_WITHIN = timedelta(days=1)


@dataclass(frozen=True)
class Occurrence:
    """One time an item happens, in the merchant's local time."""
    item: AgendaItem
    at: datetime


def _zone(merchant: Merchant) -> ZoneInfo:
    return ZoneInfo(merchant.timezone)


def _rule(item: AgendaItem) -> str | None:
    """The item's repeat rule for mcrm.core.recurrence: None when it happens once."""
    return None if item.repeat is Repeat.NONE else item.repeat.value


def local_today(merchant: Merchant, now: datetime) -> date:
    return now.astimezone(_zone(merchant)).date()


# ------------------------------------------------------------------------------------ the items


def _clean_minutes(value, label: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        raise ValidationError("%(label)s must be a whole number of minutes", label=label) from None
    if not 0 <= minutes <= MAX_MINUTES:
        raise ValidationError("%(label)s must be between 0 and %(most)s minutes", label=label, most=MAX_MINUTES)
    return minutes


def _clean_repeat(repeat) -> Repeat:
    try:
        return Repeat(repeat or "none")
    except ValueError:
        raise ValidationError("Unknown repeat rule %(repeat)s", repeat=repeat) from None


def _starts_at(merchant: Merchant, starts_at: datetime) -> datetime:
    if starts_at is None:
        raise ValidationError("Give the date and time")
    return starts_at.replace(tzinfo=_zone(merchant)) if starts_at.tzinfo is None else starts_at


def _chosen_staff(merchant: Merchant, staff_ids) -> list[Staff]:
    wanted = {int(i) for i in staff_ids or ()}
    if not wanted:
        return []
    found = db.session.scalars(sa.select(Staff).where(Staff.merchant_id == merchant.id, Staff.id.in_(wanted),
                                                      Staff.is_active.is_(True))).all()
    if len(found) != len(wanted):
        raise ValidationError("A chosen staff member is not active in this shop")
    return sorted(found, key=lambda staff: staff.id)


def _chosen_members(merchant: Merchant, msisdns) -> list[Member]:
    members = []
    for raw in msisdns or ():
        msisdn = normalize_msisdn(raw)
        member = find_member_by_msisdn(merchant, msisdn)
        if member is None:
            raise ValidationError("%(msisdn)s is no member of this shop", msisdn=raw)
        if member not in members:
            members.append(member)
    return members


def _apply(item: AgendaItem, merchant: Merchant, *, now: datetime, title: str, starts_at: datetime, place: str,
           repeat, remind_minutes, escalate_minutes, staff_ids, member_msisdns) -> None:
    title = (title or "").strip()
    if not title:
        raise ValidationError("Give the item a title")
    if len(title) > MAX_TITLE:
        raise ValidationError("The title is longer than %(most)s characters", most=MAX_TITLE)
    place = (place or "").strip()
    if len(place) > MAX_PLACE:
        raise ValidationError("The place is longer than %(most)s characters", most=MAX_PLACE)
    starts_at = _starts_at(merchant, starts_at)
    repeat = _clean_repeat(repeat)
    moved = item.starts_at is None or starts_at != item.starts_at
    if moved and repeat is Repeat.NONE and starts_at <= now:
        raise ValidationError("That time has passed")
    item.title, item.place, item.starts_at, item.repeat = title, place, starts_at, repeat
    item.remind_minutes = _clean_minutes(remind_minutes, "Reminder")
    item.escalate_minutes = _clean_minutes(escalate_minutes, "Escalation")
    item.staff = _chosen_staff(merchant, staff_ids)
    item.members = _chosen_members(merchant, member_msisdns)


def create_item(merchant: Merchant, *, now: datetime, title: str, starts_at: datetime, place: str = "",
                repeat="none", remind_minutes=DEFAULT_REMIND_MINUTES, escalate_minutes=DEFAULT_ESCALATE_MINUTES,
                staff_ids=(), member_msisdns=(), actor: Staff | None = None, source: str = "console") -> AgendaItem:
    """Add an item (flushes). ``starts_at`` without a zone is local; with no staff chosen, the
    staff member who adds it is the one reminded."""
    if not staff_ids and actor is not None:
        staff_ids = [actor.id]
    item = AgendaItem(merchant_id=merchant.id, created_by_id=actor.id if actor else None, source=source)
    _apply(item, merchant, now=now, title=title, starts_at=starts_at, place=place, repeat=repeat,
           remind_minutes=remind_minutes, escalate_minutes=escalate_minutes, staff_ids=staff_ids,
           member_msisdns=member_msisdns)
    db.session.add(item)
    db.session.flush()
    return item


def update_item(item: AgendaItem, merchant: Merchant, *, now: datetime, title: str, starts_at: datetime,
                place: str = "", repeat="none", remind_minutes=DEFAULT_REMIND_MINUTES,
                escalate_minutes=DEFAULT_ESCALATE_MINUTES, staff_ids=(), member_msisdns=()) -> AgendaItem:
    """Change an item (flushes). A new time is a new occurrence: its reminder goes out again."""
    _apply(item, merchant, now=now, title=title, starts_at=starts_at, place=place, repeat=repeat,
           remind_minutes=remind_minutes, escalate_minutes=escalate_minutes, staff_ids=staff_ids,
           member_msisdns=member_msisdns)
    db.session.flush()
    return item


def delete_item(item: AgendaItem, *, now: datetime) -> None:
    """Cancel an item: it leaves the views and sends nothing more (its reminders stay on record)."""
    item.deleted_at = now
    db.session.flush()


def get_item(merchant: Merchant, item_id: int) -> AgendaItem:
    item = db.session.scalar(sa.select(AgendaItem).where(AgendaItem.id == item_id,
                                                         AgendaItem.merchant_id == merchant.id,
                                                         AgendaItem.deleted_at.is_(None)))
    if item is None:
        raise NotFoundError("No such agenda item")
    return item


def can_change(staff: Staff, item: AgendaItem) -> bool:
    """Managers and owners change any item of their shop; a clerk only those they added."""
    return item.merchant_id == staff.merchant_id and (
        staff.has_role(Role.MANAGER) or item.created_by_id == staff.id)


def list_staff_choices(merchant: Merchant) -> list[Staff]:
    """Active staff who can be chosen for an item."""
    return db.session.scalars(sa.select(Staff).where(Staff.merchant_id == merchant.id, Staff.is_active.is_(True))
                              .order_by(Staff.display_name, Staff.username)).all()


def list_occurrences(merchant: Merchant, first_day: date, days: int) -> list[Occurrence]:
    """Every occurrence on ``days`` local days from ``first_day``, in time order."""
    zone = _zone(merchant)
    start = datetime.combine(first_day, time(0), tzinfo=zone)
    end = datetime.combine(first_day + timedelta(days=days), time(0), tzinfo=zone)
    items = db.session.scalars(sa.select(AgendaItem).where(
        AgendaItem.merchant_id == merchant.id, AgendaItem.deleted_at.is_(None), AgendaItem.starts_at < end,
        sa.or_(AgendaItem.repeat != Repeat.NONE, AgendaItem.starts_at >= start))).all()
    found = [Occurrence(item, at) for item in items
             for at in occurrences_between(item.starts_at, _rule(item), start, end, zone)]
    return sorted(found, key=lambda occurrence: (occurrence.at, occurrence.item.id))


def list_days(merchant: Merchant, first_day: date, days: int) -> list[tuple[date, list[Occurrence]]]:
    """``list_occurrences`` by local day, each of the ``days`` days listed even when empty."""
    occurrences = list_occurrences(merchant, first_day, days)
    shown = [first_day + timedelta(days=n) for n in range(days)]
    return [(day, [o for o in occurrences if o.at.date() == day]) for day in shown]


def add_item_by_sms(merchant: Merchant, staff: Staff, text: str, *, now: datetime) -> AgendaItem:
    """``RC 明天15:00 王总来店`` from a staff phone: an item that reminds that staff member."""
    local_now = now.astimezone(_zone(merchant)).replace(tzinfo=None, second=0, microsecond=0)
    starts_at, title = parse_item_text(text, now=local_now)
    return create_item(merchant, now=now, title=title, starts_at=starts_at, actor=staff, source="sms")


# ---------------------------------------------------------------------------------- reminders


def _reminder_key(item: AgendaItem, occurs_at: datetime, who: str) -> str:
    return f"agenda:{item.id}:{occurs_at.astimezone(ZoneInfo('UTC')):%Y%m%d%H%M}:{who}"


def send_due_reminders(merchant: Merchant, *, now: datetime) -> int:
    """Queue every reminder that is due and every escalation that is due (flushes; the job commits).

    A reminder is due from ``remind_minutes`` before an occurrence until it starts; once it has
    started, a missed reminder is not sent late. Each goes once per occurrence and person: its
    ``AgendaReminder`` row and its SMS share one key and are committed together, so a second run,
    or a run after one that died before its commit, queues nothing twice. Returns how many SMS.
    """
    zone = _zone(merchant)
    items = db.session.scalars(sa.select(AgendaItem).where(
        AgendaItem.merchant_id == merchant.id, AgendaItem.deleted_at.is_(None),
        AgendaItem.remind_minutes.is_not(None), AgendaItem.starts_at <= now + timedelta(minutes=MAX_MINUTES),
        sa.or_(AgendaItem.repeat != Repeat.NONE, AgendaItem.starts_at >= now))).all()
    queued = 0
    for item in items:
        occurs_at = next_occurrence(item.starts_at, _rule(item), now, zone)
        if occurs_at is not None and occurs_at - timedelta(minutes=item.remind_minutes) <= now:
            queued += _remind(merchant, item, occurs_at, now)
    queued += _escalate(merchant, now)
    db.session.flush()
    return queued


def _remind(merchant: Merchant, item: AgendaItem, occurs_at: datetime, now: datetime) -> int:
    when = when_text(merchant, occurs_at)
    staff_text, member_text = text_of(merchant, STAFF_REMINDER), text_of(merchant, MEMBER_REMINDER)
    recipients = [(f"s{staff.id}", staff, None) for staff in item.staff if staff.is_active and staff.msisdn]
    recipients += [(f"m{member.id}", None, member) for member in item.members if member.deleted_at is None]
    keys = {who: _reminder_key(item, occurs_at, who) for who, _staff, _member in recipients}
    done = set(db.session.scalars(sa.select(AgendaReminder.key).where(AgendaReminder.key.in_(keys.values()))))
    queued = 0
    for who, staff, member in recipients:
        if keys[who] in done:
            continue
        if staff is not None:
            msisdn, body = staff.msisdn, render(merchant, staff_text, when=when, title=item.title, place=item.place)
        else:
            msisdn = member.msisdn
            body = render(merchant, member_text, member_name=member.name, when=when, title=item.title,
                          place=item.place)
        enqueue_sms(merchant, msisdn=msisdn, body=body, kind="transactional", now=now, member=member,
                    idempotency_key=keys[who], occasion=f"agenda:{item.id}")
        db.session.add(AgendaReminder(merchant_id=merchant.id, item_id=item.id, occurs_at=occurs_at,
                                      staff_id=staff.id if staff else None, member_id=member.id if member else None,
                                      key=keys[who], sent_at=now))
        logger.info("agenda item %s: reminder to %s", item.id, mask_msisdn(msisdn))
        queued += 1
    return queued


def _escalate(merchant: Merchant, now: datetime) -> int:
    """Tell the owners of each staff reminder still unconfirmed ``escalate_minutes`` after it went."""
    pending = db.session.scalars(sa.select(AgendaReminder).join(AgendaItem).where(
        AgendaReminder.merchant_id == merchant.id, AgendaReminder.staff_id.is_not(None),
        AgendaReminder.confirmed_at.is_(None), AgendaReminder.escalated_at.is_(None),
        AgendaReminder.sent_at >= now - CONFIRM_WITHIN, AgendaItem.deleted_at.is_(None),
        AgendaItem.escalate_minutes.is_not(None))).all()
    due = [r for r in pending if r.sent_at + timedelta(minutes=r.item.escalate_minutes) <= now]
    if not due:
        return 0
    owners = db.session.scalars(sa.select(Staff).where(
        Staff.merchant_id == merchant.id, Staff.role == Role.OWNER, Staff.is_active.is_(True),
        Staff.msisdn.is_not(None)).order_by(Staff.id)).all()
    queued, template = 0, text_of(merchant, ESCALATION)
    for reminder in due:
        item, staff = reminder.item, reminder.staff
        body = render(merchant, template, staff=staff.display_name or staff.username,
                      when=when_text(merchant, reminder.occurs_at), title=item.title, place=item.place)
        # the owner who was reminded already knows
        for owner in (o for o in owners if o.id != staff.id):
            enqueue_sms(merchant, msisdn=owner.msisdn, body=body, kind="transactional", now=now,
                        idempotency_key=f"agenda-escalate:{reminder.id}:{owner.id}", occasion=f"agenda:{item.id}")
            queued += 1
        reminder.escalated_at = now
    return queued


def confirm_reminders(merchant: Merchant, staff: Staff, *, now: datetime) -> list[AgendaReminder]:
    """A ``1`` from a staff phone: confirm that staff member's reminders of the last day that are
    not confirmed yet, oldest first (flushes). Empty when there is nothing to confirm."""
    pending = db.session.scalars(sa.select(AgendaReminder).where(
        AgendaReminder.merchant_id == merchant.id, AgendaReminder.staff_id == staff.id,
        AgendaReminder.confirmed_at.is_(None), AgendaReminder.sent_at >= now - CONFIRM_WITHIN,
        AgendaReminder.sent_at <= now).order_by(AgendaReminder.occurs_at)).all()
    for reminder in pending:
        reminder.confirmed_at = now
    db.session.flush()
    return pending


def list_reminders(item: AgendaItem, *, limit: int = 50) -> list[AgendaReminder]:
    """An item's latest reminders, for its page: who was told, who confirmed, what was escalated."""
    return db.session.scalars(sa.select(AgendaReminder).where(AgendaReminder.item_id == item.id)
                              .order_by(AgendaReminder.id.desc()).limit(limit)).all()
