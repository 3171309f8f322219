"""docs/keywords.md, row by row: texts through the real inbox, keyword engine and outbox."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from mcrm.feedback.models import FeedbackTicket
from mcrm.members.services import find_member_by_msisdn
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import InboundMessage, InboundStatus, MessageKind, MessageStatus, OutboundMessage
from mcrm.messaging.services import enqueue_sms
from mcrm.surveys.models import SurveyAnswer
from mcrm.surveys.services import create_survey
from tests.mcrm.keywords_support import CONSUMER, phone  # noqa: F401


def member_of(merchant, msisdn=CONSUMER):
    return find_member_by_msisdn(merchant, msisdn)


# -- numbers and routing --------------------------------------------------------------------------

def test_mo_to_no_merchant_is_stored_unrouted_and_gets_no_answer(phone, db):
    inbound = phone.store("JF", destination="1065799999")
    assert inbound.status == InboundStatus.UNROUTED
    assert phone.exchange("JF", destination="1065799999") == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 0


def test_longest_service_number_prefix_picks_the_merchant(phone, db):
    # sub-codes that begin with one another are refused now; older data may still hold them
    longer = Merchant(name="长号商户", sub_code="012", signature="【长号店】")
    db.session.add(longer)
    db.session.commit()
    phone.text("ZC 张三", merchant=longer)  # to 1065712345012: both 01 and 012 are prefixes
    assert member_of(longer) is not None
    assert member_of(phone.merchant) is None
    phone.text("ZC 李四", msisdn="+8613900139001", extension="5")  # 10657123450 15: 01 + extension 5
    assert member_of(phone.merchant, "+8613900139001") is not None


def test_sender_number_in_any_form_is_the_same_member(phone, merchant, make_member):
    make_member(msisdn="13800138000", name="老王", points=50)
    replies = phone.text("JF", msisdn="8613800138000")
    assert "50" in replies[0] and "老王" in replies[0]


# -- reading an inbound text ----------------------------------------------------------------------

@pytest.mark.parametrize("text", ["JF", "jf", "Jf", "ＪＦ", "  JF  ", "JF。", "JF!", "#JF#", "【JF】", "积分", "POINTS"])
def test_points_keyword_is_read_whatever_the_case_width_spacing_or_punctuation(phone, make_member, text):
    make_member(msisdn=CONSUMER, points=120)
    replies = phone.text(text)
    assert len(replies) == 1 and "120" in replies[0]


@pytest.mark.parametrize("text", ["ZC 张三 19900315", "ZC,张三,19900315", "ZC，张三，19900315", "ZC#张三#19900315",
                                  "ZC+张三+19900315", "ZC:张三:19900315", "ZC：张三：19900315", "ＺＣ　张三　１９９０0315",
                                  "zc 张三 19900315。", "注册张三 19900315"])
def test_every_separator_splits_words(phone, merchant, text):
    phone.text(text)
    member = member_of(merchant)
    assert member.name == "张三"
    assert member.birthday == date(1990, 3, 15)


# -- join -----------------------------------------------------------------------------------------

def test_join_enrols_with_name_birthday_consent_and_gift(phone, merchant, settings, now):
    replies = phone.text("ZC 张三 19900315")
    member = member_of(merchant)
    assert member.name == "张三" and member.birthday == date(1990, 3, 15)
    assert member.source == "sms"
    assert member.consent_at == now and member.consent_channel == "sms"
    assert "ZC" in member.consent_detail and settings.access_number + merchant.sub_code in member.consent_detail
    assert member.points_balance == merchant.join_gift_points == 100
    assert len(replies) == 1
    assert member.member_no in replies[0] and "100" in replies[0] and "张三" in replies[0]


@pytest.mark.parametrize("text,expected", [
    ("注册 李四 1990-03-15", {"birthday": date(1990, 3, 15), "birthday_year_known": True}),
    ("JOIN Tom Lee 0315", {"name": "Tom Lee", "birthday_month": 3, "birthday_year_known": False}),
    ("ZC 王五 农历0815", {"birthday_is_lunar": True, "birthday_lunar_month": 8, "birthday_lunar_day": 15}),
    ("ZC 王五 NL0815", {"birthday_is_lunar": True, "birthday_lunar_month": 8, "birthday_lunar_day": 15}),
    ("ZC", {"name": ""}),
])
def test_join_reads_every_birthday_form(phone, merchant, text, expected):
    phone.text(text)
    member = member_of(merchant)
    for field, value in expected.items():
        assert getattr(member, field) == value


def test_join_with_an_impossible_birthday_explains_the_format_and_enrols_nobody(phone, merchant):
    replies = phone.text("ZC 张三 19901345")
    assert member_of(merchant) is None
    assert "19900315" in replies[0]


def test_join_again_updates_given_fields_and_replies_status(phone, merchant, make_member):
    make_member(msisdn=CONSUMER, name="旧名", points=300)
    replies = phone.text("ZC 新名")
    member = member_of(merchant)
    assert member.name == "新名" and member.points_balance == 300  # no second gift
    assert "已是会员" in replies[0] and "300" in replies[0]


def test_join_after_opting_out_opts_back_in(phone, merchant):
    phone.text("ZC 张三")
    phone.text("TD")
    assert member_of(merchant).opted_out
    replies = phone.text("ZC")
    assert not member_of(merchant).opted_out
    assert "重新订阅" in replies[0]


def test_leaving_and_joining_again_never_pays_the_gift_twice(phone, merchant, db, now):
    from mcrm.members.services import delete_member
    phone.text("ZC 张三")
    delete_member(member_of(merchant), now=now)
    db.session.commit()
    phone.text("ZC 张三")
    assert member_of(merchant).points_balance == 100


# -- points ---------------------------------------------------------------------------------------

def test_points_replies_balance_tier_and_points_expiring_soon(phone, make_member, db, merchant, now):
    from mcrm.points.models import PointsEntry
    member = make_member(msisdn=CONSUMER, name="小李", points=80)
    db.session.execute(sa.update(PointsEntry).where(PointsEntry.member_id == member.id)
                       .values(expires_at=now + timedelta(days=10)))
    db.session.commit()
    reply = phone.text("JF")[0]
    assert "80" in reply and "贵宾卡" in reply and "将到期80" in reply


def test_points_from_a_non_member_invites_to_join(phone):
    reply = phone.text("JF")[0]
    assert "ZC" in reply and "注册" in reply


# -- stop and start -------------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["TD", "T", "退订", "STOP", "N", "QX", "取消", "t", "ｓｔｏｐ", "退订。"])
def test_every_stop_word_opts_the_member_out(phone, merchant, make_member, word, now):
    make_member(msisdn=CONSUMER)
    replies = phone.text(word)
    assert member_of(merchant).opted_out and member_of(merchant).opted_out_at == now
    assert len(replies) == 1 and "退订" in replies[0]


def test_stop_confirms_once_and_then_marketing_is_suppressed(phone, merchant, make_member, db, now):
    make_member(msisdn=CONSUMER)
    assert len(phone.text("TD")) == 1
    assert phone.text("TD") == []  # one confirmation
    message = enqueue_sms(merchant, msisdn=CONSUMER, body="周末八折", kind="marketing", now=now)
    assert message.status == MessageStatus.SUPPRESSED


def test_replies_still_reach_an_opted_out_member(phone, make_member):
    make_member(msisdn=CONSUMER, points=10)
    phone.text("TD")
    assert "10" in phone.text("JF")[0]


@pytest.mark.parametrize("word", ["DY", "订阅", "START"])
def test_start_opts_back_in_with_fresh_consent(phone, merchant, make_member, word, now):
    make_member(msisdn=CONSUMER)
    phone.text("TD")
    replies = phone.text(word)
    member = member_of(merchant)
    assert not member.opted_out and member.consent_channel == "sms" and word in member.consent_detail
    assert "订阅" in replies[0]


def test_stop_from_a_number_that_is_no_member_is_kept_and_suppresses_marketing(phone, merchant, db, now):
    assert len(phone.text("TD")) == 1
    assert phone.text("退订") == []  # one confirmation, as for a member
    message = enqueue_sms(merchant, msisdn=CONSUMER, body="周末八折", kind="marketing", now=now)
    assert message.status == MessageStatus.SUPPRESSED and message.suppressed_reason == "opted out"


def test_a_number_that_said_stop_and_is_enrolled_later_in_the_console_stays_opted_out(phone, merchant, db, now):
    from mcrm.members.services import enrol_member
    phone.text("TD", now=now - timedelta(days=3))
    member = enrol_member(merchant, msisdn=CONSUMER, now=now, name="张三")
    db.session.commit()
    assert member.opted_out and member.opted_out_at == now - timedelta(days=3)
    message = enqueue_sms(merchant, msisdn=CONSUMER, body="周末八折", kind="marketing", now=now)
    assert message.status == MessageStatus.SUPPRESSED


def test_a_number_that_said_stop_opts_back_in_by_joining(phone, merchant, now):
    phone.text("TD")
    replies = phone.text("ZC 张三")
    member = member_of(merchant)
    assert not member.opted_out and member.consent_channel == "sms" and "ZC" in member.consent_detail
    assert "欢迎" in replies[0]
    assert enqueue_sms(merchant, msisdn=CONSUMER, body="周末八折", kind="marketing",
                       now=now).status == MessageStatus.QUEUED


def test_start_from_a_number_that_said_stop_but_never_joined_opts_it_back_in(phone, merchant, now):
    phone.text("TD")
    assert "订阅" in phone.text("DY")[0]
    assert enqueue_sms(merchant, msisdn=CONSUMER, body="周末八折", kind="marketing",
                       now=now).status == MessageStatus.QUEUED
    assert "ZC" in phone.text("DY")[0]  # nothing to undo any more: invited to join


def test_a_deleted_member_who_had_said_stop_gets_no_marketing_and_comes_back_opted_out(phone, merchant, make_member,
                                                                                      db, now):
    from mcrm.members.services import delete_member, enrol_member
    make_member(msisdn=CONSUMER)
    phone.text("TD")
    delete_member(member_of(merchant), now=now)
    db.session.commit()
    assert enqueue_sms(merchant, msisdn=CONSUMER, body="周末八折", kind="marketing",
                       now=now).status == MessageStatus.SUPPRESSED
    assert enrol_member(merchant, msisdn=CONSUMER, now=now).opted_out


def test_a_stop_to_one_merchant_leaves_the_other_merchants_marketing_alone(phone, make_merchant, now):
    other = make_merchant(sub_code="02", name="老李火锅", signature="老李火锅")
    phone.text("TD")
    assert enqueue_sms(other, msisdn=CONSUMER, body="周末八折", kind="marketing",
                       now=now).status == MessageStatus.QUEUED


# -- help -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["BZ", "帮助", "HELP", "?", "？", "help"])
def test_help_lists_the_merchants_keywords(phone, word):
    reply = phone.text(word)[0]
    for keyword in ("ZC", "JF", "TD", "YJ", "TS", "BY"):
        assert keyword in reply


@pytest.mark.parametrize("signature", ["小王烧烤", "上海黄浦小王烧烤烤肉总店"])
def test_the_default_help_reply_fits_one_sms_with_the_signature(phone, merchant, db, signature):
    """It listed the built-ins as 'ZC 注册会员 / JF 查积分 / ...': 2 SMS on every help answer."""
    from mcrm.messaging.store import count_parts
    merchant.signature = f"【{signature}】"
    db.session.commit()
    [reply] = phone.text("BZ")
    assert reply == "回复ZC注册，JF积分，TD退订，DY订阅，YJ建议，TS投诉，BY表扬"
    assert count_parts(merchant.signature + reply).parts == 1


def test_help_uses_the_merchants_own_keywords(phone, merchant, db):
    from mcrm.keywords.services import set_builtin_keywords
    set_builtin_keywords(merchant, "points", ["CX积分", "JF"])
    db.session.commit()
    assert "CX积分" in phone.text("BZ")[0]


# -- feedback -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,kind", [("YJ 菜太咸", "suggestion"), ("意见 菜太咸", "suggestion"),
                                       ("JY 菜太咸", "suggestion"), ("建议菜太咸", "suggestion"),
                                       ("TS 菜太咸", "complaint"), ("投诉：菜太咸", "complaint"),
                                       ("BY 菜太咸", "praise"), ("表扬 菜太咸", "praise")])
def test_feedback_opens_a_ticket_of_its_kind_and_replies_its_number(phone, merchant, db, text, kind):
    replies = phone.text(text)
    ticket = db.session.scalar(sa.select(FeedbackTicket))
    assert ticket.kind == kind and ticket.text == "菜太咸" and ticket.merchant_id == merchant.id
    assert ticket.msisdn == CONSUMER and ticket.status == "new" and ticket.inbound_message_id is not None
    assert ticket.number in replies[0]


def test_feedback_without_text_asks_for_it(phone, db):
    reply = phone.text("YJ")[0]
    assert "YJ" in reply
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeedbackTicket)) == 0


# -- survey ---------------------------------------------------------------------------------------

@pytest.fixture
def survey(merchant, db):
    made = create_survey(merchant, code="A1", title="满意度", intro="您对今天的菜品满意吗？回复1-5分", is_active=True)
    db.session.commit()
    return made


def test_survey_keyword_starts_the_active_survey_and_the_next_text_is_the_answer(phone, survey, db):
    assert phone.text("DC") == [survey.intro]
    replies = phone.text("5")
    assert db.session.scalar(sa.select(SurveyAnswer.text)) == "5"
    assert "感谢" in replies[0]


def test_survey_code_picks_that_survey(phone, survey, merchant, db):
    other = create_survey(merchant, code="B2", title="环境", intro="环境打几分？", is_active=True)
    db.session.commit()
    assert phone.text("调查 A1") == [survey.intro]
    assert phone.text("DC b2") == [other.intro]


def test_survey_keyword_without_an_active_survey_says_so(phone):
    assert "没有进行中的调查" in phone.text("DC")[0]


def test_stop_wins_even_inside_a_survey(phone, survey, merchant, make_member, db):
    make_member(msisdn=CONSUMER)
    phone.text("DC")
    phone.text("N")
    assert member_of(merchant).opted_out
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyAnswer)) == 0


def test_a_survey_times_out_after_24_hours(phone, survey, db, now):
    phone.text("DC")
    replies = phone.text("很好", now=now + timedelta(hours=25))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyAnswer)) == 0
    assert "ZC" in replies[0]  # help, as for any unknown text


def test_extension_9_routes_straight_to_the_survey(phone, survey, db):
    assert phone.text("你好", extension="9") == [survey.intro]
    phone.text("4分", extension="9")
    assert db.session.scalar(sa.select(SurveyAnswer.text)) == "4分"


# -- unknown, empty, binary, over-long, garbled ---------------------------------------------------

def test_unknown_text_gets_help_by_default(phone):
    assert "ZC" in phone.text("你们几点关门")[0]


def test_unknown_text_becomes_feedback_when_the_merchant_chooses(phone, merchant, db):
    from mcrm.keywords.services import set_unknown_action
    set_unknown_action(merchant, "feedback")
    db.session.commit()
    reply = phone.text("你们几点关门")[0]
    ticket = db.session.scalar(sa.select(FeedbackTicket))
    assert ticket.text == "你们几点关门" and ticket.number in reply


def test_unknown_text_gets_nothing_when_the_merchant_chooses(phone, merchant, db):
    from mcrm.keywords.services import set_unknown_action
    set_unknown_action(merchant, "nothing")
    db.session.commit()
    assert phone.text("你们几点关门") == []


def test_an_auto_responder_gets_three_answers_an_hour_then_silence(phone, db, now):
    """Each of our help texts makes the other side answer with a text we do not understand."""
    answered = [phone.text("您好，我现在不方便接听", now=now + timedelta(minutes=minute)) for minute in range(6)]
    assert [len(replies) for replies in answered] == [1, 1, 1, 0, 0, 0]
    stored = db.session.scalars(sa.select(InboundMessage.status)).all()
    assert stored == [InboundStatus.DONE] * 6  # kept, only not answered
    assert len(phone.text("JF", now=now + timedelta(minutes=7))) == 1  # a keyword is still answered
    assert len(phone.text("?? 在吗", now=now + timedelta(minutes=8))) == 0
    # an hour after the first answer, one more is due
    assert len(phone.text("在吗", now=now + timedelta(minutes=60, seconds=1))) == 1
    assert len(phone.text("在吗", now=now + timedelta(minutes=60, seconds=2))) == 0
    assert len(phone.text("在吗", msisdn="+8613900139009", now=now + timedelta(minutes=9))) == 1  # per number


def test_empty_texts_count_against_the_same_answers_per_hour(phone, merchant, db, now):
    from mcrm.keywords.services import set_unknown_action
    set_unknown_action(merchant, "help", per_hour=1)
    db.session.commit()
    assert len(phone.text("")) == 1
    assert phone.text("你们几点关门") == []


def test_unknown_texts_kept_as_feedback_join_the_open_ticket_unanswered(phone, merchant, db, now):
    from mcrm.feedback.models import TicketEntry
    from mcrm.keywords.services import set_unknown_action
    set_unknown_action(merchant, "feedback", per_hour=2)
    db.session.commit()
    replies = [phone.text(f"第{n}条意见", now=now + timedelta(minutes=n)) for n in range(3)]
    assert [len(r) for r in replies] == [1, 0, 0]
    tickets = db.session.scalars(sa.select(FeedbackTicket.text).order_by(FeedbackTicket.id)).all()
    assert tickets == ["第0条意见"]
    assert db.session.scalars(sa.select(TicketEntry.body).order_by(TicketEntry.id)).all() == ["第1条意见", "第2条意见"]


@pytest.mark.parametrize("per_hour", ["0", "61", "abc", "", "2.5"])
def test_answers_per_hour_outside_1_to_60_are_refused(merchant, db, per_hour):
    from mcrm.core.errors import ValidationError
    from mcrm.keywords import texts
    from mcrm.keywords.services import set_unknown_action
    with pytest.raises(ValidationError, match="from 1 to 60"):
        set_unknown_action(merchant, "nothing", per_hour=per_hour)
    assert texts.unknown_action(merchant) == "help" and texts.unknown_per_hour(merchant) == 3


@pytest.mark.parametrize("text,data_coding,answered", [
    ("", 0, True), ("   ", 0, True), ("。。。", 8, True), ("长" * 2000, 8, True),
    ("\x01\x02\x03", 0, False), ("\ufffd\ufffd\ufffd", 8, False), ("JF", 4, False),
    ("\x00\x01\x02\x03", 0, False), ("\udfff\ud800", 8, False),
])
def test_odd_texts_are_stored_and_answered_with_help_or_nothing(phone, db, text, data_coding, answered):
    inbound = phone.store(text, data_coding=data_coding)
    from mcrm.jobs.tasks import process_inbound_sms
    process_inbound_sms(now=phone.now)
    db.session.refresh(inbound)
    assert inbound.status == InboundStatus.DONE
    replies = phone.replies_to(inbound)
    assert bool(replies) == answered
    if answered:
        assert "ZC" in replies[0][1]


def test_mo_text_no_database_can_hold_is_stored_with_replacement_characters_and_answered(phone, db, make_member):
    from mcrm.jobs.tasks import process_inbound_sms
    from mcrm.messaging.services import store_inbound
    make_member(msisdn=CONSUMER, points=120)
    raw = "JF\x00 \ud800 \ud83d\ude00".encode("utf-16-be", "surrogatepass")
    inbound = store_inbound(source_addr=CONSUMER, destination_addr=phone.access_number + phone.merchant.sub_code,
                            text="JF\x00 \ud800 \ud83d\ude00", data_coding=8, received_at=phone.now, payload=raw,
                            access_number=phone.access_number)
    db.session.commit()
    db.session.expire_all()
    # NUL and the lone surrogate become U+FFFD; the pair is the emoji it encodes; the bytes stay as sent
    assert (inbound.text, inbound.payload) == ("JF\ufffd \ufffd \U0001f600", raw)
    process_inbound_sms(now=phone.now)
    db.session.refresh(inbound)
    assert inbound.status == InboundStatus.DONE
    assert "120" in phone.replies_to(inbound)[0][1]


# -- sending --------------------------------------------------------------------------------------

def test_replies_are_transactional_with_signature_and_no_unsubscribe_hint(phone, db, merchant):
    phone.text("JF")
    message = db.session.scalar(sa.select(OutboundMessage))
    assert message.kind == MessageKind.TRANSACTIONAL
    assert message.text.startswith(merchant.signature)
    assert not message.text.endswith(merchant.unsubscribe_hint)


def test_replies_go_out_at_night_too(phone, make_member, now):
    make_member(msisdn=CONSUMER)
    night = now.replace(hour=17)  # 01:00 in Shanghai
    assert phone.text("JF", now=night)


# -- processing exactly once ----------------------------------------------------------------------

def test_each_mo_is_answered_once_even_when_processed_again(phone, db):
    from mcrm.jobs.tasks import process_inbound_sms
    inbound = phone.store("ZC 张三")
    assert process_inbound_sms(now=phone.now) == 1
    assert process_inbound_sms(now=phone.now) == 0
    assert len(phone.replies_to(inbound)) == 1


def test_a_claim_left_by_a_crashed_worker_is_answered_after_the_lease(phone, db, merchant):
    from mcrm.jobs.tasks import process_inbound_sms
    from mcrm.messaging.services import claim_inbound
    inbound = phone.store("ZC 张三")
    assert claim_inbound("crashed", 10, phone.now)  # claimed, then the worker died
    db.session.commit()
    assert process_inbound_sms(now=phone.now) == 0
    assert process_inbound_sms(now=phone.now + timedelta(minutes=11)) == 1
    db.session.refresh(inbound)
    assert inbound.status == InboundStatus.DONE
    assert len(phone.replies_to(inbound)) == 1 and member_of(merchant).points_balance == 100


def test_a_failing_mo_is_marked_failed_and_the_next_one_is_answered(phone, db, monkeypatch):
    from mcrm.jobs.tasks import process_inbound_sms
    from mcrm.keywords import actions
    first, second = phone.store("ZC 张三"), phone.store("JF")

    def broken(ctx):
        raise RuntimeError("disk on fire")
    monkeypatch.setitem(actions.BUILTIN_APPS, "join", broken)  # a bug in one app
    process_inbound_sms(now=phone.now)
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status == InboundStatus.FAILED and "disk on fire" in first.error
    assert second.status == InboundStatus.DONE and phone.replies_to(second)
    assert phone.replies_to(first) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2


def test_a_failing_mo_in_the_middle_of_a_batch_fails_alone_and_the_others_are_answered_once(
        phone, db, merchant, monkeypatch, caplog):
    from mcrm.jobs.tasks import process_inbound_sms
    from mcrm.keywords import actions
    from mcrm.keywords.apps import service
    from mcrm.members.models import Member
    other, third = "+8613900139001", "+8613900139002"
    batch = [phone.store("ZC 张三"), phone.store("ZC 李四", msisdn=other), phone.store("TS 上菜太慢了"),
             phone.store("ZC 王五", msisdn=third), phone.store("JF")]

    def broken(ctx, **options):
        service.complaint(ctx, **options)  # its ticket and reply must go with it
        raise RuntimeError("disk on fire")
    monkeypatch.setitem(actions.BUILTIN_APPS, "complaint", broken)
    caplog.set_level("INFO", logger="mcrm.jobs.tasks")
    assert process_inbound_sms(now=phone.now) == 5
    assert "answering it again one MO at a time" in caplog.text  # the batch ran, failed, ran again
    for inbound in batch:
        db.session.refresh(inbound)
    failed = batch[2]
    assert failed.status == InboundStatus.FAILED and "disk on fire" in failed.error
    assert phone.replies_to(failed) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeedbackTicket)) == 0
    answered = batch[:2] + batch[3:]
    assert {inbound.status for inbound in answered} == {InboundStatus.DONE}
    assert [len(phone.replies_to(inbound)) for inbound in answered] == [1, 1, 1, 1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 4
    # each join enrolled once and gave its gift once
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 3
    assert [member_of(merchant, n).points_balance for n in (CONSUMER, other, third)] == \
        [merchant.join_gift_points] * 3
    assert str(merchant.join_gift_points) in phone.replies_to(batch[4])[0][1]
    assert process_inbound_sms(now=phone.now) == 0


def test_control_codes_inside_a_feedback_text_are_dropped_before_it_is_stored(phone, db):
    phone.text("YJ 菜太咸\x01了")
    assert db.session.scalar(sa.select(FeedbackTicket.text)) == "菜太咸了"
