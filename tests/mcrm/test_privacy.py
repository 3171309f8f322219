"""A member's data on request: the copy, the erasure, consent records and message retention."""
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.agenda.services import create_item
from mcrm.api.models import ApiRequest
from mcrm.audit.models import AuditEntry
from mcrm.feedback.models import FeedbackTicket, TicketEntry
from mcrm.feedback.services import add_note, open_ticket
from mcrm.jobs import tasks
from mcrm.keywords import services as keywords
from mcrm.keywords.models import CouponCode, EventSignup, KeywordUse, PollVote
from mcrm.members.csv_io import DISCARDED_BY_ERASURE
from mcrm.members.models import ConsentRecord, ImportStatus, Member, MemberImport, MemberImportError
from mcrm.members.services import (Consent, enrol_member, find_member_by_msisdn, on_opt_out_list, opt_in,
                                   opt_out_number)
from mcrm.messaging.models import InboundMessage, InboundPart, MessageStatus, OutboundMessage
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


def test_erasure_removes_the_person_and_keeps_the_ledger(db, merchant, lived, settings, now):
    member_id, balance = lived.id, lived.points_balance
    erase_member(lived, now=now, access_number=settings.access_number, region=settings.default_region)
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


def test_the_number_joins_again_as_a_new_member(db, merchant, lived, settings, now):
    erase_member(lived, now=now, access_number=settings.access_number, region=settings.default_region)
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


#: every column whose name says it holds a phone number, and what a member's erasure does to it; a
#: new such column fails ``test_every_column_that_may_hold_a_number_is_accounted_for`` until it is
#: added here, and erased (or said why not)
NUMBER_COLUMNS = {
    "members.msisdn": "the placeholder erased-<id>",
    "members.msisdn_rev": "the placeholder, reversed",
    "opt_outs.msisdn": "kept when the member had opted out: opt-out wins over erasure",
    "outbound_messages.msisdn": "the placeholder",
    "outbound_messages.source_addr": "a service number, not the member's",
    "inbound_messages.msisdn": "the placeholder",
    "inbound_messages.destination_addr": "a service number",
    "inbound_parts.source_addr": "the row is deleted",
    "inbound_parts.destination_addr": "a service number (the row is deleted)",
    "feedback_tickets.msisdn": "the placeholder",
    "survey_sessions.msisdn": "the placeholder",
    "keyword_uses.msisdn": "the placeholder",
    "poll_votes.msisdn": "the placeholder",
    "coupon_codes.msisdn": "the placeholder",
    "event_signups.msisdn": "the placeholder (a waiting place is deleted)",
    "staff.msisdn": "a staff member's trusted phone, not a member's",
    "login_codes.msisdn": "a staff member's trusted phone",
}
PHONE_LIKE = re.compile(r"msisdn|phone|mobile|_addr$")


def test_every_column_that_may_hold_a_number_is_accounted_for(db):
    found = {f"{table.name}.{column.name}" for table in db.metadata.sorted_tables for column in table.columns
             if PHONE_LIKE.search(column.name)}
    assert found == set(NUMBER_COLUMNS)


