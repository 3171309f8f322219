"""Surveys: building one in the console, and a texter's way through it by SMS (docs/surveys.md)."""
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from mcrm.core.errors import NotFoundError, ValidationError
from mcrm.core.text import fold, strip_controls, to_half_width
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.points.services import SYSTEM, grant_points
from mcrm.surveys import flow
from mcrm.surveys.flow import QuestionKind
from mcrm.surveys.models import Survey, SurveyAnswer, SurveyQuestion, SurveySession
from mcrm.webhooks import events
from mcrm.webhooks.models import WebhookEvent
from mcrm.webhooks.services import emit

#: what an invalid answer gets before the question again, when the question has no re-ask text
DEFAULT_REASK = "回复无法识别，请按提示作答："
MAX_REASKS = 5
MAX_QUESTIONS = 30


# -- building ---------------------------------------------------------------------------------------

def create_survey(merchant: Merchant, *, code: str, title: str, intro: str, is_active: bool = False,
                  **fields) -> Survey:
    """A survey with the given settings (see ``update_survey`` for ``fields``); ConflictError-free:
    a code in use is a ValidationError naming it."""
    survey = Survey(merchant_id=merchant.id, is_active=is_active)
    update_survey(survey, code=code, title=title, intro=intro, **fields)
    db.session.add(survey)
    db.session.flush()
    return survey


def update_survey(survey: Survey, *, code: str, title: str, intro: str, thanks: str = "",
                  timeout_hours: int = 24, opens_at: datetime | None = None, closes_at: datetime | None = None,
                  max_reasks: int = 2, reward_points: int = 0, extension: str = "",
                  reward_coupon_app_id: int | None = None) -> Survey:
    """Check and set the survey's settings. ``reward_coupon_app_id`` is taken as given: the caller
    checks it is the merchant's coupon app (coupons are the keyword apps', a layer above), and the
    coupon is issued only from such an app."""
    # shown as typed (half-width, as texts are read), matched folded (docs/keywords.md)
    code = to_half_width(strip_controls(code or "")).strip()
    code_key = fold(code)
    if not code_key or len(code) > 20 or any(char.isspace() for char in code):
        raise ValidationError("A survey needs a code of at most 20 characters without spaces")
    intro = strip_controls(intro or "").strip()
    if not intro:
        raise ValidationError("A survey needs an opening text")
    if not 1 <= timeout_hours <= 24 * 30:
        raise ValidationError("The timeout must be between 1 and 720 hours")
    if opens_at and closes_at and closes_at <= opens_at:
        raise ValidationError("A survey must close after it opens")
    if not 0 <= max_reasks <= MAX_REASKS:
        raise ValidationError("Re-asks must be between 0 and %(max)s", max=MAX_REASKS)
    if reward_points < 0:
        raise ValidationError("The reward cannot be negative")
    extension = (extension or "").strip()
    if extension and not (extension.isdigit() and extension.isascii() and len(extension) <= 6):
        raise ValidationError("An extension is 1 to 6 digits")
    taken = sa.select(Survey.id).where(Survey.merchant_id == survey.merchant_id, Survey.id != survey.id)
    if db.session.scalar(taken.where(Survey.code_key == code_key)) is not None:
        raise ValidationError("Another survey already uses the code %(code)s", code=code)
    if extension and db.session.scalar(taken.where(Survey.extension == extension)) is not None:
        raise ValidationError("Another survey already uses the extension %(extension)s", extension=extension)
    survey.code, survey.code_key = code, code_key
    survey.title, survey.intro = (strip_controls(title or "").strip() or code)[:100], intro[:500]
    survey.thanks = strip_controls(thanks or "").strip()[:500]
    survey.timeout_hours, survey.opens_at, survey.closes_at = timeout_hours, opens_at, closes_at
    survey.max_reasks, survey.reward_points, survey.extension = max_reasks, reward_points, extension
    survey.reward_coupon_app_id = reward_coupon_app_id or None
    db.session.flush()
    return survey


def set_survey_active(survey: Survey, active: bool) -> None:
    if active and not survey.intro:
        raise ValidationError("A survey needs an opening text")
    survey.is_active = active
    db.session.flush()


