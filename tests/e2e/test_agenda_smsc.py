"""An agenda reminder through the real SMSC peer: the job queues it, the gateway hands it to the
SMSC, the staff phone replies 1 (MO → gateway → inbox → keyword engine), the confirmation comes
back, and the escalation job then tells the owner nothing."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from mcrm.agenda import services
from mcrm.agenda.models import AgendaReminder
from mcrm.core.clock import now_utc
from mcrm.jobs.tasks import send_agenda_reminders
from mcrm.messaging.models import OutboundMessage
from tests.e2e.test_gateway_smsc import SERVICE_NUMBER, gateway, smsc  # noqa: F401  (fixtures)
from tests.e2e.test_keywords_smsc import fresh, running, texts_to  # noqa: F401  (fixtures)

STAFF_PHONE = "8613700137001"
OWNER_PHONE = "8613700137009"


def test_a_staff_phone_gets_the_reminder_replies_1_and_no_escalation_follows(db, merchant, make_staff, smsc,
                                                                            running):
    waiter = make_staff("clerk", msisdn="+" + STAFF_PHONE, display_name="小李")
    make_staff("owner", msisdn="+" + OWNER_PHONE)
    now = now_utc()
    services.create_item(merchant, now=now, title="王总来店", starts_at=now + timedelta(minutes=30),
                         place="二楼包间", staff_ids=[waiter.id], remind_minutes=30, escalate_minutes=15)
    db.session.commit()
    assert send_agenda_reminders(now=now) == 1
    db.session.rollback()

    [reminder] = texts_to(smsc, STAFF_PHONE, 1)
    assert reminder.startswith("【小王烧烤】日程提醒：") and "王总来店，地点：二楼包间。回1确认。" in reminder
    smsc.mo(STAFF_PHONE, SERVICE_NUMBER, "1")
    confirmation = texts_to(smsc, STAFF_PHONE, 2)[1]
    assert confirmation.startswith("【小王烧烤】已确认：") and confirmation.endswith("王总来店")
    assert fresh(db, sa.select(AgendaReminder.confirmed_at)) is not None

    assert send_agenda_reminders(now=now + timedelta(minutes=16)) == 0    # past the 15 minutes: nothing
    db.session.rollback()
    assert fresh(db, sa.select(sa.func.count()).where(OutboundMessage.msisdn == "+" + OWNER_PHONE)) == 0
    assert not [r for r in smsc.records("message") if r["destination_addr"] == OWNER_PHONE]


def test_an_unanswered_reminder_reaches_the_owner_phone_once(db, merchant, make_staff, smsc, running):
    waiter = make_staff("clerk", msisdn="+" + STAFF_PHONE, display_name="小李")
    make_staff("owner", msisdn="+" + OWNER_PHONE)
    now = now_utc()
    services.create_item(merchant, now=now, title="王总来店", starts_at=now + timedelta(minutes=30),
                         staff_ids=[waiter.id], escalate_minutes=15)
    db.session.commit()
    send_agenda_reminders(now=now)
    assert send_agenda_reminders(now=now + timedelta(minutes=15)) == 1
    assert send_agenda_reminders(now=now + timedelta(minutes=16)) == 0
    db.session.rollback()
    [told] = texts_to(smsc, OWNER_PHONE, 1)
    assert told.startswith("【小王烧烤】小李未确认日程提醒：") and "王总来店" in told
