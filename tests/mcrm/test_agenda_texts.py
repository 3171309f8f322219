"""The agenda's SMS wordings per merchant (mcrm.agenda.texts): an edited text reaches the outbox,
an unknown {field} or an over-long text is refused and keeps the old one, the default follows the
merchant's language, and the console page (managers and owners, CSRF) edits them."""
from datetime import datetime, timedelta, UTC

import pytest
import sqlalchemy as sa

from mcrm.agenda import services, texts
from mcrm.agenda.models import AgendaText
from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.jobs.tasks import send_agenda_reminders
from mcrm.messaging.models import OutboundMessage
from tests.conftest import csrf_token

#: 15:00 on 21 November 2026 in Shanghai
AFTERNOON = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def bodies(msisdn: str) -> list[str]:
    return list(db.session.scalars(sa.select(OutboundMessage.body).where(OutboundMessage.msisdn == msisdn)
                                   .order_by(OutboundMessage.id)))


def remind_and_escalate(merchant, staff_ids, member_msisdns=()):
    services.create_item(merchant, now=AFTERNOON - timedelta(hours=2), title="王总来店", starts_at=AFTERNOON,
                         place="二楼包间", staff_ids=staff_ids, member_msisdns=member_msisdns,
                         remind_minutes=30, escalate_minutes=15)
    db.session.commit()
    send_agenda_reminders(now=AFTERNOON - timedelta(minutes=30))
    send_agenda_reminders(now=AFTERNOON - timedelta(minutes=15))


def test_edited_texts_reach_the_outbox(merchant, make_staff, make_member, now):
    waiter = make_staff("clerk", msisdn="13700137001", display_name="小李")
    owner = make_staff("owner", msisdn="13700137009")
    make_member(name="王总", msisdn="13800138000")
    texts.set_text(merchant, texts.STAFF_REMINDER, "{shop}日程：{title} {when}{place}，回1", now=now)
    texts.set_text(merchant, texts.MEMBER_REMINDER, "{name}，{when}见：{title}", now=now)
    texts.set_text(merchant, texts.ESCALATION, "请跟进：{staff}没回 {title}", now=now)
    db.session.commit()
    remind_and_escalate(merchant, [waiter.id], ["13800138000"])
    shop = merchant.name
    assert bodies(waiter.msisdn) == [f"{shop}日程：王总来店 11月21日 15:00，地点：二楼包间，回1"]
    assert bodies("+8613800138000") == ["王总，11月21日 15:00见：王总来店"]
    assert bodies(owner.msisdn) == ["请跟进：小李没回 王总来店"]


def test_without_texts_of_its_own_a_merchant_gets_the_default_of_its_language(merchant, make_staff, now):
    waiter = make_staff("clerk", msisdn="13700137001")
    merchant.locale = "en"
    db.session.commit()
    remind_and_escalate(merchant, [waiter.id])
    assert bodies(waiter.msisdn) == ["Reminder: 21 Nov 15:00 王总来店, at 二楼包间. Reply 1 to confirm."]


@pytest.mark.parametrize("body, error", [
    ("{title} {price}", "Unknown placeholder {price}"),
    ("{name}您好 {title}", "Unknown placeholder {name}"),       # a staff reminder has no member
    ("{title", "Unbalanced brace"),
    ("提醒" * 200, "SMS long"),
])
def test_a_text_with_an_unknown_field_or_too_long_is_refused_and_the_old_one_kept(merchant, now, body, error):
    texts.set_text(merchant, texts.STAFF_REMINDER, "日程：{title}", now=now)
    db.session.commit()
    with pytest.raises(ValidationError, match=error):
        texts.set_text(merchant, texts.STAFF_REMINDER, body, now=now)
    db.session.rollback()
    assert texts.text_of(merchant, texts.STAFF_REMINDER) == "日程：{title}"


def test_an_empty_text_puts_the_default_back(merchant, now):
    texts.set_text(merchant, texts.ESCALATION, "{staff}没回", now=now)
    texts.set_text(merchant, texts.ESCALATION, "  ", now=now)
    assert texts.text_of(merchant, texts.ESCALATION) == texts.DEFAULTS["zh"][texts.ESCALATION]
    assert db.session.scalar(sa.select(sa.func.count(AgendaText.id))) == 0


def test_texts_stay_within_their_merchant(merchant, make_merchant, now):
    other = make_merchant()
    texts.set_text(merchant, texts.STAFF_REMINDER, "本店：{title}", now=now)
    assert texts.text_of(other, texts.STAFF_REMINDER) == texts.DEFAULTS["zh"][texts.STAFF_REMINDER]


# -- the console page ---------------------------------------------------------------------------

def post(client, **data):
    return client.post("/agenda/texts", data={"csrf_token": csrf_token(client, "/agenda/texts"), **data})


@pytest.mark.parametrize("role", ["manager", "owner"])
def test_managers_and_owners_edit_a_text_on_the_page(client, login, merchant, role):
    login(role)
    page = client.get("/agenda/texts").get_data(as_text=True)
    assert "日程提醒：{when} {title}{place}。回1确认。" in page and "data-sms-counter" in page
    response = post(client, name="staff_reminder", body="提醒：{title} {when}", action="save")
    assert response.status_code == 302 and response.headers["Location"].endswith("/agenda/texts#staff_reminder")
    assert texts.text_of(merchant, texts.STAFF_REMINDER) == "提醒：{title} {when}"


def test_the_page_refuses_an_unknown_field_keeps_what_was_typed_and_saves_nothing(client, login, merchant):
    login("owner")
    response = post(client, name="member_reminder", body="{name} {coupon}", action="save")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Unknown placeholder {coupon}" in page and "{name} {coupon}" in page
    assert db.session.scalar(sa.select(sa.func.count(AgendaText.id))) == 0


def test_preview_fills_the_text_in_without_saving(client, login, merchant):
    login("manager")
    page = post(client, name="escalation", body="{staff}没回：{title}", action="preview").get_data(as_text=True)
    assert f"{merchant.signature}小李没回：王总来店" in page
    assert db.session.scalar(sa.select(sa.func.count(AgendaText.id))) == 0


def test_clerks_cannot_open_the_page(client, login):
    login("clerk")
    assert client.get("/agenda/texts").status_code == 403
    assert client.post("/agenda/texts", data={"name": "escalation", "body": "x", "action": "save"}).status_code in (400, 403)


def test_saving_needs_the_csrf_token(client, login):
    login("owner")
    response = client.post("/agenda/texts", data={"name": "escalation", "body": "x", "action": "save"})
    assert response.status_code == 400 and db.session.scalar(sa.select(sa.func.count(AgendaText.id))) == 0
