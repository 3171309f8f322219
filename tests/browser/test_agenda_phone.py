"""An agenda item created on a phone (360 px, Chinese): the menu, the form with its date-time picker
and staff checkboxes, then the item on the day and week views, with nothing wider than the screen.
Screenshots in test-artifacts/browser/agenda-*.png."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.agenda.models import AgendaItem
from mcrm.agenda.services import local_today
from mcrm.core.clock import now_utc
from mcrm.extensions import db
from tests.browser.conftest import release_database, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


def no_sideways_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_clerk_creates_an_appointment_on_a_phone_and_sees_it_on_the_day_and_week(open_page, make_staff,
                                                                                    make_member, merchant):
    clerk = make_staff("clerk", msisdn="13700137001", display_name="小李")
    make_staff("manager", msisdn="13700137002", display_name="王经理")
    make_member(name="王总", msisdn="13800138000")
    day = local_today(merchant, now_utc()) + timedelta(days=1)
    release_database()
    page = open_page(viewport=PHONE)
    sign_in(page, clerk)
    page.click("label.nav-button")                  # the phone's menu
    page.click("nav >> text=日程")
    page.wait_for_url("**/agenda/")
    no_sideways_scrolling(page)
    page.click("text=新建事项")
    page.wait_for_url("**/agenda/new**")
    page.fill("input[name=title]", "王总来店")
    page.fill("input[name=starts_at]", f"{day.isoformat()}T15:00")
    page.fill("input[name=place]", "二楼包间")
    page.get_by_label("小李", exact=True).check()
    page.get_by_label("王经理", exact=True).check()
    page.fill("textarea[name=member_msisdns]", "13800138000")
    page.select_option("select[name=repeat]", "weekly")
    no_sideways_scrolling(page)
    screenshot(page, "agenda-new-phone")
    with page.expect_navigation():
        page.click("form.agenda-form button[type=submit]")
    assert "已添加 王总来店" in page.inner_text(".flash")
    item_line = page.locator("li.agenda-item")
    assert item_line.count() == 1 and "15:00" in item_line.inner_text() and "二楼包间" in item_line.inner_text()
    no_sideways_scrolling(page)
    screenshot(page, "agenda-day-phone")

    page.click("text=周")
    page.wait_for_url("**/agenda/week**")
    assert page.locator(f"section[data-day='{day.isoformat()}'] li.agenda-item").count() == 1
    no_sideways_scrolling(page)
    screenshot(page, "agenda-week-phone")

    item = db.session.scalars(sa.select(AgendaItem)).one()
    assert sorted(s.display_name for s in item.staff) == ["小李", "王经理"]
    assert [m.name for m in item.members] == ["王总"] and item.repeat.value == "weekly"
    release_database()


def test_on_a_phone_a_manager_rewords_the_staff_reminder_with_the_live_counter(open_page, make_staff, merchant):
    page = open_page(viewport=PHONE)
    sign_in(page, make_staff("manager"))
    page.goto("/agenda/")
    page.click("text=日程短信内容")
    page.wait_for_url("**/agenda/texts")
    box = page.locator("#staff_reminder textarea")
    counter = page.locator("#staff_reminder .sms-counter")
    box.fill("长" * 64)                                   # with the signature 【小王烧烤】: one SMS
    assert counter.text_content() == "70 个字，1 条短信（含签名，最多 5 条）"
    box.fill("{title}，{price}")
    page.click("#staff_reminder button[value=save]")
    assert "{price}" in page.locator("#staff_reminder .error").text_content()
    no_sideways_scrolling(page)
    screenshot(page, "agenda-texts-refused-phone")
    page.locator("#staff_reminder textarea").fill("日程：{when} {title}{place}，回1")
    page.click("#staff_reminder button[value=save]")
    page.wait_for_selector("#staff_reminder .badge")
    assert page.locator("#staff_reminder textarea").input_value() == "日程：{when} {title}{place}，回1"