def _question_fields(position: int, *, kind: str, text: str, options, branches,
                     reask_text: str) -> dict:
    """The checked columns of the question at ``position``; ValidationError says what is wrong."""
    try:
        kind = QuestionKind(kind)
    except ValueError:
        raise ValidationError("Unknown question kind") from None
    text = strip_controls(text or "").strip()
    if not text:
        raise ValidationError("A question needs its SMS wording")
    options = tuple(o for o in (strip_controls(o).strip()[:40] for o in options) if o)
    if kind in flow.CHOICE_KINDS:
        if not 2 <= len(options) <= flow.MAX_OPTIONS:
            raise ValidationError("A choice question needs 2 to %(max)s options", max=flow.MAX_OPTIONS)
        if len({fold(o) for o in options}) < len(options):
            raise ValidationError("Two options read the same")
    else:
        options = ()
    if isinstance(branches, str):
        try:
            branches = flow.parse_branches(branches)
        except ValueError as error:
            raise ValidationError("Write a branch as A=4, one a line: %(line)s", line=str(error)) from None
    if branches and kind != QuestionKind.SINGLE:
        raise ValidationError("Only a single-choice question branches")
    if flow.check_branches(position, options, branches) is not None:
        raise ValidationError("A branch must name an option and lead to a later question")
    return {"kind": kind, "text": text[:500], "options": list(options), "branches": branches,
            "reask_text": strip_controls(reask_text or "").strip()[:500]}


def add_question(survey: Survey, *, kind: str, text: str, options: list[str] | tuple[str, ...] = (),
                 branches: str | dict = "", reask_text: str = "") -> SurveyQuestion:
    """Append a question; its position is the next number. Branches are ``A=4`` lines or a dict."""
    questions = list_questions(survey)
    if len(questions) >= MAX_QUESTIONS:
        raise ValidationError("A survey has at most %(max)s questions", max=MAX_QUESTIONS)
    position = questions[-1].position + 1 if questions else 1
    question = SurveyQuestion(survey_id=survey.id, position=position,
                              **_question_fields(position, kind=kind, text=text, options=options,
                                                 branches=branches, reask_text=reask_text))
    db.session.add(question)
    db.session.flush()
    return question


def is_started(survey: Survey) -> bool:
    """Whether anybody has started the survey (by keyword, extension or invitation). From then on
    its answers, its waiting sessions and the segment conditions on it name questions by position,
    so positions stay as they are (docs/surveys.md, "Once a survey has started")."""
    return db.session.scalar(sa.select(SurveySession.id).where(SurveySession.survey_id == survey.id)
                             .limit(1)) is not None


def _refuse_once_started(survey: Survey, error: ValidationError) -> None:
    """Raise ``error`` (it says why, in words the console shows) when the survey has started."""
    if is_started(survey):
        raise error


def update_question(survey: Survey, question_id: int, *, kind: str, text: str,
                    options: list[str] | tuple[str, ...] = (), branches: str | dict = "",
                    reask_text: str = "") -> SurveyQuestion:
    """Change a question in place; answers already given keep their position. Once the survey has
    started, its kind stays and its options may be reworded or added to, never removed."""
    question = get_question(survey, question_id)
    fields = _question_fields(question.position, kind=kind, text=text, options=options,
                              branches=branches, reask_text=reask_text)
    if fields["kind"] != question.kind:
        _refuse_once_started(survey, ValidationError(
            "People have started this survey: a question keeps its kind, or its answers would change meaning. "
            "Add a new question at the end instead."))
    if len(fields["options"]) < len(question.options):
        _refuse_once_started(survey, ValidationError(
            "People have started this survey: an option can be reworded or added, not removed, or the "
            "answers would change meaning."))
    for name, value in fields.items():
        setattr(question, name, value)
    db.session.flush()
    return question


def move_question(survey: Survey, question_id: int, step: int) -> None:
    """Swap a question with the one before (``step=-1``) or after (``+1``); branches follow the
    questions they name. A move that would make a branch lead backwards is refused, and so is any
    move once the survey has started."""
    question = get_question(survey, question_id)
    _refuse_once_started(survey, ValidationError(
        "People have started this survey: moving a question would change what their answers mean. Add "
        "questions at the end, or build a new survey."))
    questions = list_questions(survey)
    index = questions.index(question) + step
    if step not in (-1, 1) or not 0 <= index < len(questions):
        raise ValidationError("That question cannot move further")
    other = questions[index]
    swap = {question.position: other.position, other.position: question.position}
    for each in questions:
        each.branches = {letter: swap.get(target, target) for letter, target in each.branches.items()}
    # one at a time and through 0, which no question holds: the unique position never sees two alike
    for each, position in ((question, 0), (other, question.position), (question, other.position)):
        each.position = position
        db.session.flush()
    if any(target <= each.position for each in questions for target in each.branches.values()):
        raise ValidationError("A branch would lead back to an earlier question: change it first")


