"""A survey built on a phone (360 px, Chinese): single choice with a branch, a rating and free text;
opened, answered by three phones in the console's phone simulator (an invalid answer and its re-ask,
the branch, one texter who stops halfway), then the results page: the rates, the bars of the charts
and the free-text answers are the answers given. The builder at desktop size: questions moved, and
a move that would turn a branch backwards refused. Screenshots in test-artifacts/browser/survey-*.png."""
import re

import pytest

from mcrm.jobs.tasks import process_inbound_sms
from tests.browser.conftest import DESKTOP, release_database, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
INTRO = "小王烧烤满意度调查，共3题。"
Q1 = "1.菜品如何？A好吃 B一般 C难吃"
Q2 = "2.服务打几分？回复1-5"
Q3 = "3.有什么建议？"
THANKS = "谢谢参与！"


def no_sideways_scrolling(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def build_survey(page, width: int, code: str) -> str:
    """Create the survey and its three questions through the builder's forms; returns its page's URL."""
    page.click("a[href='/surveys/new']")
    page.fill("input[name=code]", code)
    page.fill("input[name=title]", "满意度")
    page.fill("textarea[name=intro]", INTRO)
    page.fill("textarea[name=thanks]", THANKS)
    no_sideways_scrolling(page, width)
    with page.expect_navigation():
        page.click("#survey-form button[type=submit]")
    assert code in page.inner_text(".flash")  # as typed; DC q1 and DC Q1 alike start it
    edit_url = page.url
    for kind, text, options, branches in (("single", Q1, "好吃\n一般\n难吃", "C=3"), ("rating5", Q2, "", ""),
                                          ("text", Q3, "", "")):
        page.click("a[href$='/questions/new']")
        page.select_option("select[name=kind]", kind)
        page.fill("textarea[name=text]", text)
        page.fill("textarea[name=options]", options)
        page.fill("textarea[name=branches]", branches)
        no_sideways_scrolling(page, width)
        with page.expect_navigation():
            page.click("#question-form button[type=submit]")
        assert page.url == edit_url
    return edit_url


def question_texts(page) -> list[str]:
    return [re.sub(r"\s+", " ", text) for text in page.locator("#survey-questions > li").all_inner_texts()]


def test_on_a_phone_a_survey_is_built_answered_in_the_simulator_and_its_results_read(open_page, make_staff):
    manager = make_staff("manager", msisdn="13900139009")
    release_database()
    page = open_page(viewport=PHONE)
    sign_in(page, manager)
    page.click("#nav-toggle + label")                 # the phone's menu
    page.click("nav a[href='/surveys/']")
    page.wait_for_url("**/surveys/")
    edit_url = build_survey(page, PHONE["width"], "Q1")
    texts = question_texts(page)
    assert len(texts) == 3 and Q1 in texts[0] and "C→3" in texts[0] and Q3 in texts[2]
    with page.expect_navigation():
        page.click("#survey-state button[type=submit]")  # open it
    assert page.inner_text(".flash") == "问卷 Q1 已开启"
    no_sideways_scrolling(page, PHONE["width"])
    screenshot(page, "survey-builder-phone")

    def text(msisdn: str, body: str) -> str:
        """Send ``body`` from the simulator as ``msisdn``, answer the inbox, and read the reply in
        the thread (reloaded: its own refresh every 2 s is tested in test_phone_layout.py)."""
        page.goto("/messages/simulator")
        page.fill("input[name=msisdn]", msisdn)
        page.fill("textarea[name=text]", body)
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
        replies = page.locator(".bubble.theirs").count()   # the thread of this number, the text in it
        release_database()
        assert process_inbound_sms("browser-test") == 1
        release_database()
        page.reload()
        assert page.locator(".bubble.theirs").count() == replies + 1
        return re.sub(r"^【[^】]*】", "", page.locator(".bubble.theirs .body").last.inner_text())

    first, second, third = "13800138001", "13800138002", "13800138003"
    assert text(first, "DC Q1").startswith(f"{INTRO}\n{Q1}")
    reask = text(first, "还行吧")                      # no option: asked again, nothing stored
    assert "请按提示作答" in reask and Q1 in reask
    assert text(first, "a").startswith(Q2)
    assert text(first, "5分").startswith(Q3)
    assert text(first, "上菜快一点").startswith(THANKS)
    screenshot(page, "survey-simulator-phone")
    no_sideways_scrolling(page, PHONE["width"])
    assert text(second, "DC Q1").startswith(INTRO)
    assert text(second, "难吃").startswith(Q3)          # the branch C=3 skips the rating
    assert text(second, "太咸了少放盐").startswith(THANKS)
    assert text(third, "DC").startswith(INTRO)
    assert text(third, "1").startswith(Q2)              # 1 is A
    assert text(third, "4").startswith(Q3)              # and stops there

    page.goto(edit_url)
    page.click("#survey-state a[href$='/results']")
    page.wait_for_url("**/results")
    figures = {key: page.inner_text(f"[data-figure={key}]") for key in ("started", "answered", "completed")}
    assert figures == {"started": "3", "answered": "3 (100.0%)", "completed": "2 (66.7%)"}
    choice = page.locator("section[data-question='1'] svg.chart")
    labels = choice.locator("text").all_text_contents()
    assert labels == ["A 好吃", "2", "B 一般", "0", "C 难吃", "1"]
    widths = [float(w) for w in choice.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('width'))")]
    assert widths[0] > 0 and widths[1] == 0 and widths[2] == pytest.approx(widths[0] / 2, abs=1)
    rating = page.locator("section[data-question='2'] svg.chart text").all_text_contents()
    assert rating == ["1", "0", "2", "0", "3", "0", "4", "1", "5", "1"]
    assert page.locator("section[data-question='3'] .survey-texts li").all_inner_texts() == \
        ["太咸了少放盐", "上菜快一点"]
    assert "还行吧" not in page.inner_text("main")      # the invalid answer is no answer
    no_sideways_scrolling(page, PHONE["width"])
    screenshot(page, "survey-results-phone")


def test_at_desktop_size_the_builder_moves_questions_and_refuses_a_backward_branch(open_page, make_staff):
    manager = make_staff("manager")
    release_database()
    page = open_page(viewport=DESKTOP)
    sign_in(page, manager)
    page.click("nav a[href='/surveys/']")
    build_survey(page, DESKTOP["width"], "D1")
    assert [Q1 in t for t in question_texts(page)] == [True, False, False]

    def move(position: int, direction: str) -> None:
        with page.expect_navigation():
            page.click(f"#survey-questions > li:nth-child({position}) input[value={direction}] + button")

    move(3, "up")                                      # free text before the rating; C now leads to 2
    texts = question_texts(page)
    assert Q3 in texts[1] and Q2 in texts[2] and "C→2" in texts[0]
    move(2, "up")                                      # would put the branch's target before question 1
    assert page.locator(".flash.error").count() == 1
    assert question_texts(page) == texts               # the refused move kept nothing
    screenshot(page, "survey-builder-desktop")
    assert page.locator("#survey-form").bounding_box()["width"] <= DESKTOP["width"]
