"""Starting a survey by SMS and taking the texter's answer. The survey issue adds questions and flow."""
from datetime import datetime, timedelta

import sqlalchemy as sa

from mcrm.core.errors import NotFoundError, ValidationError
from mcrm.core.text import fold
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.surveys.models import Survey, SurveyAnswer, SurveySession


def create_survey(merchant: Merchant, *, code: str, title: str, intro: str, is_active: bool = False,
                  timeout_hours: int = 24) -> Survey:
    code = fold(code or "")
    if not code or len(code) > 20:
        raise ValidationError("A survey needs a code of at most 20 characters")
    if not (intro or "").strip():
        raise ValidationError("A survey needs an opening question")
    survey = Survey(merchant_id=merchant.id, code=code, title=(title or code).strip()[:100],
                    intro=intro.strip()[:500], is_active=is_active, timeout_hours=timeout_hours)
    db.session.add(survey)
    db.session.flush()
    return survey


def find_active_survey(merchant: Merchant, code: str | None = None) -> Survey | None:
    """The survey with that code, or the merchant's most recent active one."""
    query = sa.select(Survey).where(Survey.merchant_id == merchant.id, Survey.is_active.is_(True))
    if code:
        query = query.where(Survey.code == fold(code))
    return db.session.scalar(query.order_by(Survey.id.desc()).limit(1))


def has_active_survey(merchant: Merchant) -> bool:
    return find_active_survey(merchant) is not None


def start_survey(merchant: Merchant, *, msisdn: str, now: datetime, code: str | None = None,
                 member: Member | None = None) -> SurveySession:
    """Open a session for the texter (closing any open one); NotFoundError when no survey matches."""
    survey = find_active_survey(merchant, code)
    if survey is None and code:
        survey = find_active_survey(merchant)  # 'DC 123' where 123 is not a code: the active survey
    if survey is None:
        raise NotFoundError("No active survey")
    previous = find_open_session(merchant, msisdn, now=now)
    if previous is not None:
        previous.finished_at = now
    session = SurveySession(merchant_id=merchant.id, survey_id=survey.id, msisdn=msisdn,
                            member_id=member.id if member else None, started_at=now,
                            expires_at=now + timedelta(hours=survey.timeout_hours))
    db.session.add(session)
    db.session.flush()
    return session


def find_open_session(merchant: Merchant, msisdn: str, *, now: datetime) -> SurveySession | None:
    return db.session.scalar(
        sa.select(SurveySession).where(SurveySession.merchant_id == merchant.id, SurveySession.msisdn == msisdn,
                                       SurveySession.expires_at > now, SurveySession.finished_at.is_(None))
        .order_by(SurveySession.id.desc()).limit(1))


def record_answer(session: SurveySession, text: str, *, now: datetime) -> bool:
    """Store the answer to the current question; returns True when the survey is finished.

    Surveys have one question (the intro) until the survey issue adds more.
    """
    db.session.add(SurveyAnswer(session_id=session.id, position=0, text=(text or "")[:700], received_at=now))
    session.finished_at = now
    db.session.flush()
    return True


def survey_intro(session: SurveySession) -> str:
    return db.session.get(Survey, session.survey_id).intro
