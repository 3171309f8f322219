"""The owner's settings and staff pages in a real browser, on a desktop and on a phone."""
import pytest

from tests.browser.conftest import PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_owner_changes_the_points_rate_and_sees_a_refused_tier_table(open_page, make_staff):
    page = open_page()
    sign_in(page, make_staff("owner"))
    page.goto("/settings/")
    page.fill("input[name=points_per_yuan]", "2")
    page.click("form[data-form=merchant-settings] button[type=submit]")
    assert page.locator(".flash.success").text_content().strip() == "设置已保存。"
    assert page.input_value("input[name=points_per_yuan]") == "2.00"

    page.fill("input[name=tiers-0-score]", "50")  # no tier starts at 0 any more
    page.click("form[data-form=merchant-settings] button[type=submit]")
    assert "必须有一个等级从 0 分开始。" in page.text_content("form[data-form=merchant-settings]")
    assert page.input_value("input[name=tiers-0-score]") == "50"  # what was typed stays
    screenshot(page, "settings-desktop-error")


def test_owner_adds_a_clerk_on_a_phone(open_page, make_staff):
    page = open_page(viewport=PHONE)
    sign_in(page, make_staff("owner"))
    page.goto("/staff/new")
    page.fill("input[name=username]", "xiaozhang")
    page.fill("input[name=password]", "long-enough-9")
    page.select_option("select[name=role]", "clerk")
    page.fill("input[name=msisdn]", "13900139001")
    page.click("form.form button[type=submit]")
    page.wait_for_selector("tr[data-staff=xiaozhang]")
    assert "收银员" in page.text_content("tr[data-staff=xiaozhang]")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "staff-phone")
    page.goto("/settings/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "settings-phone")
