"""A birthday greeting switched on on a phone (360 px, Chinese): the menu, the greeting's form with
its points gift and a gift by tier, the greeting listed as on, and the next seven days showing the
members whose birthdays are coming, with nothing wider than the screen.
Screenshots in test-artifacts/browser/care-*.png."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.agenda.services import local_today
from mcrm.care.models import CareGreeting, CareKind
from mcrm.core.clock import now_utc
from mcrm.extensions import db
from tests.browser.conftest import release_database, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


def no_sideways_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_an_owner_switches_on_a_birthday_greeting_with_a_gift_on_a_phone(open_page, make_staff, make_member,
                                                                          merchant):
    owner = make_staff("owner")
    today = local_today(merchant, now_utc())
    soon, later, too_late = (today + timedelta(days=n) for n in (3, 5, 10))
    make_member(name="王芳", msisdn="13800000001", birthday=f"1990-{soon:%m-%d}")
    make_member(name="金卡会员", msisdn="13800000002", birthday=f"1985-{later:%m-%d}").tier = "金卡"
    make_member(name="下月生日", msisdn="13800000003", birthday=f"1992-{too_late:%m-%d}")
    db.session.commit()
    release_database()
    page = open_page(viewport=PHONE)
    sign_in(page, owner)
    page.click("label.nav-button")                  # the phone's menu
    page.click("nav >> text=客户关怀")
    page.wait_for_url("**/care/")
    assert "尚未设置关怀短信" in page.inner_text("#care-greetings")
    no_sideways_scrolling(page)

    page.get_by_role("link", name="生日", exact=True).click()
    page.wait_for_url("**/care/greeting?kind=birthday")
    page.get_by_label("已开启").check()
    page.fill("input[name=hour]", "9")
    page.fill("input[name=gift_points]", "50")
    page.fill("input[name=tier_gifts]", "金卡=200")
    no_sideways_scrolling(page)
    screenshot(page, "care-birthday-phone")
    with page.expect_navigation():
        page.click("#greeting-form button[type=submit]")
    assert "关怀短信「生日」已保存" in page.inner_text(".flash")

    [row] = page.locator("#care-greetings tbody tr").all()
    cells = [cell.inner_text().strip() for cell in row.locator("td").all()]
    assert cells[:5] == ["生日", "开", "09:00", "0", "50 · 金卡 200"]
    planned = [[cell.inner_text().strip() for cell in line.locator("td").all()]
               for line in page.locator("#care-planned tbody tr").all()]
    assert planned == [[soon.isoformat(), "生日", "1"], [later.isoformat(), "生日", "1"]]
    no_sideways_scrolling(page)
    screenshot(page, "care-index-phone")

    greeting = db.session.scalars(sa.select(CareGreeting)).one()
    assert (greeting.kind, greeting.enabled, greeting.hour, greeting.gift_points, greeting.gift_points_by_tier) == (
        CareKind.BIRTHDAY, True, 9, 50, {"金卡": 200})
    release_database()
