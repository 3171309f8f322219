"""A member's data on request: the copy, the erasure, consent records and message retention."""
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.agenda.services import create_item
from mcrm.audit.models import AuditEntry
from mcrm.feedback.models import FeedbackTicket, TicketEntry
from mcrm.feedback.services import add_note, open_ticket
from mcrm.jobs import tasks
from mcrm.members.models import ConsentRecord, Member
from mcrm.members.services import Consent, enrol_member, find_member_by_msisdn, opt_in, opt_out_number
from mcrm.messaging.models import InboundMessage, MessageStatus, OutboundMessage
from mcrm.messaging.services import enqueue_sms
from mcrm.points.services import Actor, adjust_points
from mcrm.privacy.services import erase_member, member_data
from mcrm.surveys import services as surveys
from mcrm.surveys.models import SurveyAnswer, SurveySession
from tests.conftest import csrf_token

NUMBER = "+8613800138000"


@pytest.fixture
def lived(db, merchant, make_staff, now):
    """A member with a bit of everything: points, messages both ways, a ticket, survey answers, an
    appointment, a login-code text whose secret must never come out."""
    member = enrol_member(merchant, msisdn=NUMBER, now=now - timedelta(days=400), name="王芳", birthday="19900315",
                          tags=["VIP"], custom_fields={"车牌": "沪A12345"}, consent=Consent("sms", "keyword ZC to 1069"))
    adjust_points(member, merchant, 50, reason="开业", actor=Actor("system"), now=now)
    enqueue_sms(merchant, msisdn=NUMBER, body="周末八折", kind="marketing", now=now, member=member)
    enqueue_sms(merchant, msisdn=NUMBER, body="您的验证码 ******", secret_body="您的验证码 428913",
                kind="transactional", now=now, member=member)
    db.session.add(InboundMessage(merchant_id=merchant.id, msisdn=NUMBER, destination_addr="106901",
                                  text="菜太咸了", payload="菜太咸了".encode("utf-16-be"), received_at=now,
                                  status="done"))
    staff = make_staff("owner")
    ticket = open_ticket(merchant, msisdn=NUMBER, kind="complaint", text="菜太咸了", now=now)
    add_note(ticket, body="已致电王芳", actor=staff, now=now)
    survey = surveys.create_survey(merchant, code="Q1", title="满意度", intro="3题", is_active=True)
    surveys.add_question(survey, kind="single", text="A好吃 B一般", options=["好吃", "一般"])
    surveys.add_question(survey, kind="text", text="建议？")
    session, _resumed = surveys.start_survey(merchant, msisdn=NUMBER, now=now, survey=survey)
    surveys.record_answer(session, "A", now=now)
    surveys.record_answer(session, "多放点辣", now=now)
    create_item(merchant, now=now, title="王芳生日宴", starts_at=now + timedelta(days=3), member_msisdns=[NUMBER],
                actor=staff)
    db.session.commit()
    return member


def test_the_copy_holds_every_feature_and_never_a_login_code(db, lived):
    data = member_data(lived)
    assert data["profile"]["name"] == "王芳" and data["profile"]["birthday"] and data["profile"]["tag_names"] == ["VIP"]
    assert [e["points"] for e in data["points"]] == [50]
    assert {m["body"] for m in data["messages_sent"]} == {"周末八折", "您的验证码 ******"}
    assert "428913" not in json.dumps(data, ensure_ascii=False)
    assert data["messages_received"][0]["text"] == "菜太咸了"
    assert [(c["event"], c["channel"]) for c in data["consents"]] == [("consent", "sms")]
    assert data["feedback"][0]["text"] == "菜太咸了" and data["feedback"][0]["thread"][0]["body"] == "已致电王芳"
    assert [a["answer"] for a in data["survey_answers"]] == ["A", "多放点辣"]
    assert data["appointments"][0]["title"] == "王芳生日宴"


@pytest.mark.parametrize("role", ["manager", "clerk"])
def test_only_owners_download_or_erase_a_members_data(client, login, lived, role):
    login(role)
    assert client.get(f"/members/{lived.id}/data.json").status_code == 403
    assert client.get(f"/members/{lived.id}/erase").status_code == 403


def test_the_owner_downloads_one_json_file_and_it_is_audited(client, login, lived, db):
    owner = login("owner")
    response = client.get(f"/members/{lived.id}/data.json")
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith(f"attachment; filename=member-{lived.member_no}-")
    assert json.loads(response.get_data(as_text=True))["profile"]["msisdn"] == NUMBER
    [entry] = db.session.scalars(sa.select(AuditEntry)).all()
    assert (entry.action, entry.staff_id, entry.target) == ("member.data_export", owner.id, f"member {lived.id}")


def test_another_merchants_member_is_a_404(client, login, make_merchant, make_member):
    login("owner")
    theirs = make_member(merchant=make_merchant())
    assert client.get(f"/members/{theirs.id}/data.json").status_code == 404
    assert client.get(f"/members/{theirs.id}/erase").status_code == 404


