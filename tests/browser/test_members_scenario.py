"""The issue's scenario in a real browser: add a member, record a purchase, see balance and tier,
import a CSV with a bad row and see that row's error."""
import pytest

from tests.browser.conftest import PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def manager_page(open_page, make_staff):
    page = open_page(locale="en-US")
    sign_in(page, make_staff("manager"))
    return page


def test_add_a_member_record_a_purchase_and_see_balance_and_tier(manager_page, merchant, db):
    merchant.tier_basis = "rolling_12_months"  # the option under which a purchase counts at once
    db.session.commit()
    page = manager_page
    page.goto("/members/")
    page.click("a[href='/members/new']")
    page.fill("input[name=msisdn]", "138 0013 8000")
    page.fill("input[name=name]", "张三")
    page.fill("input[name=birthday]", "1990-03-15")
    page.click("form.form button[type=submit]")
    page.wait_for_selector("[data-stat=balance]")
    assert "+8613800138000" in page.text_content("h1")
    assert page.text_content("[data-stat=tier]").strip() == "贵宾卡"
    before = page.text_content("[data-stat=balance]").strip()

    page.fill("input[name=amount]", "1200")
    page.click("form[action$='/purchase'] button[type=submit]")
    page.wait_for_function(
        "old => document.querySelector('[data-stat=balance]').textContent.trim() !== old", arg=before)
    # ¥1200 spent in the last 12 months reach 银卡 (from 1000)
    assert int(page.text_content("[data-stat=balance]")) == int(before) + 1200
    assert page.text_content("[data-stat=tier]").strip() == "银卡"
    parts = page.text_content("[data-stat=tier-parts]").strip()
    assert parts == "spent ¥1200 in the last 12 months + tenure bonus 0"
    assert page.locator("table.ledger tbody tr").count() >= 1
    screenshot(page, "member-after-purchase")

    page.goto("/members/?q=8000")
    row = page.locator("tr[data-member]")
    assert row.count() == 1
    assert "张三" in row.text_content()


def test_import_with_a_bad_row_imports_the_good_rows_and_shows_the_bad_rows_line(manager_page, tmp_path):
    page = manager_page
    csv_file = tmp_path / "members.csv"
    csv_file.write_bytes("手机号,姓名\n13900139001,李四\n12345,坏号码\n13900139003,王五\n".encode("gb18030"))
    page.goto("/members/import")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("form.form button[type=submit]")
    page.wait_for_selector("select[name=column-0]")
    assert page.input_value("select[name=column-0]") == "msisdn"
    page.click("form.form button[type=submit]")

    page.wait_for_selector("table.import-errors", timeout=20_000)
    assert page.text_content("[data-field=imported]").strip() == "2"
    assert page.text_content("[data-field=failed]").strip() == "1"
    bad_row = page.locator("table.import-errors tbody tr")
    assert bad_row.count() == 1
    assert bad_row.locator("td").first.text_content().strip() == "3"  # the header is line 1
    assert "12345" in bad_row.text_content()
    screenshot(page, "import-with-bad-row")

    page.goto("/members/")
    assert page.locator("tr[data-member]").count() == 2


def test_on_a_phone_a_manager_puts_a_caller_on_the_opt_out_list(open_page, make_staff):
    page = open_page(viewport=PHONE, locale="en-US")
    sign_in(page, make_staff("manager"))
    page.goto("/members/")
    page.click("a[href='/members/opt-outs']")
    page.fill("input[name=msisdn]", "139 0013 9000")
    page.fill("input[name=note]", "called the shop")
    page.click("form.form button[type=submit]")
    page.wait_for_selector(".flash")
    row = page.locator("tr[data-opt-out]")
    assert row.count() == 1 and "+8613900139000" in row.text_content()
    assert "called the shop" in row.text_content()
    # the phone layout stacks the table: nothing may scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "opt-out-list-phone")


def test_a_file_without_column_names_imports_with_the_welcome_sms_ticked_on_the_page(manager_page, tmp_path, db):
    import sqlalchemy as sa

    from mcrm.messaging.models import OutboundMessage
    page = manager_page
    csv_file = tmp_path / "members.csv"
    csv_file.write_bytes("13900139001,李四\n13900139002,王五\n139 0013 9001,李四again\n".encode("gb18030"))
    page.goto("/members/import")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("form.form button[type=submit]")
    assert "looks like a member (13900139001)" in page.text_content("form.form")

    page.set_input_files("input[name=file]", str(csv_file))
    page.check("input[name=first_line_is_data]")
    page.click("form.form button[type=submit]")
    page.wait_for_selector("select[name=column-0]")
    assert page.input_value("select[name=column-0]") == "msisdn"
    page.select_option("select[name=column-1]", "name")
    assert not page.is_checked("input[name=welcome_sms]")  # the merchant's setting: off
    page.check("input[name=welcome_sms]")
    page.click("form.form button[type=submit]")

    page.wait_for_selector("table.import-errors", timeout=20_000)
    assert page.text_content("[data-field=imported]").strip() == "2"
    bad_row = page.locator("table.import-errors tbody tr")
    assert bad_row.locator("td").first.text_content().strip() == "3"  # no header: the first line is 1
    assert "already on line 1" in bad_row.text_content()
    db.session.rollback()
    assert sorted(db.session.scalars(sa.select(OutboundMessage.msisdn))) == ["+8613900139001", "+8613900139002"]
