"""Segment conditions on survey answers: answered a survey, completed it or not, the answer to one
question (chosen options, or a rating in a range) and the number answered to a number question (at
least, at most, between). Each is one ``IN (SELECT msisdn ...)`` over the survey tables, as the other
activity conditions are: a session belongs to the member with its number.

Surveys sit below segments, so the conditions live here and read the survey tables directly.
"""
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.segments.conditions import _check_range, _range, _with_period, condition
from mcrm.core.text import N_
from mcrm.segments.rules import Param
from mcrm.segments.sql import Context, register_source
from mcrm.surveys.flow import MAX_OPTIONS, QuestionKind
from mcrm.surveys.models import Survey, SurveyAnswer, SurveyQuestion, SurveySession

#: the letters a choice answer is stored with (``A``, ``A,C``)
LETTERS = tuple(chr(ord("A") + n) for n in range(MAX_OPTIONS))
#: a rating is a whole number from 0 to 10: the range is matched as the list of its values
LOWEST_RATING, HIGHEST_RATING = 0, 10

_SURVEY = Param("survey_id", "ref", N_("survey"), source="surveys")
_PERIOD = Param("period", "period", N_("when"), required=False)


def _numbers(*where) -> sa.ColumnElement[bool]:
    return Member.msisdn.in_(sa.select(SurveySession.msisdn).where(*where))


@condition("survey_answered", N_("Answered a survey"), N_("Surveys"),
           Param("survey_id", "ref", N_("survey"), required=False, source="surveys"), _PERIOD)
def _answered(p, t, names):
    name = names.get(("surveys", p.get("survey_id")))
    return _with_period(t(N_("answered survey %(survey)s"), survey=name) if name else t(N_("answered a survey")),
                        p, t)


@_answered.sql
def _answered_where(p, ctx: Context):
    """Numbers with at least one stored answer (a skipped one too; period: when it came)."""
    answered = sa.exists().where(SurveyAnswer.session_id == SurveySession.id,
                                 *ctx.in_period(SurveyAnswer.received_at, p.get("period")))
    return _numbers(SurveySession.merchant_id == ctx.merchant_id, answered,
                    *([SurveySession.survey_id == p["survey_id"]] if p.get("survey_id") else []))


@condition("survey_completion", N_("Completed a survey"), N_("Surveys"), _SURVEY,
           Param("completed", "choice", N_("completed"), default="yes",
                 choices=(("yes", N_("completed it")), ("no", N_("started it, never completed it")))))
def _completion(p, t, names):
    survey = names.get(("surveys", p["survey_id"]), "?")
    if p["completed"] == "yes":
        return t(N_("completed survey %(survey)s"), survey=survey)
    return t(N_("started survey %(survey)s without completing it"), survey=survey)


@_completion.sql
def _completion_where(p, ctx: Context):
    """Completed: a session of the survey was completed. Not: a session was started (by keyword or an
    invitation) and none was completed."""
    sessions = [SurveySession.merchant_id == ctx.merchant_id, SurveySession.survey_id == p["survey_id"]]
    completed = _numbers(*sessions, SurveySession.completed_at.is_not(None))
    if p["completed"] == "yes":
        return completed
    return sa.and_(_numbers(*sessions), sa.not_(completed))


def _check_answer(p: dict) -> None:
    ranged = p.get("min") is not None or p.get("max") is not None
    if bool(p.get("options")) == ranged:
        raise ValidationError("Choose the options answered or a range of ratings, one of them")
    if ranged and p.get("min") is not None and p.get("max") is not None and p["min"] > p["max"]:
        raise ValidationError("The lowest value is above the highest")


@condition("survey_answer", N_("Answer to a survey question"), N_("Surveys"),
           Param("question_id", "ref", N_("question"), source="survey_questions"),
           Param("options", "choices", N_("chose"), required=False, choices=tuple((x, x) for x in LETTERS)),
           Param("min", "int", N_("rating at least"), required=False, minimum=LOWEST_RATING,
                 maximum=HIGHEST_RATING),
           Param("max", "int", N_("rating at most"), required=False, minimum=LOWEST_RATING,
                 maximum=HIGHEST_RATING),
           check=_check_answer)
def _answer(p, t, names):
    question = names.get(("survey_questions", p["question_id"]), "?")
    if p.get("options"):
        return t(N_("answered %(question)s with %(options)s"), question=question,
                 options=t(N_(" or ")).join(p["options"]))
    low, high = p.get("min"), p.get("max")
    if low is not None and high is not None:
        return t(N_("rated %(question)s %(min)s to %(max)s"), question=question, min=low, max=high)
    if low is not None:
        return t(N_("rated %(question)s at least %(min)s"), question=question, min=low)
    return t(N_("rated %(question)s at most %(max)s"), question=question, max=high)