def get_question(survey: Survey, question_id: int) -> SurveyQuestion:
    question = db.session.scalar(sa.select(SurveyQuestion).where(
        SurveyQuestion.survey_id == survey.id, SurveyQuestion.id == question_id))
    if question is None:
        raise NotFoundError("No such question")
    return question


def remove_question(survey: Survey, question_id: int) -> None:
    """Delete a question; the later ones move up one, and branches follow them (a branch to the
    removed one now leads to the question that took its place). Refused once the survey has started."""
    question = get_question(survey, question_id)
    _refuse_once_started(survey, ValidationError(
        "People have started this survey: removing a question would change what their answers mean. "
        "Add questions at the end, or build a new survey."))
    removed = question.position
    db.session.delete(question)
    db.session.flush()
    for later in list_questions(survey):
        if later.position > removed:
            later.position -= 1
            db.session.flush()  # one at a time: the unique position never sees two alike
        later.branches = {letter: target - 1 if target > removed else target
                          for letter, target in later.branches.items()}
    db.session.flush()


def list_questions(survey: Survey) -> list[SurveyQuestion]:
    return list(db.session.scalars(sa.select(SurveyQuestion).where(SurveyQuestion.survey_id == survey.id)
                                   .order_by(SurveyQuestion.position)))


def list_surveys(merchant: Merchant) -> list[Survey]:
    return list(db.session.scalars(sa.select(Survey).where(Survey.merchant_id == merchant.id)
                                   .order_by(Survey.id.desc())))


def get_survey(merchant: Merchant, survey_id: int) -> Survey:
    """The merchant's survey; NotFoundError for another merchant's, so staff never see it."""
    survey = db.session.get(Survey, survey_id)
    if survey is None or survey.merchant_id != merchant.id:
        raise NotFoundError("No such survey")
    return survey


# -- answering by SMS ------------------------------------------------------------------------------

def _open_now(now: datetime):
    return sa.and_(Survey.is_active.is_(True), sa.or_(Survey.opens_at.is_(None), Survey.opens_at <= now),
                   sa.or_(Survey.closes_at.is_(None), Survey.closes_at > now))


def is_open(survey: Survey, *, now: datetime) -> bool:
    return survey.is_active and (survey.opens_at is None or survey.opens_at <= now) \
        and (survey.closes_at is None or survey.closes_at > now)


def find_active_survey(merchant: Merchant, code: str | None = None, *, now: datetime) -> Survey | None:
    """The open survey with that code, or the merchant's most recent open one."""
    query = sa.select(Survey).where(Survey.merchant_id == merchant.id, _open_now(now))
    if code:
        query = query.where(Survey.code_key == fold(code))
    return db.session.scalar(query.order_by(Survey.id.desc()).limit(1))


def find_survey_by_extension(merchant: Merchant, extension: str, *, now: datetime) -> Survey | None:
    if not extension:
        return None
    return db.session.scalar(sa.select(Survey).where(Survey.merchant_id == merchant.id,
                                                     Survey.extension == extension, _open_now(now)))


def list_open_surveys(merchant: Merchant, *, now: datetime) -> list[Survey]:
    """The merchant's surveys taking answers now, newest first (what an invitation may invite to)."""
    return list(db.session.scalars(sa.select(Survey).where(Survey.merchant_id == merchant.id, _open_now(now))
                                   .order_by(Survey.id.desc())))


def find_survey_by_code(merchant: Merchant, code: str) -> Survey | None:
    """The merchant's survey with that code, open or not."""
    return db.session.scalar(sa.select(Survey).where(Survey.merchant_id == merchant.id,
                                                     Survey.code_key == fold(code or "")))


def has_active_survey(merchant: Merchant, *, now: datetime) -> bool:
    return find_active_survey(merchant, now=now) is not None


def find_open_session(merchant: Merchant, msisdn: str, *, now: datetime) -> SurveySession | None:
    """The number's unfinished, unexpired session of a survey still open."""
    return db.session.scalar(
        sa.select(SurveySession).join(Survey, Survey.id == SurveySession.survey_id)
        .where(SurveySession.merchant_id == merchant.id, SurveySession.msisdn == msisdn,
               SurveySession.expires_at > now, SurveySession.finished_at.is_(None), _open_now(now))
        .order_by(SurveySession.id.desc()).limit(1))


