"""A manager cannot become the owner through any page: the owner's SMS login code shows nowhere."""
import re

import pytest
import sqlalchemy as sa

from mcrm.messaging.models import OutboundMessage
from tests.browser.conftest import release_database, screenshot, sign_in
from tests.mcrm.keywords_support import sent_to_phones

pytestmark = pytest.mark.browser

OWNER_PHONE = "+8613600136000"


def test_a_manager_asks_a_code_for_the_owner_and_never_sees_it(app, db, open_page, make_staff, make_member, now):
    """Before, the code stood in the message log, the message's page and the simulator thread."""
    owner = make_staff("owner", msisdn=OWNER_PHONE)
    manager = make_staff("manager", msisdn="+8613700137000")
    make_member(msisdn="13800138000", name="老王")
    owner_name = owner.username
    release_database()

    login_page = open_page()  # the manager, signed out, on the login page
    login_page.goto("/login/code/")
    login_page.fill("input[name=identifier]", owner_name)
    login_page.click("form.form button[type=submit]")
    login_page.wait_for_url("**/login/code/verify")

    console = open_page()
    sign_in(console, manager)
    message_id = db.session.scalar(sa.select(OutboundMessage.id).where(OutboundMessage.msisdn == OWNER_PHONE))
    release_database()
    seen = {}
    for url in ("/messages/", f"/messages/{message_id}", "/messages/simulator?msisdn=%2B8613600136000"):
        console.goto(url)
        seen[url] = console.text_content("main")
        assert "验证码******" in seen[url], url
    screenshot(console, "login-code-masked-in-simulator")

    # the simulator does not text DL (or any command) from the owner's phone for the manager
    console.fill("input[name=msisdn]", "13600136000")
    console.fill("textarea[name=text]", "DL")
    console.click("form.form button.primary")
    assert "13600136000" in console.locator(".flash.error").text_content()
    seen["simulator DL"] = console.text_content("main")
    for url in ("/messages/simulator/thread?msisdn=%2B8613600136000", "/members/export.csv",
                "/messages/daily", "/"):
        seen[url] = console.request.get(url).text()
    assert console.request.get("/members/export.csv").status == 403   # member data: owners only

    [(to, text)] = sent_to_phones(app, now)  # only the owner's phone gets the code
    code = re.search(r"验证码(\d{6})", text).group(1)
    assert to == OWNER_PHONE
    for where, content in seen.items():
        assert code not in content and not re.search(r"验证码\d", content), where

    login_page.fill("input[name=code]", "000000" if code != "000000" else "111111")
    login_page.click("form.form button[type=submit]")
    login_page.locator(".flash.error").wait_for(state="visible")  # the refusal's page, not the form's
    assert login_page.url.endswith("/login/code/verify")  # still signed out
    login_page.fill("input[name=code]", code)  # the owner, with their phone, signs in
    login_page.click("form.form button[type=submit]")
    login_page.wait_for_url("**/")
    assert owner_name in login_page.text_content("header")
