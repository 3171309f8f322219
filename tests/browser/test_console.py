"""The console in a real browser: sign in, the dashboard, the language switch, a phone-sized screen."""
import pytest

from tests.browser.conftest import PHONE, release_database, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_owner_signs_in_and_sees_the_dashboard_figures(open_page, make_staff, make_member):
    owner = make_staff("owner")
    for _ in range(3):
        make_member(points=200)
    page = open_page()
    sign_in(page, owner)
    assert page.text_content("[data-stat=members]").strip() == "3"
    assert page.locator(".bars .bar").count() >= 1
    assert page.get_by_role("link", name="设置", exact=True).is_visible()  # owner only, in Chinese
    screenshot(page, "dashboard-desktop")


def test_wrong_password_keeps_the_login_page_with_an_error(open_page, make_staff):
    clerk = make_staff("clerk")
    username = clerk.username
    release_database()
    page = open_page()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "not-the-password")
    page.click("form.form button[type=submit]")
    page.locator(".flash.error").wait_for(state="visible")  # the answer's page, not the form's
    assert "/login" in page.url


def test_login_page_is_chinese_by_default_and_english_after_switching(open_page):
    page = open_page(locale="zh-CN")
    page.goto("/login")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.text_content("h1").strip() == "登录"
    assert page.text_content("label[for=username]").strip() == "用户名"
    screenshot(page, "login-zh")

    page.click("form.lang button")
    # polled while the page is replaced: between two documents there is no <html> element yet
    page.wait_for_function("document.documentElement?.lang === 'en'")
    assert page.text_content("h1").strip() == "Sign in"
    assert page.text_content("label[for=username]").strip() == "Username"
    page.click("form.lang button")
    page.wait_for_function("document.documentElement?.lang === 'zh-CN'")


def test_staff_language_preference_outlasts_the_session(open_page, make_staff):
    clerk = make_staff("clerk")
    page = open_page()
    sign_in(page, clerk)
    page.goto("/staff/me")
    page.select_option("select[name=locale]", "en")
    page.click("form.form button[type=submit]")
    page.wait_for_function("document.documentElement?.lang === 'en'")

    fresh = open_page(locale="zh-CN")
    sign_in(fresh, clerk)
    assert fresh.get_attribute("html", "lang") == "en"
    assert fresh.text_content("h1").strip() == "Dashboard"


def test_phone_sized_screen_shows_the_menu_behind_its_button(open_page, make_staff):
    owner = make_staff("owner")
    page = open_page(viewport=PHONE)
    sign_in(page, owner)
    members_link = page.locator("nav.nav a[href='/members/']")
    assert not members_link.is_visible()
    screenshot(page, "dashboard-phone-menu-closed")

    page.click("label.nav-button")
    assert members_link.is_visible()
    assert page.locator("nav.nav a[href='/settings/']").is_visible()
    screenshot(page, "dashboard-phone-menu-open")
    # nothing wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    members_link.click()
    page.wait_for_url("**/members/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "members-phone")
