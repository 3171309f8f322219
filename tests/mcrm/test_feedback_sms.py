"""The feedback desk by SMS, with the clock in the test's hand: a console reply reaches the member,
further texts join the open ticket within the window, overdue tickets remind the assignee and then
the owners once each, the satisfaction answer is kept, and the figures add up."""
from datetime import date, timedelta

import sqlalchemy as sa

from mcrm.extensions import db
from mcrm.feedback import services
from mcrm.feedback.models import FeedbackTicket, TicketEntry
from mcrm.jobs import tasks
from mcrm.messaging.models import OutboundMessage
from tests.mcrm.keywords_support import CONSUMER, phone  # noqa: F401


def _only_ticket():
    return db.session.scalars(sa.select(FeedbackTicket)).one()


def _sms_to(msisdn):
    return db.session.scalars(sa.select(OutboundMessage.body).where(OutboundMessage.msisdn == msisdn)
                              .order_by(OutboundMessage.id)).all()


def test_a_console_reply_is_a_transactional_sms_in_the_thread(phone, merchant, make_staff, now):
    phone.text("TS 菜太咸", now=now)
    ticket, clerk = _only_ticket(), make_staff("clerk")
    entry = services.reply_to_ticket(ticket, merchant, body="抱歉，下次注意", actor=clerk, now=now + timedelta(minutes=5))
    db.session.commit()
    sms = db.session.get(OutboundMessage, entry.outbound_message_id)
    assert (sms.msisdn, sms.kind, sms.body) == (CONSUMER, "transactional", "抱歉，下次注意")
    assert ticket.first_response_at == now + timedelta(minutes=5) and ticket.status == "in_progress"


def test_further_texts_within_the_window_join_the_open_ticket(phone, merchant, now):
    phone.text("TS 菜太咸", now=now)
    ticket = _only_ticket()
    assert phone.text("还有汤是凉的", now=now + timedelta(hours=23)) == []   # joined quietly, no help text
    entries = db.session.scalars(sa.select(TicketEntry)).all()
    assert [(e.kind, e.body) for e in entries] == [("mo", "还有汤是凉的")] and entries[0].inbound_message_id
    # the window runs from the ticket's latest activity: 24 hours of silence, and a text is a text again
    later = phone.text("你好", now=now + timedelta(hours=23 + 25))
    assert len(later) == 1 and "TS" in later[0]     # the help reply
    assert db.session.scalar(sa.select(sa.func.count(TicketEntry.id))) == 1
    assert ticket.last_activity_at == now + timedelta(hours=23)


def test_a_closed_ticket_takes_no_further_texts(phone, merchant, now):
    phone.text("TS 菜太咸", now=now)
    services.move_ticket(_only_ticket(), merchant, to="closed", now=now)
    db.session.commit()
    phone.text("还有汤是凉的", now=now + timedelta(minutes=1))
    assert db.session.scalar(sa.select(sa.func.count(TicketEntry.id))) == 0


def test_an_overdue_complaint_reminds_the_assignee_then_the_owner_once_each(phone, merchant, make_staff, now):
    owner = make_staff("owner", msisdn="13700137000")
    waiter = make_staff("clerk", msisdn="13700137001", display_name="小李")
    phone.text("TS 菜太咸", now=now)
    ticket = _only_ticket()
    services.assign_ticket(ticket, merchant, assignee_id=waiter.id)
    db.session.commit()
    assert tasks.remind_overdue_tickets(now=now + timedelta(minutes=119)) == 0      # 2 hours not up
    assert tasks.remind_overdue_tickets(now=now + timedelta(minutes=120)) == 1
    assert _sms_to(waiter.msisdn) == [f"工单{ticket.number}（投诉）已超时未回复：菜太咸"]
    assert tasks.remind_overdue_tickets(now=now + timedelta(minutes=149)) == 0      # owner: 30 min later
    assert tasks.remind_overdue_tickets(now=now + timedelta(minutes=150)) == 1
    assert _sms_to(owner.msisdn) == [f"工单{ticket.number}（投诉）超时未回复，负责人：小李。菜太咸"]
    assert tasks.remind_overdue_tickets(now=now + timedelta(hours=5)) == 0          # once each
    assert len(_sms_to(waiter.msisdn)) == 1 and len(_sms_to(owner.msisdn)) == 1


def test_an_answered_ticket_reminds_nobody_and_an_unassigned_one_the_owner_at_once(phone, merchant, make_staff, now):
    owner = make_staff("owner", msisdn="13700137000")
    phone.text("TS 菜太咸", now=now)
    phone.text("TS 汤太凉", now=now, msisdn="+8613900139000")
    answered, unassigned = db.session.scalars(sa.select(FeedbackTicket).order_by(FeedbackTicket.id)).all()
    services.reply_to_ticket(answered, merchant, body="抱歉", actor=owner, now=now + timedelta(minutes=10))
    db.session.commit()
    # answered in time: no reminder; nobody assigned: the owner hears at once
    assert tasks.remind_overdue_tickets(now=now + timedelta(hours=2)) == 1
    assert _sms_to(owner.msisdn) == [f"工单{unassigned.number}（投诉）超时未回复，负责人：无。汤太凉"]


