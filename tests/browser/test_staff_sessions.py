"""Sign out everywhere in a real browser: the owner ends a lost phone's session from the staff list."""
import pytest

from tests.browser.conftest import PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_owner_signs_a_lost_phone_out_and_the_phone_lands_on_the_login_page(open_page, make_staff):
    clerk, owner = make_staff("clerk"), make_staff("owner")
    username = clerk.username
    phone = open_page(viewport=PHONE)
    sign_in(phone, clerk)
    shop_pc = open_page()
    sign_in(shop_pc, owner)  # ends the test's transaction: the live server writes next

    shop_pc.goto("/staff/")
    shop_pc.click(f"tr[data-staff={username}] [data-action=sign-out-everywhere]")
    shop_pc.locator(".flash.success").wait_for(state="visible")  # the redirect's page, not the list's

    phone.goto("/members/")
    phone.wait_for_url("**/login?next=*")
    assert phone.locator(".flash.warning").is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "session-ended-phone")
    phone.goto("/staff/me")
    phone.wait_for_url("**/login?next=*")
    assert phone.locator(".flash.warning").count() == 0  # said once
