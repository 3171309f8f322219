"""The keyword console on a phone, in Chinese: a manager makes a keyword app in the wizard and tests it."""
from datetime import datetime, UTC

import pytest
import sqlalchemy as sa

from mcrm.core.clock import now_utc
from tests.browser.conftest import release_database, screenshot, sign_in
from tests.mcrm.keywords_support import phone, switched_on_app  # noqa: F401

pytestmark = pytest.mark.browser

#: a common phone today (the brief of this console); narrower than the conftest's PHONE on height only
PHONE = {"width": 390, "height": 844}


def no_sideways_scrolling(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def next_step(page):
    page.click("section.card form.form button[type=submit]")


def app_page_on_a_phone(open_page, staff, app_id: int):
    release_database()
    page = open_page(viewport=PHONE)
    sign_in(page, staff)
    page.goto(f"/keywords/apps/{app_id}")
    return page


def confirm_only_the_second_time(page, button):
    """Dismissing the browser's confirm leaves the button there (nothing happened); accepting acts."""
    page.once("dialog", lambda dialog: dialog.dismiss())
    button.click()
    assert button.is_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    page.wait_for_selector(".flash.success")


def test_on_a_phone_a_manager_makes_a_vote_in_the_wizard_and_tries_it_before_switching_it_on(open_page, make_staff):
    page = open_page(viewport=PHONE)
    sign_in(page, make_staff("manager"))
    page.goto("/keywords/")
    assert no_sideways_scrolling(page)
    page.click("a[href='/keywords/apps/new']")

    page.select_option("select[name=kind]", "vote")
    page.fill("input[name=name]", "新菜投票")
    next_step(page)
    page.fill("input[name=keywords]", "TP 投票")
    next_step(page)
    assert page.locator("[aria-current=step]").text_content().strip() == "3. 回复"
    assert no_sideways_scrolling(page)
    next_step(page)                                     # the default replies
    page.fill("textarea[name=options]", "1 红烧肉\n2 糖醋鱼")
    assert no_sideways_scrolling(page)
    next_step(page)

    page.wait_for_url("**/try")
    page.fill("input[name=text]", "投票 2")
    next_step(page)
    assert "投票成功：糖醋鱼" in page.locator("section.card p.flash").text_content()
    assert no_sideways_scrolling(page)
    screenshot(page, "keyword-wizard-try-phone")

    page.click("form[action$='/status'] button[type=submit]")
    page.wait_for_selector(".flash.success")
    assert page.locator(".stat .value").first.text_content().strip() == "启用中"
    assert no_sideways_scrolling(page)
    screenshot(page, "keyword-app-phone")


def test_on_a_phone_a_sign_up_is_cancelled_only_after_the_manager_confirms(open_page, make_staff, merchant, db,
                                                                           phone):
    from mcrm.keywords import services
    from mcrm.keywords.models import EventSignup
    app = services.create_keyword_app(merchant, kind="event", name="品鉴会")
    services.set_app_keywords(app, merchant, ["BM"])
    services.set_app_config(app, capacity=10, event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    services.activate_keyword_app(app)
    db.session.commit()
    phone.text("BM 2")
    page = app_page_on_a_phone(open_page, make_staff("manager"), app.id)
    assert no_sideways_scrolling(page)
    confirm_only_the_second_time(page, page.locator("form[action*='/cancel'] button"))  # first: nothing sent
    assert page.locator("form[action*='/cancel']").count() == 0
    screenshot(page, "keyword-event-cancelled-phone")
    release_database()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EventSignup)) == 0


def test_on_a_phone_a_manager_uploads_an_info_table_and_later_changes_a_limit_without_it(open_page, make_staff,
                                                                                         tmp_path):
    table = tmp_path / "订单.csv"
    table.write_bytes("单号,状态\nA001,制作中\n".encode("gb18030"))   # as Excel saves it in China
    page = open_page(viewport=PHONE)
    sign_in(page, make_staff("manager"))
    page.goto("/keywords/apps/new")
    page.select_option("select[name=kind]", "info")
    page.fill("input[name=name]", "订单查询")
    next_step(page)
    page.fill("input[name=keywords]", "CX")
    next_step(page)
    next_step(page)
    page.set_input_files("input[name=table]", str(table))
    next_step(page)
    page.wait_for_url("**/try")
    page.fill("input[name=text]", "CX a001")
    next_step(page)
    assert "状态:制作中" in page.locator("section.card p.flash").text_content()

    page.click("nav.toolbar a:has-text('4.')")
    page.fill("input[name=per_number_limit]", "3")
    next_step(page)                                     # no file chosen: the table stays
    page.wait_for_url("**/try")
    page.fill("input[name=text]", "CX A001")
    next_step(page)
    assert "状态:制作中" in page.locator("section.card p.flash").text_content()
    assert no_sideways_scrolling(page)
    screenshot(page, "keyword-info-try-phone")


