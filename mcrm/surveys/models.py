"""Surveys answered by SMS. Only what starting one needs so far: the survey and a texter's session."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime
from mcrm.extensions import db


class Survey(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "surveys"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "code", name="uq_surveys_merchant_code"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    #: what a texter adds after DC to pick this survey (``DC A1``)
    code: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(100))
    #: the first text a texter gets (the opening question)
    intro: Mapped[str] = mapped_column(sa.String(500))
    is_active: Mapped[bool] = mapped_column(default=False)
    #: an unanswered session closes after this many hours (docs/keywords.md: 24)
    timeout_hours: Mapped[int] = mapped_column(default=24)


class SurveySession(IdMixin, db.Model):
    """One texter going through one survey; open until finished or expired."""
    __tablename__ = "survey_sessions"
    __table_args__ = (sa.Index("ix_survey_sessions_lookup", "merchant_id", "msisdn", "expires_at"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SurveyAnswer(IdMixin, db.Model):
    __tablename__ = "survey_answers"

    session_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_sessions.id", ondelete="CASCADE"), index=True)
    #: 0 for the answer to the intro question; the survey issue adds the rest
    position: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(sa.String(700))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
