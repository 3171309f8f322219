"""Agenda reminders with a controllable clock: due exactly N minutes before each occurrence, once
per occurrence and person even when the job runs twice or dies mid-run; members' appointment
reminders are transactional; unconfirmed staff reminders escalate to the owner once."""
from datetime import date, datetime, timedelta, UTC

import pytest
import sqlalchemy as sa

from mcrm.agenda import services
from mcrm.agenda.models import AgendaReminder
from mcrm.core.clock import ManualClock
from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.jobs.tasks import send_agenda_reminders
from mcrm.members.services import opt_out
from mcrm.messaging.models import OutboundMessage

#: 15:00 on 21 November 2026 in Shanghai
AFTERNOON = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return ManualClock(AFTERNOON - timedelta(hours=2))


@pytest.fixture
def waiter(make_staff):
    return make_staff("clerk", msisdn="13700137001", display_name="小李")


@pytest.fixture
def owner(make_staff):
    return make_staff("owner", msisdn="13700137009", display_name="老板")


def add(merchant, clock, **fields):
    fields.setdefault("title", "王总来店")
    fields.setdefault("starts_at", AFTERNOON)
    item = services.create_item(merchant, now=clock(), **fields)
    db.session.commit()
    return item


def sms(**where) -> list[tuple[str, str]]:
    query = sa.select(OutboundMessage).order_by(OutboundMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutboundMessage, key) == value)
    return [(m.msisdn, m.body) for m in db.session.scalars(query)]


def run(clock, at=None) -> int:
    if at is not None:
        clock.set(at)
    return send_agenda_reminders(now=clock())


def test_the_reminder_goes_n_minutes_before_and_only_once(merchant, clock, waiter, owner):
    add(merchant, clock, staff_ids=[waiter.id], place="二楼包间", remind_minutes=30, escalate_minutes=None)
    assert run(clock, AFTERNOON - timedelta(minutes=31)) == 0
    assert run(clock, AFTERNOON - timedelta(minutes=30)) == 1
    assert run(clock) == 0                                 # the job twice in the same minute
    run(clock, AFTERNOON - timedelta(minutes=10))
    assert sms() == [("+8613700137001", "日程提醒：11月21日 15:00 王总来店，地点：二楼包间。回1确认。")]
    assert sms()[0][0] == waiter.msisdn


def test_a_missed_reminder_is_not_sent_after_the_start(merchant, clock, waiter):
    add(merchant, clock, staff_ids=[waiter.id])
    assert run(clock, AFTERNOON + timedelta(minutes=1)) == 0 and sms() == []


def test_a_repeating_item_is_reminded_for_each_occurrence(merchant, clock, waiter):
    add(merchant, clock, staff_ids=[waiter.id], repeat="weekly", remind_minutes=60, escalate_minutes=None)
    for week in range(3):
        assert run(clock, AFTERNOON + timedelta(weeks=week, minutes=-60)) == 1
        assert run(clock, AFTERNOON + timedelta(weeks=week, minutes=-5)) == 0
    assert [body[5:11] for _to, body in sms()] == ["11月21日", "11月28日", "12月05日"]


def test_a_monthly_item_on_the_31st_falls_on_the_last_day_of_a_shorter_month(merchant, make_staff):
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    item = add(merchant, clock, starts_at=datetime(2026, 1, 31, 9, 0), repeat="monthly")
    days = services.list_days(merchant, date(2026, 2, 1), 28) + services.list_days(merchant, date(2026, 4, 1), 30)
    assert [day for day, found in days if found] == [date(2026, 2, 28), date(2026, 4, 30)]
    assert all(o.item == item and o.at.hour == 9 for _day, found in days for o in found)


def test_members_of_an_appointment_get_a_transactional_reminder_even_opted_out(merchant, clock, waiter,
                                                                               make_member):
    member = make_member(name="王总", msisdn="13800138000")
    opt_out(member, now=clock())
    db.session.commit()
    add(merchant, clock, staff_ids=[waiter.id], member_msisdns=["13800138000"])
    assert run(clock, AFTERNOON - timedelta(minutes=30)) == 2
    (message,) = db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.member_id == member.id))
    assert message.kind.value == "transactional" and message.status.value == "queued"
    assert message.body == "王总您好，提醒您11月21日 15:00的预约：王总来店。" and "退订" not in message.text