def test_suggestions_have_no_target_unless_the_merchant_sets_one(phone, merchant, now):
    phone.text("YJ 多放辣", now=now)
    assert _only_ticket().due_at is None
    services.set_response_targets(merchant, {("suggestion", ""): 60, ("complaint", ""): None, ("praise", ""): None})
    db.session.commit()
    phone.text("YJ 少放盐", now=now)
    phone.text("TS 太慢", now=now)
    due = dict(db.session.execute(sa.select(FeedbackTicket.text, FeedbackTicket.due_at)).all())
    assert due == {"多放辣": None, "少放盐": now + timedelta(hours=1), "太慢": None}


def test_a_gold_members_complaint_is_due_sooner_and_reminds_sooner(phone, merchant, make_member, make_staff, now):
    owner = make_staff("owner", msisdn="13700137000")
    make_member(msisdn=CONSUMER).tier = "金卡"
    services.set_response_targets(merchant, {("complaint", "金卡"): 30})
    db.session.commit()
    phone.text("TS 菜太咸", now=now)                                 # the gold member
    phone.text("TS 汤太凉", now=now, msisdn="+8613900139001")        # not a member: 2 hours
    gold, other = db.session.scalars(sa.select(FeedbackTicket).order_by(FeedbackTicket.id)).all()
    assert (gold.due_at, other.due_at) == (now + timedelta(minutes=30), now + timedelta(hours=2))
    assert not gold.is_overdue(now + timedelta(minutes=29)) and gold.is_overdue(now + timedelta(minutes=30))
    assert tasks.remind_overdue_tickets(now=now + timedelta(minutes=30)) == 1
    assert _sms_to(owner.msisdn) == [f"工单{gold.number}（投诉）超时未回复，负责人：无。菜太咸"]
    # emptied, the tier's target gives way to the kind's again
    services.set_response_targets(merchant, {("complaint", "金卡"): None})
    db.session.commit()
    phone.text("TS 又咸了", now=now + timedelta(days=2))
    latest = db.session.scalars(sa.select(FeedbackTicket).order_by(FeedbackTicket.id.desc())).first()
    assert latest.due_at == now + timedelta(days=2, hours=2)


def test_the_satisfaction_answer_is_recorded(phone, merchant, now):
    phone.text("TS 菜太咸", now=now)
    ticket = _only_ticket()
    services.move_ticket(ticket, merchant, to="resolved", now=now + timedelta(hours=1), ask_satisfaction=True)
    db.session.commit()
    assert _sms_to(CONSUMER)[-1] == f"您的工单{ticket.number}已处理，请评价：回复1满意 2一般 3不满意"
    assert phone.text("２", now=now + timedelta(hours=2)) == ["感谢您的评价！"]
    db.session.refresh(ticket)
    assert ticket.satisfaction == 2
    # asked once: a second answer is an ordinary text, and resolving again asks nothing
    assert phone.text("1", now=now + timedelta(hours=3)) != ["感谢您的评价！"]
    assert ticket.satisfaction == 2


def test_a_late_satisfaction_answer_is_an_ordinary_text(phone, merchant, now):
    phone.text("TS 菜太咸", now=now)
    ticket = _only_ticket()
    services.move_ticket(ticket, merchant, to="resolved", now=now, ask_satisfaction=True)
    db.session.commit()
    phone.text("1", now=now + timedelta(days=3, minutes=1))
    db.session.refresh(ticket)
    assert ticket.satisfaction is None


def test_figures_count_by_kind_and_week_and_take_medians(phone, merchant, make_staff, now):
    staff = make_staff("owner")
    # now is Friday 20 November 2026; its week starts on Monday the 16th
    for text, at, answer_after in (("TS 慢", now, 10), ("TS 咸", now - timedelta(days=7), 30),
                                   ("YJ 辣", now, None), ("BY 好", now - timedelta(days=7), 50)):
        phone.text(text, now=at)
        ticket = db.session.scalars(sa.select(FeedbackTicket).order_by(FeedbackTicket.id.desc())).first()
        if answer_after:
            services.reply_to_ticket(ticket, merchant, body="谢谢", actor=staff, now=at + timedelta(minutes=answer_after))
            services.move_ticket(ticket, merchant, to="resolved", now=at + timedelta(hours=1), ask_satisfaction=True)
    db.session.commit()
    phone.text("3", now=now + timedelta(hours=2))
    figures = services.ticket_figures(merchant, now=now + timedelta(hours=3), weeks=2)
    assert figures.weeks == [(date(2026, 11, 9), {"suggestion": 0, "complaint": 1, "praise": 1}),
                             (date(2026, 11, 16), {"suggestion": 1, "complaint": 1, "praise": 0})]
    assert figures.median_first_response == timedelta(minutes=30)
    assert figures.median_resolution == timedelta(hours=1)
    assert figures.satisfaction == {1: 0, 2: 0, 3: 1} and figures.satisfaction_asked == 3


def test_tickets_keep_the_texts_as_sent_full_width_punctuation_and_all(phone, merchant, now):
    from mcrm.keywords.services import set_unknown_action
    phone.text("ＴＳ：菜太咸了，少放盐！", now=now)
    phone.text("还有：汤是凉的，（不热）", now=now + timedelta(minutes=1))
    set_unknown_action(merchant, "feedback")
    db.session.commit()
    phone.text("服务很好，谢谢！", msisdn="13800138111", now=now)
    tickets = db.session.scalars(sa.select(FeedbackTicket).order_by(FeedbackTicket.id)).all()
    assert [t.text for t in tickets] == ["菜太咸了，少放盐", "服务很好，谢谢！"]
    assert db.session.scalars(sa.select(TicketEntry.body)).all() == ["还有：汤是凉的，（不热）"]
