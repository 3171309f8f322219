"""A complaint handled in the browser from new to closed, on a desktop and on a phone (Chinese):
the inbox shows it new, a manager assigns it (in progress), answers it by SMS, resolves it with the
satisfaction question and closes it; the thread shows the member's texts and the reply, and the
figures page counts the ticket. Screenshots in test-artifacts/browser/feedback-*.png."""
import pytest
import sqlalchemy as sa

from mcrm.core.clock import now_utc
from mcrm.extensions import db
from mcrm.feedback import services
from mcrm.messaging.models import OutboundMessage
from tests.browser.conftest import DESKTOP, release_database, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


def _fits(page, viewport) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_manager_takes_a_complaint_from_new_to_closed(open_page, make_staff, make_member, merchant, viewport):
    manager = make_staff("manager", display_name="张经理")
    make_staff("clerk", display_name="小李")
    member = make_member(msisdn="13800138000", name="王先生")
    now = now_utc()
    ticket = services.open_ticket(merchant, msisdn=member.msisdn, kind="complaint", text="菜太咸了", now=now,
                                  member=member, inbound_message_id=1)
    services.add_member_text(ticket, text="而且汤是凉的", now=now)
    db.session.commit()
    ticket_id, number = ticket.id, ticket.number
    release_database()
    name = "desktop" if viewport is DESKTOP else "phone"
    page = open_page(viewport=viewport)
    sign_in(page, manager)
    if viewport is PHONE:
        page.click("label.nav-button")
    page.click("nav >> text=客户反馈")
    page.wait_for_url("**/feedback/")
    row = page.locator(f'tr[data-ticket="{ticket_id}"]')
    assert "新" in row.inner_text() and "菜太咸了" in row.inner_text()
    _fits(page, viewport)
    screenshot(page, f"feedback-inbox-{name}")

    row.get_by_role("link", name=number).click()
    page.wait_for_url(f"**/feedback/{ticket_id}")
    page.select_option("select[name=assignee_id]", label="小李")
    with page.expect_navigation():
        page.get_by_role("button", name="分配", exact=True).click()
    assert "已保存分配" in page.inner_text(".flash")
    assert "处理中" in page.inner_text(".card") and "小李" in page.inner_text(".card")

    page.fill("textarea[name=body] >> nth=0", "王先生您好，已转告厨师，下次为您少放盐。")
    with page.expect_navigation():
        page.get_by_role("button", name="发送回复").click()
    assert "回复短信已排队发送" in page.inner_text(".flash")
    thread = page.locator("ol.thread")
    assert thread.locator("li.entry.mo").count() == 2 and thread.locator("li.entry.reply").count() == 1
    assert "王先生您好，已转告厨师" in thread.locator("li.entry.reply").inner_text()
    assert "张经理" in thread.locator("li.entry.reply").inner_text()
    _fits(page, viewport)
    screenshot(page, f"feedback-ticket-{name}")

    page.select_option("select[name=status]", "resolved")
    page.locator("input[name=ask_satisfaction]").check()
    with page.expect_navigation():
        page.get_by_role("button", name="更改状态").click()
    assert "已解决" in page.inner_text(".flash")
    page.select_option("select[name=status]", "closed")
    with page.expect_navigation():
        page.get_by_role("button", name="更改状态").click()
    assert "已关闭" in page.inner_text(".flash")
    assert page.locator("textarea[name=body]").count() == 1        # the note form only: closed takes no reply
    bodies = db.session.scalars(sa.select(OutboundMessage.body).order_by(OutboundMessage.id)).all()
    release_database()
    assert bodies == ["王先生您好，已转告厨师，下次为您少放盐。", f"您的工单{number}已处理，请评价：回复1满意 2一般 3不满意"]

    page.goto("/feedback/figures")
    this_week = page.locator("tr[data-week]").first
    assert this_week.locator('td[data-kind="complaint"]').inner_text() == "1"
    assert page.inner_text('[data-figure="first-response"]') != "—"
    assert page.inner_text('[data-figure="resolution"]') != "—"
    _fits(page, viewport)
    screenshot(page, f"feedback-figures-{name}")
