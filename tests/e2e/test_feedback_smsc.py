"""The feedback desk end to end through the real SMSC peer: a member texts a complaint and gets its
ticket number, a further text joins the ticket, the overdue job reminds the assignee's phone and
then the owner's, a manager's answer from the console reaches the phone signed and without the
unsubscribe hint (it is transactional), and the satisfaction question and the member's `1` come and
go the same way."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from mcrm.core.clock import now_utc
from mcrm.feedback.models import FeedbackTicket, TicketEntry
from mcrm.jobs.tasks import remind_overdue_tickets
from tests.conftest import csrf_token
from tests.e2e.test_gateway_smsc import SERVICE_NUMBER, gateway, smsc  # noqa: F401  (fixtures)
from tests.e2e.test_keywords_smsc import fresh, running, texts_to  # noqa: F401  (fixtures)
from tests.smsc_peer import wait_until

CONSUMER = "8613900139000"
WAITER_PHONE = "8613700137001"
OWNER_PHONE = "8613700137009"
SIGNATURE = "【小王烧烤】"


def _post(db, client, url, **data):
    """Post a console form; the test client shares the test's session, whose lock is let go after."""
    token = csrf_token(client, url.rsplit("/", 1)[0])
    db.session.rollback()          # the page's read: a write cannot build on its stale snapshot
    response = client.post(url, data={"csrf_token": token, **data})
    db.session.rollback()          # SQLite: never hold the write lock the gateway and the loop need
    return response


def test_a_complaint_by_sms_is_answered_from_the_console_reminded_and_rated(db, merchant, make_staff, make_member,
                                                                            client, login, smsc, running):
    make_member(msisdn="+" + CONSUMER, name="王先生")
    waiter = make_staff("clerk", msisdn="+" + WAITER_PHONE, display_name="小李")
    make_staff("owner", msisdn="+" + OWNER_PHONE)
    login("manager", display_name="张经理")
    waiter_id = waiter.id
    db.session.rollback()          # SQLite: never hold the write lock the gateway and the loop need
    start = now_utc()

    smsc.mo(CONSUMER, SERVICE_NUMBER, "TS 菜太咸了")
    [received] = texts_to(smsc, CONSUMER, 1)
    ticket_id = fresh(db, sa.select(FeedbackTicket.id))
    number = f"{ticket_id:06d}"
    assert received == f"{SIGNATURE}感谢您的投诉，工单号{number}，我们会尽快处理。"
    page = f"/feedback/{ticket_id}"
    assert _post(db, client, f"{page}/assign", assignee_id=str(waiter_id)).status_code == 302

    # the member's next text joins the ticket, quietly
    smsc.mo(CONSUMER, SERVICE_NUMBER, "而且汤是凉的")
    wait_until(lambda: fresh(db, sa.select(sa.func.count(TicketEntry.id)).where(TicketEntry.kind == "mo")) == 1,
               timeout=15, message="the further text in the thread")

    # 2 hours unanswered: the assignee's phone, and 30 minutes later the owner's
    assert remind_overdue_tickets(now=start + timedelta(minutes=121)) == 1
    db.session.rollback()
    assert texts_to(smsc, WAITER_PHONE, 1) == [f"{SIGNATURE}工单{number}（投诉）已超时未回复：菜太咸了"]
    assert remind_overdue_tickets(now=start + timedelta(minutes=151)) == 1
    db.session.rollback()
    assert texts_to(smsc, OWNER_PHONE, 1) == [f"{SIGNATURE}工单{number}（投诉）超时未回复，负责人：小李。菜太咸了"]

    # the manager answers from the console: the phone gets it signed, with no 回T退订
    assert _post(db, client, f"{page}/reply", body="王先生您好，已转告厨师，下次为您少放盐。").status_code == 302
    answer = texts_to(smsc, CONSUMER, 2)[1]
    assert answer == f"{SIGNATURE}王先生您好，已转告厨师，下次为您少放盐。" and "退订" not in answer
    html = client.get(page).get_data(as_text=True)
    db.session.rollback()
    assert html.index("菜太咸了") < html.index("而且汤是凉的") < html.index("已转告厨师")
    assert 'data-entry="mo"' in html and 'data-entry="reply"' in html and "张经理" in html

    # resolved with the satisfaction question; the member's `1` is recorded and thanked
    assert _post(db, client, f"{page}/status", status="resolved", ask_satisfaction="y").status_code == 302
    assert texts_to(smsc, CONSUMER, 3)[2] == f"{SIGNATURE}您的工单{number}已处理，请评价：回复1满意 2一般 3不满意"
    smsc.mo(CONSUMER, SERVICE_NUMBER, "1")
    assert texts_to(smsc, CONSUMER, 4)[3] == f"{SIGNATURE}感谢您的评价！"
    assert fresh(db, sa.select(FeedbackTicket.satisfaction)) == 1
    # every SMS the member got: the ticket number, the answer, the question, the thanks, and nothing more
    assert len([r for r in smsc.records("message") if r["destination_addr"] == CONSUMER]) == 4
