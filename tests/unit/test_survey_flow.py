"""Reading SMS answers and choosing the next question (mcrm/surveys/flow.py)."""
import pytest

from mcrm.surveys.flow import Question, QuestionKind, check_branches, next_position, parse_branches, read_answer

CHOICE = Question(1, QuestionKind.SINGLE, ("好吃", "一般", "难吃"), {"C": 4})
PICKS = Question(2, QuestionKind.MULTIPLE, ("菜品", "环境", "服务"))


@pytest.mark.parametrize("text", ["A", "a", "Ａ", "1", "一", "好吃", " a。", "１"])
def test_a_single_choice_takes_letter_number_chinese_digit_or_word(text):
    assert read_answer(CHOICE, text) == "A"


@pytest.mark.parametrize("text", ["D", "4", "四", "不错", "", "AB"])
def test_a_single_choice_refuses_what_names_no_option(text):
    assert read_answer(CHOICE, text) is None


@pytest.mark.parametrize("text, value", [("A C", "A,C"), ("ac", "A,C"), ("1,3", "A,C"), ("服务、菜品", "A,C"),
                                         ("C", "C"), ("a a", "A")])
def test_a_multiple_choice_takes_several_picks(text, value):
    assert read_answer(PICKS, text) == value


def test_a_multiple_choice_refuses_one_bad_pick():
    assert read_answer(PICKS, "A Z") is None


@pytest.mark.parametrize("kind, text, value", [
    (QuestionKind.RATING_5, "5", "5"), (QuestionKind.RATING_5, "4分", "4"), (QuestionKind.RATING_5, "五", "5"),
    (QuestionKind.RATING_5, "０", None), (QuestionKind.RATING_5, "6", None), (QuestionKind.RATING_5, "4.5", None),
    (QuestionKind.RATING_10, "0", "0"), (QuestionKind.RATING_10, "10", "10"), (QuestionKind.RATING_10, "11", None),
    (QuestionKind.NUMBER, "3.5斤", "3.5"), (QuestionKind.NUMBER, "+12", "12"), (QuestionKind.NUMBER, "很多", None),
    (QuestionKind.TEXT, " 菜有点咸 ", "菜有点咸"), (QuestionKind.TEXT, "  ", None),
])
def test_ratings_numbers_and_free_text(kind, text, value):
    assert read_answer(Question(1, kind), text) == value


QUESTIONS = [CHOICE, PICKS, Question(3, QuestionKind.TEXT), Question(4, QuestionKind.RATING_5)]


def test_a_branch_leads_to_its_question_and_other_answers_to_the_next():
    assert next_position(QUESTIONS, 1, "C") == 4
    assert next_position(QUESTIONS, 1, "A") == 2
    assert next_position(QUESTIONS, 1, None) == 2  # skipped after the re-asks
    assert next_position(QUESTIONS, 4, "5") is None


def test_a_branch_past_the_last_question_ends_the_survey():
    questions = [Question(1, QuestionKind.SINGLE, ("是", "否"), {"B": 9}), Question(2, QuestionKind.TEXT)]
    assert next_position(questions, 1, "B") is None


def test_branches_parse_and_must_lead_forward_to_an_option():
    assert parse_branches("A=4\nb→3, C:5") == {"A": 4, "B": 3, "C": 5}
    with pytest.raises(ValueError):
        parse_branches("A to 4")
    assert check_branches(2, ("是", "否"), {"A": 4}) is None
    assert check_branches(2, ("是", "否"), {"A": 2}) is not None
    assert check_branches(2, ("是", "否"), {"C": 4}) is not None