def _answers_to(question_id: int, ctx: Context, *where) -> sa.ColumnElement[bool]:
    """Numbers with an answer to the question (found by its survey and position, which stay fixed once
    the survey has started) that meets ``where``."""
    return Member.msisdn.in_(
        sa.select(SurveySession.msisdn)
        .join(SurveyAnswer, SurveyAnswer.session_id == SurveySession.id)
        .join(SurveyQuestion, sa.and_(SurveyQuestion.survey_id == SurveySession.survey_id,
                                      SurveyQuestion.position == SurveyAnswer.position))
        .where(SurveySession.merchant_id == ctx.merchant_id, SurveyQuestion.id == question_id, *where))


@_answer.sql
def _answer_where(p, ctx: Context):
    """Numbers whose answer to the question (matched by its survey and position) picked one of the
    options (a multiple choice ``A,C`` picked A and C), or is a rating in the range, matched as its
    list of values so that no text is cast to a number."""
    if p.get("options"):
        padded = sa.literal(",") + SurveyAnswer.value + sa.literal(",")
        chosen = sa.or_(*(padded.like(f"%,{letter},%") for letter in p["options"]))
    else:
        low = LOWEST_RATING if p.get("min") is None else p["min"]
        high = HIGHEST_RATING if p.get("max") is None else p["max"]
        chosen = SurveyAnswer.value.in_([str(value) for value in range(low, high + 1)])
    return _answers_to(p["question_id"], ctx, chosen)


class answer_number(sa.sql.functions.FunctionElement):
    """answer_number(value): a stored answer as a number when it is one as the survey stores numbers
    (``12``, ``-2``, ``3.5``), else NULL. Answers are text: a skipped one is empty, and PostgreSQL's
    cast fails the whole query on any text that is not a number, so the cast is guarded."""
    type = sa.Numeric()
    inherit_cache = True


@compiles(answer_number)
def _answer_number(element, compiler, **kw):
    value = compiler.process(element.clauses.clauses[0], **kw)
    return f"(CASE WHEN {value} ~ '^-?[0-9]+([.][0-9]+)?$' THEN CAST({value} AS NUMERIC) END)"


@compiles(answer_number, "sqlite")
def _answer_number_sqlite(element, compiler, **kw):
    # no regular expressions in SQLite: the digits after an optional minus, at most one point, with
    # digits on both sides of it (SQLite's own cast would read 'abc' as 0)
    value = compiler.process(element.clauses.clauses[0], **kw)
    digits = f"(CASE WHEN substr({value}, 1, 1) = '-' THEN substr({value}, 2) ELSE {value} END)"
    return (f"(CASE WHEN {digits} <> '' AND {digits} NOT GLOB '*[^0-9.]*' AND {digits} NOT GLOB '*.*.*' "
            f"AND {digits} NOT GLOB '.*' AND {digits} NOT GLOB '*.' THEN CAST({value} AS REAL) END)")


@condition("survey_number", N_("Number answered to a survey question"), N_("Surveys"),
           Param("question_id", "ref", N_("question"), source="survey_number_questions"),
           Param("min", "number", N_("at least"), required=False),
           Param("max", "number", N_("at most"), required=False), check=_check_range)
def _number(p, t, names):
    question = names.get(("survey_number_questions", p["question_id"]), "?")
    return t(N_("answered %(question)s with a number %(range)s"), question=question, range=_range(p, t))


@_number.sql
def _number_where(p, ctx: Context):
    """Numbers whose answer to the number question lies in the range, both ends included; a skipped
    answer (empty) is no number and matches no range."""
    number = answer_number(SurveyAnswer.value)
    return _answers_to(p["question_id"], ctx, number.is_not(None),
                       *([number >= Decimal(p["min"])] if p.get("min") is not None else []),
                       *([number <= Decimal(p["max"])] if p.get("max") is not None else []))


# -- what the builder offers --------------------------------------------------------------------

def _survey_options(merchant_id: int) -> list[tuple]:
    return [(survey_id, f"{code} · {title}") for survey_id, code, title in db.session.execute(
        sa.select(Survey.id, Survey.code, Survey.title).where(Survey.merchant_id == merchant_id)
        .order_by(Survey.id.desc()))]


def _question_options(merchant_id: int, *where) -> list[tuple]:
    """Every question of the merchant's surveys (that meets ``where``), as ``Q1 · 2. 口味如何？``."""
    return [(question_id, f"{code} · {position}. {text[:30]}") for question_id, code, position, text in
            db.session.execute(sa.select(SurveyQuestion.id, Survey.code, SurveyQuestion.position, SurveyQuestion.text)
                               .join(Survey, Survey.id == SurveyQuestion.survey_id)
                               .where(Survey.merchant_id == merchant_id, *where)
                               .order_by(Survey.id.desc(), SurveyQuestion.position))]


register_source("surveys", _survey_options)
register_source("survey_questions", _question_options)
register_source("survey_number_questions",
                lambda merchant_id: _question_options(merchant_id, SurveyQuestion.kind == QuestionKind.NUMBER))
