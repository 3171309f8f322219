"""A campaign from the phone, in Chinese: an AND/OR audience built inline with its live count, a text
whose counter counts the signature, the unsubscribe hint and the longest name in the audience (one
SMS at 70 characters, two at 71), a test send, the confirmation, and the progress bar reaching
delivered while the dispatch job and the sandbox gateway run. Screenshots in test-artifacts/browser/."""
from datetime import time

import pytest

from mcrm.core.clock import now_utc
from mcrm.jobs.tasks import dispatch_campaigns
from mcrm.messaging.store import SqlMessageStore
from sms_gateway import Gateway, GatewayConfig
from tests.browser.conftest import release_database, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
ROOT = ".seg-group.root"
LONGEST_IN_AUDIENCE = "金五月欧阳娜娜"       # 7 characters: the name the counter must count
LONGER_OUTSIDE = "银五月超长名字的会员啊"     # 11, but not in the audience: must not count


def no_sideways_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def build_gold_and_may_or_regular(page) -> None:
    """金卡 AND (birthday in May OR tagged 常客), by taps, as in the segment builder's own test."""
    page.check("input[name=audience][value=build]")
    page.click(f"{ROOT} > .seg-actions .seg-add-condition")
    tier = f"{ROOT} > .items > .seg-cond"
    page.select_option(f"{tier} select.seg-type", "tier")
    page.check(f"{tier} [data-param=tiers] input[value=金卡]")
    page.click(f"{ROOT} > .seg-actions .seg-add-group")
    group = f"{ROOT} > .items > .seg-group"
    page.select_option(f"{group} .seg-cond:nth-child(1) select.seg-type", "birthday_month")
    page.fill(f"{group} .seg-cond:nth-child(1) [data-param=month] input", "5")
    page.click(f"{group} > .seg-actions .seg-add-condition")
    page.select_option(f"{group} .seg-cond:nth-child(2) select.seg-type", "tags")
    page.fill(f"{group} .seg-cond:nth-child(2) [data-param=tags] input", "常客")


def counter(page) -> tuple[str, str]:
    return tuple(page.eval_on_selector("#campaign-counter", "c => [c.dataset.chars, c.dataset.parts]"))


def test_on_a_phone_a_manager_builds_an_audience_composes_sends_and_watches_it_delivered(
        app, open_page, make_staff, make_member, merchant, db):
    # any hour the test runs at is inside the sending window
    merchant.send_window_start, merchant.send_window_end = time(0, 0), time(23, 59, 59)
    manager = make_staff("manager", msisdn="13900139009")
    gold_may = make_member(name=LONGEST_IN_AUDIENCE, birthday="19900512")
    gold_regular = make_member(name="金常客", tags=["常客"])
    gold_june = make_member(name="金六月", birthday="19900612")
    silver_may = make_member(name=LONGER_OUTSIDE, birthday="19900501")
    for member in (gold_may, gold_regular, gold_june):
        member.tier = "金卡"
    silver_may.tier = "银卡"
    db.session.commit()
    signature, hint = merchant.signature, merchant.unsubscribe_hint

    page = open_page(viewport=PHONE)
    sign_in(page, manager)
    page.click("#nav-toggle + label")
    page.click("nav a[href='/campaigns/']")
    page.click("a[href='/campaigns/new']")
    page.fill("input[name=name]", "五月金卡会员日")
    build_gold_and_may_or_regular(page)
    page.wait_for_function("document.getElementById('campaign-recipients').dataset.count === '2'")
    # the builder's own count and words come with their own answer, which may arrive later
    page.wait_for_function("document.getElementById('segment-count').dataset.count === '2'")
    assert page.text_content("#segment-description") == "金卡 且 （5月生日 或 标签常客）"

    # 70 characters on the phone of the longest name: one SMS; one more: two
    page.click("[data-field=name]")
    room = 70 - len(signature + LONGEST_IN_AUDIENCE + hint)
    page.keyboard.insert_text("您好" + "会" * (room - 2))
    page.wait_for_function("document.getElementById('campaign-counter').dataset.chars === '70'")
    assert counter(page) == ("70", "1")
    text = "您好" + "会" * (room - 2)
    assert page.text_content("#campaign-longest") == signature + LONGEST_IN_AUDIENCE + text + hint
    assert page.text_content("#campaign-total-parts") == "2"
    page.keyboard.insert_text("！")
    page.wait_for_function("document.getElementById('campaign-counter').dataset.parts === '2'")
    assert counter(page) == ("71", "2")
    page.wait_for_function("document.getElementById('campaign-total-parts').dataset.total === '4'")
    typed = page.input_value("textarea[name=body]")
    page.fill("textarea[name=body]", typed * 6)                 # over 5 SMS: longer than a campaign may be
    assert "over" in page.get_attribute("#campaign-counter", "class")
    page.wait_for_selector("#campaign-problems li")
    page.fill("textarea[name=body]", typed)
    page.wait_for_selector("#campaign-problems li", state="detached")
    assert "over" not in page.get_attribute("#campaign-counter", "class")

    page.click("#test-send")
    page.wait_for_selector("#test-result.ok")
    assert "139****9009" in page.text_content("#test-result")
    no_sideways_scrolling(page)
    screenshot(page, "campaign-composer-phone")

    with page.expect_navigation():
        page.click("#campaign-form button[type=submit]")
    assert page.text_content("[data-confirm=recipients]").strip() == "2"
    assert page.text_content("[data-confirm=parts]").strip().startswith("2")
    assert page.text_content("[data-confirm=total-parts]").strip() == "4"
    no_sideways_scrolling(page)
    screenshot(page, "campaign-confirm-phone")
    with page.expect_navigation():
        page.click("#launch-form button[type=submit]")
    assert page.get_attribute("[data-status]", "data-status") == "scheduled"

    # what the scheduler's dispatch job and the gateway process do, the test does beside the live server
    release_database()
    dispatch_campaigns(now=now_utc())               # the run starts: both members queued
    page.wait_for_selector("[data-status=sending]")  # the page reloads itself for the new status
    assert page.get_attribute("[data-figure=delivered]", "data-value") == "0"
    page.evaluate("window.notReloaded = true")
    gateway = Gateway(GatewayConfig(transport="sandbox", poll_secs=0.02, batch_size=50), SqlMessageStore(app))
    gateway.start()
    try:
        # receipts come in: the bar and the figures refresh themselves, without a reload
        page.wait_for_selector("[data-figure=delivered][data-value='2']")
        assert page.evaluate("window.notReloaded") is True
        assert page.get_attribute("[data-status]", "data-status") == "sending"
        dispatch_campaigns(now=now_utc())           # the next minute's run settles it
        page.wait_for_selector("[data-status=done]")
    finally:
        assert gateway.stop(10)
    assert page.get_attribute("[data-figure=delivered]", "data-value") == "2"
    assert page.get_attribute("[data-figure=targeted]", "data-value") == "2"
    assert page.eval_on_selector(".progress [data-part=delivered]", "bar => bar.style.width") == "100%"
    no_sideways_scrolling(page)
    screenshot(page, "campaign-delivered-phone")

    page.goto("/campaigns/")
    assert "五月金卡会员日" in page.text_content("table.campaigns")
    no_sideways_scrolling(page)
    screenshot(page, "campaign-list-phone")

