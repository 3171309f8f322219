"""At the counter in a real browser: a clerk confirms a large purchase, a manager voids it."""
import pytest

from tests.browser.conftest import PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_on_a_phone_a_clerk_confirms_a_large_purchase_and_a_manager_voids_it(open_page, make_staff, make_member):
    clerk, manager = make_staff("clerk"), make_staff("manager")
    member_id = make_member(name="老王").id
    page = open_page(viewport=PHONE)
    sign_in(page, clerk)
    page.goto(f"/members/{member_id}")
    page.fill("form[action$='/purchase'] input[name=amount]", "8800")
    page.click("form[action$='/purchase'] button[type=submit]")
    question = page.locator("[data-confirm-amount]")
    assert "¥8,800.00超过¥5,000.00，金额无误吗？" in question.text_content()
    screenshot(page, "counter-confirm-amount-phone")
    page.get_by_role("button", name="确认并记录").click()
    page.wait_for_selector("[data-stat=balance]")
    assert page.text_content("[data-stat=balance]").strip() == "8800"
    assert page.locator("[data-void]").count() == 0  # a clerk cannot void

    manager_page = open_page(viewport=PHONE)
    sign_in(manager_page, manager)
    manager_page.goto(f"/members/{member_id}")
    manager_page.locator("[data-void]").first.click()
    manager_page.fill("input[name=reason]", "多按了一个0")
    manager_page.get_by_role("button", name="撤销").click()
    manager_page.wait_for_selector("[data-stat=balance]")
    assert manager_page.text_content("[data-stat=balance]").strip() == "0"
    voided = manager_page.locator("tr.voided")
    assert voided.count() == 1 and "已撤销" in voided.text_content()
    assert "撤销消费" in manager_page.locator("table.ledger tbody tr").first.text_content()
    screenshot(manager_page, "counter-voided-purchase-phone")