def start_survey(merchant: Merchant, *, msisdn: str, now: datetime, code: str | None = None,
                 member: Member | None = None, survey: Survey | None = None) -> tuple[SurveySession, bool]:
    """Open a session for the texter, and whether it resumes one; NotFoundError when no open
    survey matches.

    The number's open session of the same survey resumes where it stopped; one of another survey
    ends, since a number answers one survey at a time.
    """
    if survey is None:
        survey = find_active_survey(merchant, code, now=now)
    if survey is None and code:
        survey = find_active_survey(merchant, now=now)  # 'DC 123' where 123 is not a code: the open survey
    if survey is None:
        raise NotFoundError("No active survey")
    previous = find_open_session(merchant, msisdn, now=now)
    if previous is not None and previous.survey_id == survey.id:
        previous.expires_at = now + timedelta(hours=survey.timeout_hours)
        db.session.flush()
        return previous, True
    if previous is not None:
        previous.finished_at = now
    first = db.session.scalar(sa.select(sa.func.min(SurveyQuestion.position))
                              .where(SurveyQuestion.survey_id == survey.id))
    session = SurveySession(merchant_id=merchant.id, survey_id=survey.id, msisdn=msisdn,
                            member_id=member.id if member else None, started_at=now, position=first or 0,
                            reasks=0, expires_at=now + timedelta(hours=survey.timeout_hours))
    db.session.add(session)
    db.session.flush()
    return session, False


def invite_to_survey(survey: Survey, holders: list[tuple[int | None, str]], *, now: datetime,
                     occasion: str) -> None:
    """Open a session of the survey for each (member id, msisdn) an invitation goes to, set-based (a
    campaign's batch), so that the reply to the invitation is the first answer. The numbers' open
    sessions end first, those of this survey too: the question the invitation shows is the one
    waiting. ``occasion`` ties the sessions to the invitation for its report. Flushes."""
    if not holders:
        return
    db.session.execute(
        sa.update(SurveySession).where(SurveySession.merchant_id == survey.merchant_id,
                                       SurveySession.msisdn.in_([msisdn for _member, msisdn in holders]),
                                       SurveySession.finished_at.is_(None), SurveySession.expires_at > now)
        .values(finished_at=now), execution_options={"synchronize_session": False})
    first = db.session.scalar(sa.select(sa.func.min(SurveyQuestion.position))
                              .where(SurveyQuestion.survey_id == survey.id)) or 0
    expires_at = now + timedelta(hours=survey.timeout_hours)
    db.session.execute(sa.insert(SurveySession), [
        {"merchant_id": survey.merchant_id, "survey_id": survey.id, "msisdn": msisdn, "member_id": member_id,
         "started_at": now, "expires_at": expires_at, "position": first, "reasks": 0, "occasion": occasion}
        for member_id, msisdn in holders])
    db.session.flush()


def survey_opening(survey: Survey) -> str:
    """The intro and the first question: what starting the survey sends, and what an invitation adds
    to its text."""
    first = db.session.scalar(sa.select(SurveyQuestion.text).where(SurveyQuestion.survey_id == survey.id)
                              .order_by(SurveyQuestion.position).limit(1))
    return survey.intro if first is None else f"{survey.intro}\n{first}"


@dataclass(frozen=True)
class Invited:
    """What the sessions an invitation opened became."""
    sessions: int = 0
    #: sessions with at least one answer
    responded: int = 0
    completed: int = 0


def invitation_figures(occasions: list[str]) -> dict[str, Invited]:
    """Occasion → the figures of the sessions its invitation opened, in one grouped query."""
    if not occasions:
        return {}
    completed = sa.case((SurveySession.completed_at.is_not(None), SurveySession.id))
    rows = db.session.execute(
        sa.select(SurveySession.occasion, sa.func.count(sa.distinct(SurveySession.id)),
                  sa.func.count(sa.distinct(SurveyAnswer.session_id)), sa.func.count(sa.distinct(completed)))
        .outerjoin(SurveyAnswer, SurveyAnswer.session_id == SurveySession.id)
        .where(SurveySession.occasion.in_(occasions)).group_by(SurveySession.occasion))
    return {occasion: Invited(sessions, responded, done) for occasion, sessions, responded, done in rows}


def opening_text(session: SurveySession, *, resumed: bool = False) -> str:
    """The intro and the waiting question; a resumed session gets only the question."""
    survey = db.session.get(Survey, session.survey_id)
    question = _current_question(session)
    if question is None:
        return survey.intro
    return question.text if resumed else f"{survey.intro}\n{question.text}"


