"""Surveys answered by SMS: the survey, its questions, a texter's session and the answers."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime, enum_type
from mcrm.extensions import db
from mcrm.surveys.flow import QuestionKind


class Survey(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "surveys"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "code_key", name="uq_surveys_merchant_code_key"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    #: what a texter adds after DC to pick this survey (``DC A1``), as the merchant typed it (half-width)
    code: Mapped[str] = mapped_column(sa.String(20))
    #: the code folded as texts are (``a1``): what a texted code is matched with, unique per merchant
    code_key: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(100))
    #: the first text a texter gets; without questions it is the one question itself
    intro: Mapped[str] = mapped_column(sa.String(500))
    #: the last text, after the last answer; empty for the merchant's default thanks
    thanks: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    is_active: Mapped[bool] = mapped_column(default=False)
    #: an unanswered session closes after this many hours (docs/surveys.md: 24)
    timeout_hours: Mapped[int] = mapped_column(default=24)
    #: the survey takes texts from this moment on (None: from when it is switched on)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: and until this one (None: until it is switched off)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: how often an invalid answer is asked again before the question is skipped
    max_reasks: Mapped[int] = mapped_column(default=2, server_default="2")
    #: points a member gets once for completing the survey; 0 for none
    reward_points: Mapped[int] = mapped_column(default=0, server_default="0")
    #: a coupon app a member gets one code of, once, for completing the survey; None for none
    reward_coupon_app_id: Mapped[int | None] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="SET NULL"))
    #: digits after the service number that start this survey without a keyword; empty for none
    extension: Mapped[str] = mapped_column(sa.String(6), default="", server_default="")


class SurveyQuestion(IdMixin, db.Model):
    __tablename__ = "survey_questions"
    __table_args__ = (sa.UniqueConstraint("survey_id", "position", name="uq_survey_questions_position"),)

    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"))
    #: 1 for the first question; branches name positions
    position: Mapped[int]
    kind: Mapped[QuestionKind] = mapped_column(enum_type(QuestionKind))
    #: the SMS wording, options included as the merchant wants them shown
    text: Mapped[str] = mapped_column(sa.String(500))
    #: the options of a choice question, in order (A, B, ...)
    options: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: option letter → position of the next question
    branches: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: what an invalid answer gets; empty: "please answer" and the question again
    reask_text: Mapped[str] = mapped_column(sa.String(500), default="")


class SurveySession(IdMixin, db.Model):
    """One texter going through one survey; open until finished or expired."""
    __tablename__ = "survey_sessions"
    __table_args__ = (sa.Index("ix_survey_sessions_lookup", "merchant_id", "msisdn", "expires_at"),
                      # the results' counts read this index alone
                      sa.Index("ix_survey_sessions_results", "survey_id", "completed_at"))

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the last answer plus the survey's timeout: a texter resumes until then
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: when the session ended: completed, replaced by another survey, or (set lazily) never
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the position of the question waiting for its answer (0: the intro of a survey without questions)
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    #: invalid answers to the current question so far
    reasks: Mapped[int] = mapped_column(default=0, server_default="0")
    #: set when the last question was answered (or skipped), not when the session lapsed
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the outbox occasion of the invitation that opened it (``campaign-run:7``); None when the
    #: texter started it by keyword or extension
    occasion: Mapped[str | None] = mapped_column(sa.String(40), index=True)


class SurveyAnswer(IdMixin, db.Model):
    __tablename__ = "survey_answers"
    # the results group a survey's answers by (position, value), and count their sessions, from this
    # index alone: one range read, no join, no sort (bench/surveys.py, 100,000 responses)
    __table_args__ = (sa.Index("ix_survey_answers_tally", "survey_id", "position", "value", "session_id"),)

    session_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_sessions.id", ondelete="CASCADE"), index=True)
    #: the session's survey, kept on the answer so the results read one index range
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id"))
    #: the question's position; 0 for the answer to the intro of a survey without questions
    position: Mapped[int] = mapped_column(default=0)
    #: what the texter sent
    text: Mapped[str] = mapped_column(sa.String(700))
    #: the answer as read (``A``, ``A,C``, ``4``); the text for free text
    value: Mapped[str] = mapped_column(sa.String(700), default="", server_default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
