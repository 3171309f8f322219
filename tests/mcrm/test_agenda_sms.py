"""Agenda by SMS from staff phones, through the real inbox and keyword engine: ``RC`` adds an item,
``1`` confirms reminders (and stops the escalation); from other phones, or with nothing to
confirm, the same texts are ordinary texts."""
from datetime import datetime, timedelta, UTC

import pytest
import sqlalchemy as sa

from mcrm.agenda import services
from mcrm.agenda.models import AgendaItem
from mcrm.extensions import db
from mcrm.jobs.tasks import process_inbound_sms, send_agenda_reminders
from mcrm.messaging.models import OutboundMessage
from tests.mcrm.keywords_support import phone  # noqa: F401  (fixture)

STAFF = "+8613700137001"
OWNER = "+8613700137009"


@pytest.fixture
def staff(make_staff):
    return make_staff("clerk", msisdn="13700137001", display_name="小李")


@pytest.fixture
def owner(make_staff):
    return make_staff("owner", msisdn="13700137009", display_name="老板")


def items():
    return db.session.scalars(sa.select(AgendaItem).order_by(AgendaItem.id)).all()


def test_rc_adds_an_item_for_the_texting_staff_member(phone, staff, now):
    # now: 12:00 on Friday 20 November 2026 in Shanghai
    assert phone.text("RC 明天15:00 王总来店", msisdn=STAFF) == ["已记入日程：11月21日 15:00 王总来店，提前30分钟短信提醒。"]
    (item,) = items()
    assert (item.title, item.starts_at, item.source) == ("王总来店", datetime(2026, 11, 21, 7, 0, tzinfo=UTC), "sms")
    assert item.staff == [staff] and item.created_by_id == staff.id and item.remind_minutes == 30


def test_a_resent_rc_text_adds_nothing_twice(phone, staff):
    inbound = phone.store("RC 明天15:00 王总来店", msisdn=STAFF)
    process_inbound_sms(now=phone.now)
    process_inbound_sms(now=phone.now)
    assert len(items()) == 1 and len(phone.replies_to(inbound)) == 1


@pytest.mark.parametrize("text, answer", [
    ("RC", "未执行：请写日期、时间和事项，例如：RC 明天15:00 王总来店"),
    ("RC 明天 王总来店", "未执行：请写日期、时间和事项，例如：RC 明天15:00 王总来店"),
    ("RC 明天15:00", "未执行：请在时间后写上事项，例如：RC 明天15:00 王总来店"),
    ("RC 明天25:00 王总来店", "未执行：没有 25:00 这个时间"),
    ("RC 2月30日10:00 王总来店", "未执行：没有2月30日这一天"),
    ("RC 今天9:00 王总来店", "未执行：11月20日09:00 已经过去"),
])
def test_bad_rc_texts_are_answered_with_why_in_chinese_and_save_nothing(phone, staff, text, answer):
    assert phone.text(text, msisdn=STAFF) == [answer]
    assert items() == []


def test_rc_from_a_phone_that_is_no_staff_is_an_ordinary_text(phone):
    replies = phone.text("RC 明天15:00 王总来店")
    assert items() == [] and len(replies) == 1 and "回复" in replies[0]      # the help reply


def test_1_confirms_the_reminder_and_no_escalation_follows(phone, staff, owner, merchant, now):
    start = now + timedelta(minutes=30)
    services.create_item(merchant, now=now, title="王总来店", starts_at=start, staff_ids=[staff.id],
                         escalate_minutes=15)
    db.session.commit()
    assert send_agenda_reminders(now=now) == 1
    later = now + timedelta(minutes=5)
    assert phone.text("1", msisdn=STAFF, now=later) == ["已确认：11月20日 12:30 王总来店"]
    assert send_agenda_reminders(now=now + timedelta(minutes=20)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).where(OutboundMessage.msisdn == OWNER)) == 0


def test_1_with_nothing_to_confirm_is_an_ordinary_text(phone, staff):
    replies = phone.text("1", msisdn=STAFF)
    assert len(replies) == 1 and "回复" in replies[0] and not replies[0].startswith("已确认")


def test_another_merchants_staff_cannot_confirm_or_add(phone, make_merchant, make_staff, merchant, now):
    other = make_merchant(name="别家")
    make_staff("clerk", merchant=other, msisdn="13700137001")
    ours = make_staff("clerk", msisdn="13700137002")
    services.create_item(merchant, now=now, title="王总来店", starts_at=now + timedelta(minutes=10),
                         staff_ids=[ours.id])
    db.session.commit()
    send_agenda_reminders(now=now)
    # the same phone number is staff at the other shop only: to this shop it is a consumer
    assert not phone.text("1", msisdn=STAFF)[0].startswith("已确认")
    assert not phone.text("RC 明天15:00 别家的事", msisdn=STAFF)[0].startswith("已记入")
    assert [item.title for item in items()] == ["王总来店"]