def _current_question(session: SurveySession) -> SurveyQuestion | None:
    if not session.position:
        return None
    return db.session.scalar(sa.select(SurveyQuestion).where(SurveyQuestion.survey_id == session.survey_id,
                                                             SurveyQuestion.position == session.position))


def _as_flow(question: SurveyQuestion) -> flow.Question:
    return flow.Question(question.position, QuestionKind(question.kind), tuple(question.options),
                         dict(question.branches))


def can_answer(session: SurveySession, text: str | None) -> bool:
    """Whether ``text`` is a valid answer to the waiting question: a keyword that is one counts as
    the answer (docs/surveys.md)."""
    question = _current_question(session)
    if question is None:
        return bool((text or "").strip())
    return flow.read_answer(_as_flow(question), text) is not None


@dataclass
class Step:
    """What an answer leads to: the text to send (the next question or the re-ask), or completion
    with the survey's own thanks (empty for the merchant's default), the points given and the coupon
    app whose code the member is due (the caller, which may issue coupons, issues it)."""
    text: str = ""
    completed: bool = False
    thanks: str = ""
    reward_points: int = 0
    reward_coupon_app_id: int | None = None


def record_answer(session: SurveySession, text: str | None, *, now: datetime,
                  member: Member | None = None) -> Step:
    """Store the texter's answer to the waiting question as it comes and move on (or ask again)."""
    survey = db.session.get(Survey, session.survey_id)
    text = (text or "")[:700]
    session.expires_at = now + timedelta(hours=survey.timeout_hours)
    # the survey's questions read once: the waiting one, where the answer leads, the next one's text
    questions = {question.position: question for question in list_questions(survey)}
    question = questions.get(session.position)
    if question is None:  # a survey without questions: its intro is the one free-text question
        db.session.add(SurveyAnswer(session_id=session.id, survey_id=session.survey_id, position=0, text=text, value=text.strip(),
                                    received_at=now))
        return _complete(session, survey, now=now, member=member)
    spec = _as_flow(question)
    value = flow.read_answer(spec, text)
    if value is None and session.reasks < survey.max_reasks:
        session.reasks += 1
        db.session.flush()
        return Step(text=question.reask_text or f"{DEFAULT_REASK}\n{question.text}")
    # a valid answer, or the last invalid one: kept with an empty value, and the question skipped
    db.session.add(SurveyAnswer(session_id=session.id, survey_id=session.survey_id, position=question.position,
                                text=text, value=value or "", received_at=now))
    following = flow.next_position([_as_flow(q) for q in questions.values()], question.position, value)
    if following is None:
        return _complete(session, survey, now=now, member=member)
    session.position, session.reasks = following, 0
    db.session.flush()
    return Step(text=questions[following].text)


def _complete(session: SurveySession, survey: Survey, *, now: datetime, member: Member | None) -> Step:
    session.finished_at = session.completed_at = now
    points, coupon_app_id = 0, None
    if member is not None and member.merchant_id == survey.merchant_id:
        session.member_id = member.id
        rewarded_before = db.session.scalar(sa.select(SurveySession.id).where(
            SurveySession.survey_id == survey.id, SurveySession.member_id == member.id,
            SurveySession.completed_at.is_not(None), SurveySession.id != session.id).limit(1))
        if rewarded_before is None:
            if survey.reward_points:
                # the key makes a re-run of the same MO grant nothing twice
                grant_points(member, db.session.get(Merchant, survey.merchant_id), survey.reward_points,
                             reason=f"完成调查 {survey.code}", actor=SYSTEM, now=now,
                             idempotency_key=f"survey:{survey.id}:member:{member.id}")
                points = survey.reward_points
            coupon_app_id = survey.reward_coupon_app_id
    db.session.flush()
    emit(survey.merchant_id, WebhookEvent.SURVEY_COMPLETED, [events.survey_completed(
        survey, session, member_no=member.member_no if session.member_id else None)], now=now)
    return Step(completed=True, thanks=survey.thanks, reward_points=points, reward_coupon_app_id=coupon_app_id)


# -- results ---------------------------------------------------------------------------------------

@dataclass
class QuestionResult:
    question: SurveyQuestion
    #: (label, count) per option or value, in the order a chart shows them
    counts: list[tuple[str, int]]
    skipped: int
    #: the latest free-text answers
    texts: list[str]


@dataclass
class Results:
    started: int
    answered: int
    completed: int
    questions: list[QuestionResult]

    def rate(self, count: int) -> float:
        return round(100 * count / self.started, 1) if self.started else 0.0