def test_erasure_removes_the_person_and_keeps_the_ledger(db, merchant, lived, now):
    member_id, balance = lived.id, lived.points_balance
    erase_member(lived, now=now)
    db.session.commit()
    db.session.expire_all()
    member = db.session.get(Member, member_id)
    assert (member.name, member.birthday, member.birthday_month, member.custom_fields, member.tag_names) == \
        ("", None, None, {}, [])
    assert member.msisdn == f"erased-{member_id}" and "13800138000" not in member.msisdn_rev[::-1]
    assert member.deleted_at is not None and member.opted_out
    assert member.points_balance == balance == 50 and len(member_data(member)["points"]) == 1
    sent = db.session.scalars(sa.select(OutboundMessage)).all()
    assert {(m.msisdn, m.body, m.text, m.secret_text) for m in sent} == {(member.msisdn, "", "", None)}
    assert {m.status for m in sent} == {MessageStatus.SUPPRESSED}   # nothing waiting goes out
    inbound = db.session.scalars(sa.select(InboundMessage)).one()
    assert (inbound.msisdn, inbound.text, inbound.payload) == (member.msisdn, "", b"")
    ticket = db.session.scalars(sa.select(FeedbackTicket)).one()
    assert (ticket.msisdn, ticket.text) == (member.msisdn, "")
    assert {e.body for e in db.session.scalars(sa.select(TicketEntry))} == {""}
    answers = db.session.scalars(sa.select(SurveyAnswer).order_by(SurveyAnswer.id)).all()
    assert [(a.text, a.value) for a in answers] == [("", "A"), ("", "")]   # the choice counts, free text goes
    assert db.session.scalars(sa.select(SurveySession)).one().msisdn == member.msisdn
    everything = json.dumps(member_data(member), ensure_ascii=False)
    assert "王芳" not in everything.replace("王芳生日宴", "") and "13800138000" not in everything


def test_the_number_joins_again_as_a_new_member(db, merchant, lived, now):
    erase_member(lived, now=now)
    db.session.commit()
    again = enrol_member(merchant, msisdn=NUMBER, now=now)
    db.session.commit()
    assert again.id != lived.id and again.points_balance == 0 and not again.opted_out
    assert find_member_by_msisdn(merchant, NUMBER).id == again.id


def test_the_erase_page_asks_for_the_numbers_last_digits(client, login, lived, db):
    owner = login("owner")
    url = f"/members/{lived.id}/erase"
    wrong = client.post(url, data={"confirm": "1234", "csrf_token": csrf_token(client, url)})
    assert wrong.status_code == 200 and "not the last four digits" in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, lived.id).name == "王芳"
    assert db.session.scalars(sa.select(AuditEntry)).all() == []
    done = client.post(url, data={"confirm": "8000", "csrf_token": csrf_token(client, url)})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, lived.id).name == ""
    [entry] = db.session.scalars(sa.select(AuditEntry)).all()
    assert (entry.action, entry.staff_id) == ("member.erase", owner.id)
    assert client.get(f"/members/{lived.id}").status_code == 404


# -- consent records ---------------------------------------------------------------------------------

def test_consents_opt_outs_and_opt_ins_are_kept_and_shown(client, login, db, merchant, lived, now):
    opt_out_number(merchant, NUMBER, now=now, channel="sms", detail="keyword TD to 1069")
    opt_in(lived, Consent("console", "staff laowang"), now=now + timedelta(minutes=1))
    db.session.commit()
    records = db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id)).all()
    assert [(r.event, r.channel, r.detail) for r in records] == [
        ("consent", "sms", "keyword ZC to 1069"), ("opt_out", "sms", "keyword TD to 1069"),
        ("opt_in", "console", "staff laowang")]
    login("clerk")
    page = client.get(f"/members/{lived.id}").get_data(as_text=True)
    history = page[page.index("data-consent-history"):]
    assert history.index("consented") < history.index("opted out") < history.index("opted in")
    assert [c["event"] for c in member_data(lived)["consents"]] == ["consent", "opt_out", "opt_in"]


def test_the_console_records_its_opt_out_and_an_import_its_consent(client, login, db, merchant):
    login("manager")
    token = csrf_token(client, "/members/new")
    client.post("/members/new", data={"msisdn": "13900139000", "name": "李雷", "csrf_token": token})
    member = find_member_by_msisdn(merchant, "+8613900139000")
    client.post(f"/members/{member.id}/opt-out", data={"csrf_token": csrf_token(client, f"/members/{member.id}")})
    records = db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.member_id == member.id)
                                 .order_by(ConsentRecord.id)).all()
    assert [(r.event, r.channel) for r in records] == [("consent", "console"), ("opt_out", "console")]


# -- retention -----------------------------------------------------------------------------------------

def test_the_nightly_job_blanks_bodies_older_than_the_merchants_setting(db, merchant, make_merchant, make_member,
                                                                        now):
    keeper = make_merchant()
    keeper.message_retention_days = 0
    member = make_member()
    old = enqueue_sms(merchant, msisdn=member.msisdn, body="旧消息", kind="transactional",
                      now=now - timedelta(days=181), member=member)
    old.status = MessageStatus.DELIVERED
    waiting = enqueue_sms(merchant, msisdn=member.msisdn, body="还在排队", kind="transactional",
                          now=now - timedelta(days=200), member=member)
    recent = enqueue_sms(merchant, msisdn=member.msisdn, body="新消息", kind="transactional",
                         now=now - timedelta(days=179), member=member)
    recent.status = MessageStatus.DELIVERED
    kept = enqueue_sms(keeper, msisdn=member.msisdn, body="永久保存", kind="transactional",
                       now=now - timedelta(days=1000))
    kept.status = MessageStatus.DELIVERED
    db.session.add(InboundMessage(merchant_id=merchant.id, msisdn=member.msisdn, destination_addr="1069",
                                  text="老短信", payload=b"x", received_at=now - timedelta(days=181), status="done"))
    db.session.commit()
    assert tasks.blank_old_message_bodies(now=now) == 2
    db.session.expire_all()
    assert [(m.body, m.text) for m in (old, waiting, recent, kept)][0] == ("", "")
    assert waiting.body == "还在排队" and recent.body == "新消息" and kept.body == "永久保存"
    assert db.session.scalars(sa.select(InboundMessage)).one().text == ""
    assert tasks.blank_old_message_bodies(now=now) == 0
