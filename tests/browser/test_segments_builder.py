"""The segment builder on a phone: an AND/OR segment built with taps, its live count, saved, and the
member list filtered by it. Screenshots in test-artifacts/browser/."""
import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
ROOT = ".seg-group.root"


def test_a_manager_builds_an_and_or_segment_on_a_phone_and_filters_the_members_by_it(
        open_page, make_staff, make_member, db):
    manager = make_staff("manager")
    gold_may = make_member(name="金五月", birthday="19900512")
    gold_regular = make_member(name="金常客", tags=["常客"])
    gold_june = make_member(name="金六月", birthday="19900612")
    silver_may = make_member(name="银五月", birthday="19900501")
    for member, tier in ((gold_may, "金卡"), (gold_regular, "金卡"), (gold_june, "金卡"), (silver_may, "银卡")):
        member.tier = tier
    db.session.commit()
    expected = sorted(str(m.id) for m in (gold_may, gold_regular))

    page = open_page(viewport=PHONE)
    sign_in(page, manager)
    page.goto("/segments/new")
    page.fill("input[name=name]", "金卡五月或常客")
    # 金卡 AND (birthday in May OR tagged 常客)
    page.click(f"{ROOT} > .seg-actions .seg-add-condition")
    tier = f"{ROOT} > .items > .seg-cond"
    page.select_option(f"{tier} select.seg-type", "tier")
    page.check(f"{tier} [data-param=tiers] input[value=金卡]")
    page.click(f"{ROOT} > .seg-actions .seg-add-group")
    group = f"{ROOT} > .items > .seg-group"
    assert page.input_value(f"{group} > .seg-head select") == "or"
    page.select_option(f"{group} .seg-cond:nth-child(1) select.seg-type", "birthday_month")
    page.fill(f"{group} .seg-cond:nth-child(1) [data-param=month] input", "5")
    page.click(f"{group} > .seg-actions .seg-add-condition")
    page.select_option(f"{group} .seg-cond:nth-child(2) select.seg-type", "tags")
    page.fill(f"{group} .seg-cond:nth-child(2) [data-param=tags] input", "常客")

    page.wait_for_function("document.getElementById('segment-count').dataset.count === '2'")
    assert page.text_content("#segment-description") == "金卡 且 （5月生日 或 标签常客）"
    assert len(page.query_selector_all("#segment-sample li")) == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "segment-builder-phone")

    with page.expect_navigation():
        page.click("#segment-form button[type=submit]")
    assert "金卡五月或常客" in page.text_content("main")
    assert "金卡 且 （5月生日 或 标签常客）" in page.text_content("main")
    with page.expect_navigation():
        page.click(".segment a.button")
    shown = sorted(page.eval_on_selector_all("tr[data-member]", "rows => rows.map(r => r.dataset.member)"))
    assert shown == expected
    assert "金卡五月或常客" in page.text_content("[data-segment]")
    screenshot(page, "segment-member-list-phone")


def test_a_number_answer_to_a_survey_is_a_condition_with_a_decimal_bound(open_page, make_staff, make_member,
                                                                         merchant, now, db):
    from mcrm.surveys import services
    manager = make_staff("manager")
    survey = services.create_survey(merchant, code="W1", title="斤数", intro="调查", is_active=True, max_reasks=0)
    services.add_question(survey, kind="single", text="来过吗？A来过 B没有", options=["来过", "没有"])
    services.add_question(survey, kind="number", text="买几斤？")
    for n, replies in enumerate((["A", "3.5斤"], ["A", "3"], ["B", "不知道"])):
        member = make_member(name=f"买家{n}")
        session, _resumed = services.start_survey(merchant, msisdn=member.msisdn, now=now, survey=survey)
        for reply in replies:
            services.record_answer(session, reply, now=now)
    db.session.commit()

    page = open_page(viewport=PHONE)
    sign_in(page, manager)
    page.goto("/segments/new")
    page.fill("input[name=name]", "买3.5斤以上")
    page.click(f"{ROOT} > .seg-actions .seg-add-condition")
    condition = f"{ROOT} > .items > .seg-cond"
    page.select_option(f"{condition} select.seg-type", "survey_number")
    # only the number question is offered
    offered = page.eval_on_selector_all(f"{condition} [data-param=question_id] option",
                                        "options => options.map(o => o.textContent)")
    assert offered[1:] == ["W1 · 2. 买几斤？"]
    page.select_option(f"{condition} [data-param=question_id] select", label="W1 · 2. 买几斤？")
    bound = f"{condition} [data-param=min] input"
    assert (page.get_attribute(bound, "type"), page.get_attribute(bound, "step")) == ("number", "any")
    page.fill(bound, "3.5")
    page.wait_for_function("document.getElementById('segment-count').dataset.count === '1'")
    assert page.text_content("#segment-description") == "W1 · 2. 买几斤？ 回答的数字≥3.5"
    with page.expect_navigation():
        page.click("#segment-form button[type=submit]")
    assert "W1 · 2. 买几斤？ 回答的数字≥3.5" in page.text_content("main")
