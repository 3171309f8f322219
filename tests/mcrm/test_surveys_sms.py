"""A survey answered by SMS through the real inbox and keyword engine, with the clock in hand."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.extensions import db as _db
from mcrm.members.services import find_member_by_msisdn
from mcrm.surveys.models import SurveyAnswer, SurveySession
from mcrm.surveys.services import add_question, create_survey
from tests.mcrm.keywords_support import CONSUMER, phone  # noqa: F401

INTRO = "小馆满意度调查，3题。"


@pytest.fixture
def survey(merchant, db):
    made = create_survey(merchant, code="Q1", title="满意度", intro=INTRO, thanks="谢谢参与！",
                         is_active=True, max_reasks=1)
    add_question(made, kind="single", text="1.菜品如何？A好吃 B一般 C难吃", options=["好吃", "一般", "难吃"],
                 branches="C=3")
    add_question(made, kind="multiple", text="2.喜欢什么？A菜品 B环境 C服务（可多选）", options=["菜品", "环境", "服务"])
    add_question(made, kind="text", text="3.有什么建议？")
    db.session.commit()
    return made


def answers():
    return _db.session.execute(sa.select(SurveyAnswer.position, SurveyAnswer.value)
                               .order_by(SurveyAnswer.id)).all()


def test_a_whole_survey_by_sms_with_answers_stored_as_they_come(phone, survey):
    assert phone.text("DC Q1") == [f"{INTRO}\n1.菜品如何？A好吃 B一般 C难吃"]
    assert phone.text("ａ") == ["2.喜欢什么？A菜品 B环境 C服务（可多选）"]
    assert answers() == [(1, "A")]
    assert phone.text("A、C") == ["3.有什么建议？"]
    assert phone.text("上菜快一点") == ["谢谢参与！"]
    assert answers() == [(1, "A"), (2, "A,C"), (3, "上菜快一点")]
    session = _db.session.scalar(sa.select(SurveySession))
    assert session.completed_at is not None


def test_a_free_text_answer_is_stored_as_sent_and_choices_still_read_full_width(phone, survey):
    phone.text("ＤＣ　Ｑ１")
    phone.text("Ｃ")                                  # full-width still chooses C, which branches to 3
    assert phone.text("太咸了，少放盐！（Ａ套餐）") == ["谢谢参与！"]
    assert answers() == [(1, "C"), (3, "太咸了，少放盐！（Ａ套餐）")]
    assert _db.session.scalars(sa.select(SurveyAnswer.text)).all() == ["Ｃ", "太咸了，少放盐！（Ａ套餐）"]


def test_a_branch_skips_to_its_question(phone, survey):
    phone.text("DC")
    assert phone.text("难吃") == ["3.有什么建议？"]


def test_an_invalid_answer_is_asked_again_then_skipped(phone, survey):
    phone.text("DC")
    reask = phone.text("还行吧")
    assert len(reask) == 1 and reask[0].endswith("1.菜品如何？A好吃 B一般 C难吃") and "请按提示" in reask[0]
    assert answers() == []
    assert phone.text("不知道") == ["2.喜欢什么？A菜品 B环境 C服务（可多选）"]  # max_reasks=1: skipped
    assert answers() == [(1, "")]


def test_a_keyword_that_can_be_an_answer_is_the_answer(phone, survey, merchant, db):
    from mcrm.keywords import services
    app = services.create_keyword_app(merchant, kind="autoreply", name="一号")
    services.set_app_keywords(app, merchant, ["A"])
    services.set_app_replies(app, {"reply": "A套餐今日八折"})
    services.activate_keyword_app(app)
    db.session.commit()
    assert phone.text("A") == ["A套餐今日八折"]
    phone.text("DC")
    assert phone.text("A") == ["2.喜欢什么？A菜品 B环境 C服务（可多选）"]
    assert answers() == [(1, "A")]


def test_a_keyword_that_cannot_be_an_answer_runs_and_the_survey_waits(phone, survey):
    phone.text("DC")
    assert "ZC" in phone.text("帮助")[0]
    assert answers() == []
    assert phone.text("B") == ["2.喜欢什么？A菜品 B环境 C服务（可多选）"]


def test_stop_wins_even_when_it_could_be_an_answer(phone, survey, merchant, make_member):
    make_member(msisdn=CONSUMER)
    phone.text("DC")
    phone.text("TD")
    assert find_member_by_msisdn(merchant, CONSUMER).opted_out
    assert answers() == []


def test_a_texter_resumes_where_they_stopped_within_the_timeout(phone, survey, now):
    phone.text("DC")
    phone.text("A")
    later = now + timedelta(hours=20)
    assert phone.text("DC", now=later) == ["2.喜欢什么？A菜品 B环境 C服务（可多选）"]
    assert phone.text("B", now=later + timedelta(hours=20)) == ["3.有什么建议？"]  # the timeout slides
    assert answers() == [(1, "A"), (2, "B")]


def test_the_session_closes_after_the_timeout(phone, survey, now):
    phone.text("DC")
    replies = phone.text("A", now=now + timedelta(hours=24, minutes=1))
    assert answers() == []
    assert "ZC" in replies[0]  # no survey any more: the help for an unknown text


def test_one_open_survey_per_number(phone, survey, merchant, db):
    other = create_survey(merchant, code="Q2", title="环境", intro="环境打几分？", is_active=True)
    db.session.commit()
    phone.text("DC Q1")
    assert phone.text("DC Q2") == ["环境打几分？"]
    sessions = db.session.scalars(sa.select(SurveySession).order_by(SurveySession.id)).all()
    assert [s.finished_at is not None for s in sessions] == [True, False]
    assert sessions[1].survey_id == other.id


def test_completing_rewards_a_member_once(phone, survey, merchant, make_member, db):
    survey.reward_points = 50
    db.session.commit()
    member = make_member(msisdn=CONSUMER)
    for _ in range(2):
        phone.text("DC")
        phone.text("C")
        replies = phone.text("没有")
    assert replies == ["谢谢参与！"]  # the second time, no points and no mention of them
    db.session.refresh(member)
    assert member.points_balance == 50


def test_the_first_completion_says_the_reward(phone, survey, make_member, db):
    survey.reward_points = 50
    db.session.commit()
    make_member(msisdn=CONSUMER)
    phone.text("DC")
    phone.text("C")
    assert phone.text("没有") == ["谢谢参与！已赠送您50积分。"]


def test_a_survey_before_it_opens_or_after_it_closes_takes_no_texts(phone, survey, now, db):
    survey.opens_at = now + timedelta(days=1)
    db.session.commit()
    assert "没有进行中的调查" in phone.text("DC")[0]
    survey.opens_at, survey.closes_at = None, now + timedelta(hours=1)
    db.session.commit()
    phone.text("DC")
    assert "ZC" in phone.text("A", now=now + timedelta(hours=2))[0]
    assert answers() == []


def test_the_survey_extension_starts_it_without_a_keyword(phone, survey, db):
    survey.extension = "71"
    db.session.commit()
    assert phone.text("hi", extension="71") == [f"{INTRO}\n1.菜品如何？A好吃 B一般 C难吃"]
    assert phone.text("B", extension="71") == ["2.喜欢什么？A菜品 B环境 C服务（可多选）"]


def test_results_count_rates_tallies_and_free_text(phone, survey, db):
    from mcrm.surveys.charts import bar_chart
    from mcrm.surveys.services import survey_results
    phone.text("DC")
    phone.text("A")
    phone.text("AC")
    phone.text("<b>好</b>")
    phone.text("DC", msisdn="+8613900139001")
    phone.text("C", msisdn="+8613900139001")
    phone.text("DC", msisdn="+8613900139002")
    results = survey_results(survey)
    assert (results.started, results.answered, results.completed) == (3, 2, 1)
    assert results.rate(results.completed) == 33.3
    first, second, third = results.questions
    assert first.counts == [("A 好吃", 1), ("B 一般", 0), ("C 难吃", 1)]
    assert second.counts == [("A 菜品", 1), ("B 环境", 0), ("C 服务", 1)]
    assert third.texts == ["<b>好</b>"]
    svg = bar_chart(first.counts)
    assert svg.count("<rect") == 3 and "&lt;" not in svg
    assert "&lt;b&gt;" in bar_chart([("<b>好</b>", 1)])