@pytest.fixture
def everywhere(db, merchant, lived, settings, now):
    """``lived``, opted out, with the number in every keyword app's records, a long text half
    arrived and one whole, and an API answer that quotes it."""
    opt_out_number(merchant, NUMBER, now=now, channel="sms", detail="TD")
    apps = {kind: keywords.create_keyword_app(merchant, kind=kind, name=kind) for kind in ("vote", "event", "coupon")}
    db.session.add_all([
        KeywordUse(app_id=apps["vote"].id, msisdn=NUMBER, created_at=now),
        PollVote(app_id=apps["vote"].id, msisdn=NUMBER, option="1", created_at=now),
        EventSignup(app_id=apps["event"].id, msisdn=NUMBER, member_id=lived.id, seats=2, status="confirmed",
                    created_at=now),
        CouponCode(merchant_id=merchant.id, app_id=apps["coupon"].id, code="A1B2", msisdn=NUMBER,
                   member_id=lived.id, issued_at=now),
        ApiRequest(merchant_id=merchant.id, key="till-1", fingerprint="f" * 64, status=201, created_at=now,
                   body={"member_no": lived.member_no, "msisdn": NUMBER, "points_balance": 50})])
    service = settings.access_number + merchant.sub_code
    for reference, parts, done in ((7, (1, 2), now), (8, (1,), None)):
        for index in parts:
            db.session.add(InboundPart(source_addr=NUMBER[1:], destination_addr=service, reference=reference,
                                       total=2, index=index, data_coding=8, payload="我的车牌".encode("utf-16-be"),
                                       received_at=now, completed_at=done))
    # a failed import line with the number written as people write it, another's line, a file
    # waiting for its column mapping and an import that is done (its file already dropped)
    failed, waiting, done = (MemberImport(merchant_id=merchant.id, encoding="utf-8", status=status, data=data,
                                          created_at=now, updated_at=now)
                             for status, data in ((ImportStatus.DONE, None),
                                                  (ImportStatus.MAPPING, b"mobile,name\n13800138000,Li\n"),
                                                  (ImportStatus.DONE, None)))
    db.session.add_all([failed, waiting, done])
    db.session.flush()
    db.session.add_all([MemberImportError(import_id=failed.id, line=2, reason="bad birthday",
                                          cells=["+86 138-0013-8000", "李雷", "19901350"]),
                        MemberImportError(import_id=failed.id, line=3, reason="bad birthday",
                                          cells=["13900139000", "韩梅梅", "19901350"])])
    # another merchant's half-arrived text from the same number is that merchant's, and stays
    db.session.add(InboundPart(source_addr=NUMBER[1:], destination_addr=settings.access_number + "99",
                               reference=9, total=2, index=1, data_coding=8, payload=b"", received_at=now))
    db.session.commit()
    return lived


def _all_cells(db) -> list[tuple[str, str]]:
    """(table, cell as text) of every cell of every table."""
    cells = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            cells += [(table.name, value.decode("utf-16-be", "replace") if isinstance(value, bytes) else str(value))
                      for value in row]
    db.session.rollback()
    return cells


def test_erasure_leaves_the_number_only_on_the_opt_out_list(db, merchant, everywhere, settings, now):
    assert {table for table, cell in _all_cells(db) if "13800138000" in cell} >= {
        "keyword_uses", "poll_votes", "event_signups", "coupon_codes", "api_requests", "members"}
    erase_member(everywhere, now=now, access_number=settings.access_number, region=settings.default_region)
    db.session.commit()
    holding = sorted((table, cell) for table, cell in _all_cells(db) if "13800138000" in cell)
    # the other merchant's part stays, with the number as the SMSC sent it
    assert holding == [("inbound_parts", NUMBER[1:]), ("opt_outs", NUMBER)]
    placeholder = f"erased-{everywhere.id}"
    signup = db.session.scalars(sa.select(EventSignup)).one()
    assert (signup.msisdn, signup.seats, signup.reminded_at is not None) == (placeholder, 2, True)
    assert db.session.scalars(sa.select(ApiRequest)).one().body == {
        "member_no": everywhere.member_no, "msisdn": placeholder, "points_balance": 50}
    lines = db.session.execute(sa.select(MemberImportError.line, MemberImportError.reason, MemberImportError.cells)
                               .order_by(MemberImportError.line)).all()
    assert [tuple(line) for line in lines] == [(2, "bad birthday", []),
                                               (3, "bad birthday", ["13900139000", "韩梅梅", "19901350"])]
    imports = db.session.execute(sa.select(MemberImport.status, MemberImport.data, MemberImport.message)
                                 .order_by(MemberImport.id)).all()
    assert [tuple(row) for row in imports] == [(ImportStatus.DONE, None, ""),
                                               (ImportStatus.FAILED, None, DISCARDED_BY_ERASURE),
                                               (ImportStatus.DONE, None, "")]


def test_an_erased_number_that_had_opted_out_gets_no_marketing(db, merchant, lived, settings, now):
    opt_out_number(merchant, NUMBER, now=now, channel="sms", detail="TD")
    erase_member(lived, now=now, access_number=settings.access_number, region=settings.default_region)
    db.session.commit()
    assert on_opt_out_list(merchant, NUMBER)
    # a stranger's marketing is suppressed, and joining again starts opted out
    message = enqueue_sms(merchant, msisdn=NUMBER, body="周末八折", kind="marketing", now=now)
    assert message.status == MessageStatus.SUPPRESSED
    again = enrol_member(merchant, msisdn=NUMBER, now=now)
    assert again.opted_out
