"""Survey answers as segment conditions, on a real database (SQLite, and PostgreSQL with
MCRM_TEST_DATABASE_URL): answered, completed or not, an option chosen, a rating in a range; each hits
and misses, stays within the merchant, and reads in plain words."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.segments import services
from mcrm.segments.services import member_ids_select
from mcrm.surveys.services import add_question, create_survey, record_answer, start_survey


@pytest.fixture
def survey(merchant):
    made = create_survey(merchant, code="Q1", title="满意度", intro="调查", is_active=True, max_reasks=0)
    add_question(made, kind="single", text="1.口味？A好 B差", options=["好", "差"])
    add_question(made, kind="multiple", text="2.喜欢？A菜 B环境 C服务", options=["菜", "环境", "服务"])
    add_question(made, kind="rating5", text="3.打分1-5")
    db.session.commit()
    return made


@pytest.fixture
def answer(merchant, survey, now):
    """answer(member, *texts): the member starts the survey and sends the texts in turn."""
    def run(member, *texts, merchant=merchant, chosen=survey):
        session, _resumed = start_survey(merchant, msisdn=member.msisdn, now=now, survey=chosen, member=member)
        for n, text in enumerate(texts):
            record_answer(session, text, now=now + timedelta(minutes=n + 1), member=member)
        db.session.commit()
    return run


def ids(merchant, now, *items, op="and"):
    query = member_ids_select(merchant.id, {"op": op, "items": list(items)}, now=now)
    return sorted(db.session.scalars(query))


def questions(survey):
    from mcrm.surveys.services import list_questions
    return [q.id for q in list_questions(survey)]


def test_answered_completed_and_the_answers_themselves(merchant, make_member, survey, answer, now):
    done = make_member(msisdn="13800000001")
    half = make_member(msisdn="13800000002")
    started = make_member(msisdn="13800000003")
    never = make_member(msisdn="13800000004")
    answer(done, "A", "A C", "5")
    answer(half, "B", "B")
    answer(started)
    q1, q2, q3 = questions(survey)
    assert ids(merchant, now, {"type": "survey_answered", "survey_id": survey.id}) == [done.id, half.id]
    assert ids(merchant, now, {"type": "survey_answered"}) == [done.id, half.id]
    assert ids(merchant, now, {"type": "survey_answered", "period": {"days": 1}}) == [done.id, half.id]
    completed = {"type": "survey_completion", "survey_id": survey.id}
    assert ids(merchant, now, completed) == [done.id]
    assert ids(merchant, now, {**completed, "completed": "no"}) == [half.id, started.id]
    # "not" stays exact: everybody who did not complete, the never-invited included
    assert ids(merchant, now, {"op": "not", "items": [completed]}) == [half.id, started.id, never.id]
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q1, "options": ["A"]}) == [done.id]
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q2, "options": ["C"]}) == [done.id]
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q2, "options": ["B", "C"]}) == [
        done.id, half.id]
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q3, "min": 4}) == [done.id]
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q3, "max": 4}) == []


def test_a_skipped_answer_matches_no_option_and_no_rating(merchant, make_member, survey, answer, now):
    member = make_member(msisdn="13800000001")
    answer(member, "不知道", "随便", "很好")          # max_reasks=0: every one is kept empty and skipped
    q1, _q2, q3 = questions(survey)
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q3, "min": 0}) == []
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q1, "options": ["A", "B"]}) == []
    assert ids(merchant, now, {"type": "survey_completion", "survey_id": survey.id}) == [member.id]


def test_another_merchants_sessions_and_surveys_stay_apart(merchant, make_merchant, make_member, survey,
                                                         answer, now):
    other = make_merchant(name="别家", sub_code="02")
    theirs = create_survey(other, code="Q1", title="别家调查", intro="调查", is_active=True)
    add_question(theirs, kind="single", text="A好 B差", options=["好", "差"])
    db.session.commit()
    mine = make_member(msisdn="13800000001")
    make_member(merchant=other, msisdn="13800000001")
    answer(mine)   # started here only
    start = start_survey(other, msisdn=mine.msisdn, now=now, survey=theirs)[0]
    record_answer(start, "A", now=now)
    db.session.commit()
    assert ids(merchant, now, {"type": "survey_answered"}) == []
    with pytest.raises(ValidationError, match="no longer exists"):
        services.check_definition(merchant.id, {"type": "survey_completion", "survey_id": theirs.id})
    with pytest.raises(ValidationError, match="no longer exists"):
        services.check_definition(merchant.id, {"type": "survey_answer", "question_id": questions(theirs)[0],
                                                "options": ["A"]})


def test_an_answer_condition_needs_options_or_a_range_not_both(merchant, survey):
    q1 = questions(survey)[0]
    for wrong in ({}, {"options": ["A"], "min": 3}, {"min": 4, "max": 2}, {"options": ["K"]}, {"min": 11}):
        with pytest.raises(ValidationError):
            services.check_definition(merchant.id, {"type": "survey_answer", "question_id": q1, **wrong})


def test_the_conditions_in_plain_words_and_in_the_builder(app, merchant, survey):
    q1, _q2, q3 = questions(survey)
    definition = {"op": "and", "items": [
        {"type": "survey_answered", "survey_id": survey.id, "period": {"days": 30}},
        {"type": "survey_completion", "survey_id": survey.id, "completed": "no"},
        {"type": "survey_answer", "question_id": q1, "options": ["A", "B"]},
        {"type": "survey_answer", "question_id": q3, "min": 4}]}
    assert services.describe(merchant.id, definition, locale="en") == (
        "Answered survey Q1 · 满意度 in the last 30 days and started survey Q1 · 满意度 without completing it"
        " and answered Q1 · 1. 1.口味？A好 B差 with A or B and rated Q1 · 3. 3.打分1-5 at least 4")
    with app.test_request_context():
        offered = {c["type"]: c for c in services.builder_vocabulary(merchant.id)}
    assert offered["survey_answer"]["params"][0]["choices"][0] == [q1, "Q1 · 1. 1.口味？A好 B差"]
    assert [v for v, _label in offered["survey_answer"]["params"][1]["choices"]][:3] == ["A", "B", "C"]
    assert offered["survey_completion"]["params"][0]["choices"] == [[survey.id, "Q1 · 满意度"]]


def test_a_condition_keeps_its_meaning_because_a_started_survey_keeps_its_order(merchant, make_member, survey,
                                                                               answer, now):
    from mcrm.surveys.services import move_question, remove_question
    member = make_member(msisdn="13800000001")
    answer(member, "A", "B", "5")
    q1, q2, q3 = questions(survey)
    rated = {"type": "survey_answer", "question_id": q3, "min": 5}
    assert ids(merchant, now, rated) == [member.id]
    for edit in (lambda: move_question(survey, q3, -1), lambda: remove_question(survey, q2)):
        with pytest.raises(ValidationError, match="People have started this survey"):
            edit()
        db.session.rollback()
    assert ids(merchant, now, rated) == [member.id]
    assert ids(merchant, now, {"type": "survey_answer", "question_id": q2, "options": ["B"]}) == [member.id]


@pytest.fixture
def weighed(merchant):
    """A survey of two number questions: how many jin, and how many visits."""
    made = create_survey(merchant, code="W1", title="斤数", intro="调查", is_active=True, max_reasks=0)
    add_question(made, kind="number", text="1.买几斤？")
    add_question(made, kind="number", text="2.来几次？")
    db.session.commit()
    return made


def test_a_number_answer_at_least_at_most_or_between(merchant, make_member, weighed, answer, now):
    from mcrm.surveys.models import SurveyAnswer, SurveySession
    small, big, minus, skipped, odd = (make_member(msisdn=f"1380000000{n}") for n in range(1, 6))
    answer(small, "3.5斤", "2次", chosen=weighed)
    answer(big, "１２", "10", chosen=weighed)
    answer(minus, "-2", "0", chosen=weighed)
    answer(skipped, "不知道", "十", chosen=weighed)     # max_reasks=0: kept empty, skipped
    answer(odd, chosen=weighed)
    # texts that are no number in the stored form: neither may match, nor fail PostgreSQL's cast
    session = db.session.scalars(sa.select(SurveySession).where(SurveySession.msisdn == odd.msisdn)).one()
    for value in ("abc", "1.2.3", "٣", "3.", ".5", "--1", "1e3", " 4"):
        db.session.add(SurveyAnswer(session_id=session.id, survey_id=weighed.id, position=1, text=value,
                                    value=value, received_at=now))
    db.session.commit()
    q1, q2 = questions(weighed)

    def number(**bounds):
        return ids(merchant, now, {"type": "survey_number", "question_id": q1, **bounds})
    assert number(min="3.5") == [small.id, big.id]
    assert number(min=4) == [big.id]
    assert number(max="3.5") == [small.id, minus.id]
    assert number(min="-2", max="3.49") == [minus.id]
    assert number(min="-100") == [small.id, big.id, minus.id]   # a skipped or odd text is no number
    assert ids(merchant, now, {"type": "survey_number", "question_id": q2, "min": 10}) == [big.id, skipped.id]
    # "not" stays exact: every member without an answer of at least 4, the skipped and odd included
    assert ids(merchant, now, {"op": "not", "items": [{"type": "survey_number", "question_id": q1, "min": 4}]}) \
        == [small.id, minus.id, skipped.id, odd.id]


def test_a_number_condition_needs_a_range_on_a_number_question(merchant, survey, weighed):
    q1 = questions(weighed)[0]
    for wrong in ({}, {"min": 5, "max": 2}, {"min": "abc"}, {"min": "0.00001"}, {"max": "1e12"}):
        with pytest.raises(ValidationError):
            services.check_definition(merchant.id, {"type": "survey_number", "question_id": q1, **wrong})
    with pytest.raises(ValidationError, match="no longer exists"):   # a rating is no number question
        services.check_definition(merchant.id, {"type": "survey_number", "question_id": questions(survey)[2],
                                                "min": 1})
    assert services.check_definition(merchant.id, {"type": "survey_number", "question_id": q1, "min": "3.50"}) \
        == {"op": "and", "items": [{"type": "survey_number", "question_id": q1, "min": "3.5"}]}


def test_a_number_condition_in_plain_words_and_in_the_builder(app, merchant, weighed):
    q1, q2 = questions(weighed)
    definition = {"op": "and", "items": [{"type": "survey_number", "question_id": q1, "min": "3.5"},
                                         {"type": "survey_number", "question_id": q2, "min": 1, "max": 4},
                                         {"type": "survey_number", "question_id": q2, "max": 10}]}
    assert services.describe(merchant.id, definition, locale="en") == (
        "Answered W1 · 1. 1.买几斤？ with a number at least 3.5 and answered W1 · 2. 2.来几次？ with a number 1 to 4"
        " and answered W1 · 2. 2.来几次？ with a number at most 10")
    assert services.describe(merchant.id, definition, locale="zh") == (
        "W1 · 1. 1.买几斤？ 回答的数字≥3.5 且 W1 · 2. 2.来几次？ 回答的数字1–4 且 W1 · 2. 2.来几次？ 回答的数字≤10")
    with app.test_request_context():
        offered = {c["type"]: c for c in services.builder_vocabulary(merchant.id)}
    assert [p["kind"] for p in offered["survey_number"]["params"]] == ["ref", "number", "number"]
    assert offered["survey_number"]["params"][0]["choices"] == [[q1, "W1 · 1. 1.买几斤？"], [q2, "W1 · 2. 2.来几次？"]]
