"""The console on a 360×740 phone: nothing wider than the screen, lists that page, a readable
chart, and conversations whose bubbles sit left and right. Screenshots in test-artifacts/browser/."""
from datetime import timedelta

import pytest

from mcrm.core.clock import now_utc
from tests.browser.conftest import DESKTOP, release_database, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


def no_sideways_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def page_height(page) -> int:
    return page.evaluate("document.documentElement.scrollHeight")


def member_ids(page) -> list[str]:
    return page.eval_on_selector_all("tr[data-member]", "rows => rows.map(r => r.dataset.member)")


def follow(page, selector: str) -> None:
    """Click a paging link and wait for the next page: reading the list mid-navigation finds none."""
    with page.expect_navigation():
        page.click(selector)


def test_the_member_list_on_a_phone_pages_twenty_cards_at_a_time(open_page, make_staff, make_member):
    owner = make_staff("owner")
    for n in range(45):
        make_member(name=f"会员{n:02d}", tags=["常客"], points=n)
    page = open_page(viewport=PHONE)
    sign_in(page, owner)
    page.goto("/members/")
    first = member_ids(page)
    assert len(first) == 20
    assert page_height(page) < 3500            # 50 six-line cards would be about 10,000 pixels
    no_sideways_scrolling(page)
    screenshot(page, "members-phone")

    follow(page, "a[rel=next]")
    second = member_ids(page)
    follow(page, "a[rel=next]")
    third = member_ids(page)
    assert (len(second), len(third)) == (20, 5) and not set(first) & set(second) and not set(second) & set(third)
    assert page.locator("a[rel=next]").count() == 0
    follow(page, "a[rel=prev]")
    assert member_ids(page) == second

    desktop = open_page(viewport=DESKTOP)          # a wide screen keeps fifty a page
    sign_in(desktop, owner)
    desktop.goto("/members/")
    assert len(member_ids(desktop)) == 45


def test_the_dashboard_chart_is_readable_on_a_phone(open_page, make_staff, make_member):
    owner = make_staff("owner")
    for _ in range(3):
        make_member(points=200)
    page = open_page(viewport=PHONE)
    sign_in(page, owner)
    labels = page.locator(".bars .bar-label")
    assert labels.count() >= 3
    sizes = page.eval_on_selector_all(".bars .bar-label, .bars .bar-value",
                                      "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert min(sizes) >= 14                  # the scaled drawing shrank them to about 8 px
    assert page.locator(".bars .bar").first.bounding_box()["width"] > 100      # the tier with every member
    no_sideways_scrolling(page)
    screenshot(page, "dashboard-chart-phone")


LONG = "请问周六晚上六点还有四人桌吗？我们想订一个靠窗的位置，另外有一位朋友不吃辣，菜单上有推荐吗？谢谢"


def assert_bubbles_side_by_side(page, mine: str, theirs: str) -> None:
    """The viewer's bubbles against the right edge, the other side's against the left, none as wide
    as the thread, long texts wrapped inside their bubble."""
    thread = page.locator(".thread").first.bounding_box()
    right = [page.locator(mine).nth(i).bounding_box() for i in range(page.locator(mine).count())]
    left = [page.locator(theirs).nth(i).bounding_box() for i in range(page.locator(theirs).count())]
    assert right and left
    for box in right:
        assert abs(box["x"] + box["width"] - (thread["x"] + thread["width"])) < 24
        assert box["width"] <= thread["width"] * 0.9
    for box in left:
        assert abs(box["x"] - thread["x"]) < 24 and box["width"] <= thread["width"] * 0.9
    assert min(box["x"] for box in right) > min(box["x"] for box in left)


def test_the_simulator_shows_bubbles_side_by_side_on_a_phone(open_page, db, make_staff, merchant):
    from mcrm.messaging.services import enqueue_sms
    manager = make_staff("manager")
    page = open_page(viewport=PHONE)
    sign_in(page, manager)
    page.goto("/messages/simulator")
    page.fill("input[name=msisdn]", "13800138000")
    page.fill("textarea[name=text]", LONG)
    page.click("form.form button[type=submit]")
    page.wait_for_selector(".bubble.mine")
    page.fill("textarea[name=text]", "JF")
    page.click("form.form button[type=submit]")
    page.wait_for_selector(".bubble.mine >> nth=1")
    enqueue_sms(merchant, msisdn="13800138000", body="您好，周六18:00有四人桌，已为您留靠窗位置。不吃辣的朋友推荐蒜蓉烤生蚝。",
                kind="transactional", now=now_utc() + timedelta(seconds=1))
    db.session.commit()
    release_database()
    page.wait_for_selector(".bubble.theirs", timeout=10_000)      # the thread refreshes itself
    assert_bubbles_side_by_side(page, ".bubble.mine", ".bubble.theirs")
    long_bubble = page.locator(".bubble.mine").first.bounding_box()
    assert long_bubble["height"] > 60                                # wrapped over several lines
    short_bubble = page.locator(".bubble.mine").nth(1).bounding_box()
    thread = page.locator(".thread").bounding_box()
    # a short text is a small bubble: no stretched box, no blank lines around the text
    assert short_bubble["width"] < thread["width"] * 0.4 and short_bubble["height"] < 70
    no_sideways_scrolling(page)
    screenshot(page, "simulator-phone")


def test_a_conversation_in_the_message_log_on_a_phone(open_page, db, make_staff, merchant):
    from mcrm.messaging.services import enqueue_sms, store_inbound
    manager = make_staff("manager")
    start = now_utc() - timedelta(minutes=10)
    for n, text in enumerate(("JF", LONG, "谢谢")):
        store_inbound(source_addr="13800138000", destination_addr="106571234501", text=text, data_coding=8,
                      received_at=start + timedelta(minutes=2 * n), access_number="1065712345")
        enqueue_sms(merchant, msisdn="13800138000", body=f"第{n + 1}条回复：" + "好的，" * (n * 8 + 1),
                    kind="transactional", now=start + timedelta(minutes=2 * n, seconds=5))
    db.session.commit()
    page = open_page(viewport=PHONE)
    sign_in(page, manager)
    page.goto("/messages/")
    page.click("a[href='/messages/numbers/+8613800138000'] >> nth=0")
    page.locator(".bubble").nth(5).wait_for()     # the click answers with the thread's page
    assert page.locator(".bubble").count() == 6
    assert_bubbles_side_by_side(page, ".bubble.mine", ".bubble.theirs")   # the shop's texts on the right
    no_sideways_scrolling(page)
    screenshot(page, "conversation-phone")