def test_a_job_that_dies_mid_run_sends_each_reminder_once_when_run_again(merchant, clock, make_staff,
                                                                         monkeypatch):
    staff = [make_staff("clerk", msisdn=f"1370013710{n}") for n in range(3)]
    add(merchant, clock, staff_ids=[s.id for s in staff])
    clock.set(AFTERNOON - timedelta(minutes=30))
    real = services.enqueue_sms
    calls = []

    def dies_at_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "enqueue_sms", dies_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        run(clock)
    db.session.rollback()                  # the process is gone: its transaction never committed
    monkeypatch.setattr(services, "enqueue_sms", real)
    assert run(clock) == 3 and run(clock) == 0
    assert sorted(to for to, _body in sms()) == sorted(s.msisdn for s in staff)
    assert db.session.scalar(sa.select(sa.func.count(AgendaReminder.id))) == 3


def test_a_moved_item_is_reminded_again_for_its_new_time(merchant, clock, waiter):
    item = add(merchant, clock, staff_ids=[waiter.id])
    assert run(clock, AFTERNOON - timedelta(minutes=30)) == 1
    services.update_item(item, merchant, now=clock(), title=item.title, starts_at=AFTERNOON + timedelta(hours=1),
                         staff_ids=[waiter.id])
    db.session.commit()
    assert run(clock, AFTERNOON + timedelta(minutes=30)) == 1 and len(sms()) == 2


def test_a_deleted_item_and_staff_without_a_phone_get_nothing(merchant, clock, make_staff):
    no_phone = make_staff("clerk")
    item = add(merchant, clock, staff_ids=[no_phone.id])
    gone = add(merchant, clock, staff_ids=[make_staff("clerk", msisdn="13700137005").id])
    services.delete_item(gone, now=clock())
    db.session.commit()
    assert run(clock, AFTERNOON - timedelta(minutes=30)) == 0 and sms() == [] and item.deleted_at is None


def test_an_unconfirmed_reminder_escalates_to_the_owner_once(merchant, clock, waiter, owner):
    add(merchant, clock, staff_ids=[waiter.id], escalate_minutes=15)
    run(clock, AFTERNOON - timedelta(minutes=30))
    assert run(clock, AFTERNOON - timedelta(minutes=16)) == 0
    assert run(clock, AFTERNOON - timedelta(minutes=15)) == 1
    assert run(clock, AFTERNOON - timedelta(minutes=14)) == 0 and run(clock, AFTERNOON + timedelta(hours=3)) == 0
    assert sms(msisdn=owner.msisdn) == [("+8613700137009", "小李未确认日程提醒：11月21日 15:00 王总来店。")]


def test_a_confirmed_reminder_does_not_escalate(merchant, clock, waiter, owner):
    add(merchant, clock, staff_ids=[waiter.id], escalate_minutes=15)
    run(clock, AFTERNOON - timedelta(minutes=30))
    clock.advance(timedelta(minutes=5))
    (confirmed,) = services.confirm_reminders(merchant, waiter, now=clock())
    db.session.commit()
    assert confirmed.confirmed_at == clock()
    assert run(clock, AFTERNOON) == 0 and sms(msisdn=owner.msisdn) == []
    assert services.confirm_reminders(merchant, waiter, now=clock()) == []     # nothing left to confirm


def test_an_owner_reminded_is_not_told_of_their_own_unconfirmed_reminder(merchant, clock, owner):
    add(merchant, clock, staff_ids=[owner.id])
    run(clock, AFTERNOON - timedelta(minutes=30))
    assert run(clock, AFTERNOON) == 0 and len(sms()) == 1


def test_reminders_and_confirmations_stay_within_the_merchant(merchant, clock, make_merchant, make_staff):
    other = make_merchant(name="别家")
    theirs = make_staff("clerk", merchant=other, msisdn="13700137001")
    ours = make_staff("clerk", msisdn="13700137002")
    add(other, clock, staff_ids=[theirs.id])
    run(clock, AFTERNOON - timedelta(minutes=30))
    assert services.confirm_reminders(merchant, ours, now=clock()) == []
    with pytest.raises(ValidationError, match="not active in this shop"):
        services.create_item(merchant, now=clock(), title="x", starts_at=AFTERNOON, staff_ids=[theirs.id])


@pytest.mark.parametrize("fields, error", [
    ({"title": " "}, "Give the item a title"),
    ({"starts_at": AFTERNOON - timedelta(hours=3)}, "That time has passed"),
    ({"repeat": "yearly"}, "Unknown repeat rule yearly"),
    ({"remind_minutes": 10081}, "Reminder must be between 0 and 10080 minutes"),
    ({"member_msisdns": ["12345"]}, "12345"),
])
def test_bad_items_are_refused_with_why(merchant, clock, fields, error):
    with pytest.raises(ValidationError, match=error):
        add(merchant, clock, **fields)