def test_on_a_phone_a_clerk_looks_up_the_code_a_customer_shows_and_marks_it_redeemed(open_page, make_staff, merchant,
                                                                                     db, phone):
    from mcrm.keywords.models import CouponCode
    switched_on_app(merchant, "coupon", "满100减20", ["QUAN"], source="generated")
    sms = phone.text("QUAN", now=now_utc())[0]         # the counter redeems by the real clock
    code = db.session.scalar(sa.select(CouponCode.code))
    valid_through = sms.split("有效期至")[1][:10]
    clerk = make_staff("clerk")
    release_database()
    page = open_page(viewport=PHONE)
    sign_in(page, clerk)
    page.fill("input[name=code]", code.lower())        # from the dashboard, typed as the customer reads it
    page.click("form[action='/keywords/coupons'] button[type=submit]")
    card = page.locator("#coupon")
    assert "满100减20" in card.text_content() and "有效" in card.text_content()
    assert f"有效期至{valid_through}" in card.text_content().replace(" ", "").replace("\n", "")  # as the SMS said
    assert no_sideways_scrolling(page)
    screenshot(page, "coupon-look-up-phone")
    card.locator("button[type=submit]").click()
    page.wait_for_selector(".flash.success")
    assert "已核销" in page.locator("#coupon .badge").text_content()
    # one verdict: no second badge and no alert that it cannot be redeemed
    assert page.locator("#coupon .badge").count() == 1 and page.locator("#coupon [role=alert]").count() == 0
    assert page.locator("#coupon button[type=submit]").count() == 0
    release_database()
    assert db.session.scalar(sa.select(CouponCode.redeemed_at)) is not None


def test_on_a_phone_a_manager_ends_an_app_only_after_confirming(open_page, make_staff, merchant, db):
    from mcrm.keywords.models import KeywordApp
    app = switched_on_app(merchant, "autoreply", "双十一", ["SSY"])
    app.uses = 3                                          # it has answered texts: ended, not deleted
    db.session.commit()
    app_id = app.id
    page = app_page_on_a_phone(open_page, make_staff("manager"), app_id)
    confirm_only_the_second_time(page, page.locator("form[action$='/end'] button"))
    assert page.locator(".stat .value").first.text_content().strip() == "已结束"
    assert page.locator("form[action$='/status']").count() == 0
    assert no_sideways_scrolling(page)
    screenshot(page, "keyword-app-ended-phone")
    release_database()
    assert db.session.get(KeywordApp, app_id).status == "ended"


def test_an_owner_downloads_an_events_door_list_for_excel(open_page, make_staff, merchant, db, phone,
                                                           now):
    from datetime import timedelta
    from mcrm.members.services import enrol_member
    enrol_member(merchant, msisdn="+8613900139000", now=now, name="张三")
    app = switched_on_app(merchant, "event", "品鉴会", ["BM"], capacity=10, event_at=now + timedelta(days=3))
    phone.text("BM 2")
    page = app_page_on_a_phone(open_page, make_staff("owner"), app.id)
    with page.expect_download() as download_info:
        page.click("a[href$='records.csv?encoding=gb18030']")
    download = download_info.value
    assert download.suggested_filename.startswith(f"app-{app.id}-") and download.suggested_filename.endswith(".csv")
    lines = download.path().read_text(encoding="gb18030").splitlines()
    assert lines[0] == "手机,姓名,名额,状态,报名时间,提醒时间" and lines[1].startswith("+8613900139000,张三,2,已确认,")


def test_on_a_phone_a_reply_text_counts_its_characters_and_sms_while_typed(open_page, make_staff, merchant):
    """With the signature 【小王烧烤】 (6 characters), 64 Chinese characters are one SMS and 65 two; over 5
    SMS the counter turns to a warning, and the server refuses the text with the same limit."""
    page = open_page(viewport=PHONE)
    sign_in(page, make_staff("manager"))
    page.goto("/keywords/replies#stop")
    box = page.locator("#stop textarea")
    counter = page.locator("#stop .sms-counter")
    box.fill("")                                        # empty: the default text is what goes out
    assert "个字，1 条短信" in counter.text_content()
    box.fill("长" * 64)
    assert counter.text_content() == "70 个字，1 条短信（含签名，最多 5 条）"
    box.fill("长" * 65)
    assert counter.text_content().startswith("71 个字，2 条短信")
    assert "over" not in counter.get_attribute("class")
    box.fill("长" * 330)
    assert counter.text_content().startswith("336 个字，6 条短信")
    assert "over" in counter.get_attribute("class")
    assert no_sideways_scrolling(page)
    screenshot(page, "reply-text-counter-phone")
    page.click("#stop button[value=save]")
    assert "最多 5 条短信" in page.locator("#stop .error").text_content()
