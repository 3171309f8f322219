"""Staff commands by SMS: only from phones registered to the merchant's staff."""
import re

import pytest
import sqlalchemy as sa

from mcrm.auth.login_codes import LoginCode, verify_login_code
from mcrm.messaging.models import OutboundMessage
from mcrm.points.models import PointsEntry
from tests.mcrm.keywords_support import phone, sent_to_phones  # noqa: F401

STAFF_PHONE = "+8613700137000"
MEMBER = "+8613800138000"


def test_purchase_by_sms_awards_points_and_tells_staff_and_member(phone, make_staff, make_member, db):
    clerk = make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER, points=10, name="老王")
    sent = phone.exchange("XF 13800138000 88", msisdn=STAFF_PHONE)
    db.session.refresh(member)
    assert member.points_balance == 98 and float(member.total_spend) == 88
    entry = db.session.scalar(sa.select(PointsEntry).where(PointsEntry.kind == "earn"))
    assert entry.actor_staff_id == clerk.id and entry.actor.startswith("sms:")
    (to_staff, staff_text), (to_member, member_text) = sent
    assert to_staff == STAFF_PHONE and "88" in staff_text and "98" in staff_text
    assert to_member == MEMBER and "老王" in member_text and "98" in member_text


def test_purchase_for_a_non_member_is_refused_with_the_reason(phone, make_staff):
    make_staff("clerk", msisdn=STAFF_PHONE)
    assert "不是会员" in phone.text("XF 13800138000 88", msisdn=STAFF_PHONE)[0]


def test_a_bad_amount_changes_nothing_and_says_why(phone, make_staff, make_member, db):
    make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER)
    reply = phone.text("XF 13800138000 abc", msisdn=STAFF_PHONE)
    assert len(reply) == 1 and "未执行" in reply[0]
    db.session.refresh(member)
    assert member.points_balance == 0


def test_wrong_arguments_get_the_command_formats(phone, make_staff):
    make_staff("clerk", msisdn=STAFF_PHONE)
    assert "XF 手机号 金额" in phone.text("XF 13800138000", msisdn=STAFF_PHONE)[0]


def test_redeem_by_sms_takes_points_with_the_reason(phone, make_staff, make_member, db):
    make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER, points=600)
    sent = phone.exchange("DH 13800138000 500 换甜品", msisdn=STAFF_PHONE)
    db.session.refresh(member)
    assert member.points_balance == 100
    assert db.session.scalar(sa.select(PointsEntry.reason).where(PointsEntry.kind == "redeem")) == "换甜品"
    assert [to for to, _ in sent] == [STAFF_PHONE, MEMBER]


def test_redeem_is_refused_when_the_balance_is_short(phone, make_staff, make_member, db):
    make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER, points=100)
    sent = phone.exchange("DH 13800138000 500", msisdn=STAFF_PHONE)
    db.session.refresh(member)
    assert member.points_balance == 100
    assert len(sent) == 1 and "积分不足" in sent[0][1] and "100" in sent[0][1]


def test_dl_texts_a_working_one_time_login_code_that_the_outbox_shows_masked(app, phone, make_staff, db, now):
    staff = make_staff("manager", msisdn=STAFF_PHONE)
    assert phone.text("DL", msisdn=STAFF_PHONE) == ["您的后台登录验证码******，5分钟内有效，请勿告诉他人。"]
    [(to, text)] = sent_to_phones(app, now)
    code = re.search(r"验证码(\d{6})，", text).group(1)
    assert to == STAFF_PHONE and code not in db.session.scalar(sa.select(LoginCode.code_hash))  # stored hashed
    assert db.session.scalar(sa.select(OutboundMessage.secret_text)) is None  # forgotten once submitted
    verify_login_code(staff, code, now=now)


def test_staff_commands_from_any_other_phone_are_a_consumers_text(phone, make_staff, make_member, db):
    make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER)
    reply = phone.text("XF 13800138000 88", msisdn="+8613900139999")
    db.session.refresh(member)
    assert member.points_balance == 0
    assert "ZC" in reply[0]  # help, as for any unknown text


def test_staff_of_another_merchant_is_a_consumer_here(phone, make_merchant, make_staff, make_member, db):
    other = make_merchant()
    make_staff("owner", merchant=other, msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER)
    phone.text("XF 13800138000 88", msisdn=STAFF_PHONE)
    db.session.refresh(member)
    assert member.points_balance == 0


def test_an_inactive_staff_phone_is_a_consumer(phone, make_staff, make_member, db):
    staff = make_staff("clerk", msisdn=STAFF_PHONE)
    staff.is_active = False
    db.session.commit()
    member = make_member(msisdn=MEMBER)
    phone.text("XF 13800138000 88", msisdn=STAFF_PHONE)
    db.session.refresh(member)
    assert member.points_balance == 0


def test_staff_phone_texting_a_consumer_keyword_is_answered_as_a_consumer(phone, make_staff):
    make_staff("clerk", msisdn=STAFF_PHONE)
    assert "ZC" in phone.text("JF", msisdn=STAFF_PHONE)[0]


def test_a_purchase_text_processed_twice_records_once(phone, make_staff, make_member, db):
    from mcrm.keywords.engine import handle_inbound_sms
    make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER)
    inbound = phone.store("XF 13800138000 50", msisdn=STAFF_PHONE)
    handle_inbound_sms(inbound, now=phone.now)
    handle_inbound_sms(inbound, now=phone.now)
    db.session.commit()
    db.session.refresh(member)
    assert member.points_balance == 50


@pytest.mark.parametrize("locale,reason", [(None, "不是有效的手机号码"), ("zh", "不是有效的手机号码"),
                                           ("en", "Not a valid phone number")])
def test_an_invalid_member_number_is_refused_with_a_clear_reason_in_the_staffs_language(phone, make_staff, db,
                                                                                      locale, reason):
    staff = make_staff("clerk", msisdn=STAFF_PHONE)
    staff.locale = locale
    db.session.commit()
    reply = phone.text("XF 12345 88", msisdn=STAFF_PHONE)
    assert len(reply) == 1 and reply[0].startswith("未执行") and f"{reason}：'12345'" in reply[0].replace(": '", "：'")