def survey_results(survey: Survey, *, text_limit: int = 200, msisdns: sa.Select | None = None) -> Results:
    """Response (at least one answer) and completion counts, and each question's tally, counted in SQL;
    of the sessions of the numbers ``msisdns`` selects (a segment's), when given.

    Every answer query reads the range of ``ix_survey_answers_tally`` for the survey, and the session
    counts that of ``ix_survey_sessions_results``, never the rows (tests/mcrm/test_surveys_plans.py;
    at 100,000 responses the join of sessions and answers with its grouping took 0.6 s of CPU,
    bench/README.md, Surveys). A segment adds one test of the answer's session."""
    of_sessions = [SurveySession.survey_id == survey.id]
    of_answers = [SurveyAnswer.survey_id == survey.id]
    if msisdns is not None:
        of_sessions.append(SurveySession.msisdn.in_(msisdns))
        of_answers.append(SurveyAnswer.session_id.in_(sa.select(SurveySession.id).where(*of_sessions)))
    answers = sa.select(SurveyAnswer).where(*of_answers).subquery()
    started, completed = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(SurveySession.completed_at)).where(*of_sessions)).one()
    answered = db.session.scalar(sa.select(sa.func.count(sa.distinct(answers.c.session_id))))
    by_position: dict[int, dict[str, int]] = {}
    for position, value, count in db.session.execute(
            sa.select(answers.c.position, answers.c.value, sa.func.count())
            .group_by(answers.c.position, answers.c.value)):
        by_position.setdefault(position, {})[value] = count
    results = []
    for question in list_questions(survey):
        values = by_position.get(question.position, {})
        skipped = values.pop("", 0)
        texts: list[str] = []
        if question.kind == QuestionKind.TEXT:
            counts: list[tuple[str, int]] = []
            texts = list(db.session.scalars(
                sa.select(SurveyAnswer.value).where(*of_answers, SurveyAnswer.position == question.position,
                                                    SurveyAnswer.value != "")
                .order_by(SurveyAnswer.id.desc()).limit(text_limit)))
        else:
            counts = flow.tally(_as_flow(question), values)
        results.append(QuestionResult(question, counts, skipped, texts))
    return Results(started, answered, completed, results)


def iter_answers(survey: Survey, *, batch: int = 1000, msisdns: sa.Select | None = None):
    """Every answer of the survey with its session's number and times, in the order they came,
    fetched ``batch`` rows at a time by id (for the exports: never all rows in memory); of the
    numbers ``msisdns`` selects, when given."""
    query = (sa.select(SurveyAnswer.id, SurveySession.msisdn, SurveySession.started_at,
                       SurveySession.completed_at, SurveyAnswer.position, SurveyAnswer.text,
                       SurveyAnswer.value, SurveyAnswer.received_at)
             .join(SurveySession, SurveySession.id == SurveyAnswer.session_id)
             .where(SurveySession.survey_id == survey.id).order_by(SurveyAnswer.id).limit(batch))
    if msisdns is not None:
        query = query.where(SurveySession.msisdn.in_(msisdns))
    after = 0
    while True:
        rows = db.session.execute(query.where(SurveyAnswer.id > after)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def erase_answers(merchant_id: int, member_id: int, msisdn: str, placeholder: str) -> None:
    """A member's erasure: its numbers and the texts it sent go; the choices and ratings it gave
    stay in the results, free-text answers do not. Flushes."""
    sessions = SurveySession.__table__
    mine = sa.select(sessions.c.id).where(sessions.c.merchant_id == merchant_id,
                                          sa.or_(sessions.c.member_id == member_id, sessions.c.msisdn == msisdn))
    answers = SurveyAnswer.__table__
    # correlated by hand: PostgreSQL would otherwise read survey_answers afresh inside the subquery
    free_text = sa.exists().where(
        SurveyQuestion.survey_id == sessions.c.survey_id, sessions.c.id == answers.c.session_id,
        SurveyQuestion.position == answers.c.position, SurveyQuestion.kind == QuestionKind.TEXT).correlate(answers)
    db.session.execute(sa.update(answers).where(answers.c.session_id.in_(mine)).values(text=""))
    db.session.execute(sa.update(answers).where(answers.c.session_id.in_(mine), free_text)
                       .values(value=""))
    db.session.execute(sa.update(sessions).where(sessions.c.id.in_(mine)).values(msisdn=placeholder))
    db.session.expire_all()
    db.session.flush()
