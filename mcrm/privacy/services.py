"""A member's data gathered from every feature (a copy on request), and erased from every feature.

Above the features it reads (the API's stored answers too), so that none of them imports it; each
erases its own tables. ``tests/mcrm/test_privacy.py`` lists every column that may hold a number.
"""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from mcrm.agenda.models import AgendaItem, agenda_item_members
from mcrm.api.services import erase_from_answers
from mcrm.core.msisdn import national_digits
from mcrm.extensions import db
from mcrm.feedback.models import FeedbackTicket, TicketEntry
from mcrm.feedback.services import erase_feedback
from mcrm.keywords.services import erase_keyword_records
from mcrm.members.csv_io import erase_import_lines
from mcrm.members.models import Member
from mcrm.members.services import erase_member_profile, list_consent_records, member_birthday
from mcrm.messaging.models import InboundMessage, OutboundMessage
from mcrm.messaging.services import erase_inbound_parts, erase_messages
from mcrm.points.models import PointsEntry
from mcrm.surveys.models import Survey, SurveyAnswer, SurveySession
from mcrm.surveys.services import erase_answers
from mcrm.webhooks.services import erase_deliveries


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(rows, *names) -> list[dict]:
    return [{name: _plain(getattr(row, name)) for name in names} for row in rows]


def member_data(member: Member) -> dict:
    """Everything mcrm keeps about one member, as JSON-ready data: profile, points ledger, messages
    (bodies as stored: a login code is masked there, and its secret text is never read), consents,
    feedback, survey answers and agenda appointments."""
    scalars = db.session.scalars
    birthday = member_birthday(member)
    profile = _rows([member], "member_no", "msisdn", "name", "gender", "joined_at", "source", "tier",
                    "points_balance", "total_spend", "last_visit_at", "opted_out", "opted_out_at",
                    "custom_fields", "tag_names")[0]
    profile["birthday"] = birthday.display() if birthday else None
    tickets = scalars(sa.select(FeedbackTicket).where(FeedbackTicket.merchant_id == member.merchant_id, sa.or_(
        FeedbackTicket.member_id == member.id, FeedbackTicket.msisdn == member.msisdn)).order_by(FeedbackTicket.id))
    sessions = sa.select(SurveySession.id).where(SurveySession.merchant_id == member.merchant_id, sa.or_(
        SurveySession.member_id == member.id, SurveySession.msisdn == member.msisdn))
    answers = db.session.execute(
        sa.select(Survey.title, SurveyAnswer.position, SurveyAnswer.value, SurveyAnswer.received_at)
        .join(SurveySession, SurveySession.id == SurveyAnswer.session_id).join(Survey, Survey.id == SurveySession.survey_id)
        .where(SurveyAnswer.session_id.in_(sessions)).order_by(SurveyAnswer.id))
    return {
        "profile": profile,
        "points": _rows(scalars(sa.select(PointsEntry).where(PointsEntry.member_id == member.id)
                                .order_by(PointsEntry.id)),
                        "created_at", "kind", "points", "balance_after", "amount", "reason"),
        "messages_sent": _rows(scalars(sa.select(OutboundMessage).where(
            OutboundMessage.merchant_id == member.merchant_id,
            sa.or_(OutboundMessage.member_id == member.id, OutboundMessage.msisdn == member.msisdn))
            .order_by(OutboundMessage.id)), "created_at", "kind", "body", "status"),
        "messages_received": _rows(scalars(sa.select(InboundMessage).where(
            InboundMessage.merchant_id == member.merchant_id, InboundMessage.msisdn == member.msisdn)
            .order_by(InboundMessage.id)), "received_at", "text"),
        "consents": _rows(list_consent_records(member), "at", "event", "channel", "detail"),
        "feedback": [{**_rows([ticket], "received_at", "kind", "text", "status")[0],
                      "thread": _rows(scalars(sa.select(TicketEntry).where(TicketEntry.ticket_id == ticket.id)
                                              .order_by(TicketEntry.id)), "created_at", "kind", "body")}
                     for ticket in tickets],
        "survey_answers": [{"survey": title, "question": position, "answer": value, "received_at": _plain(at)}
                           for title, position, value, at in answers],
        "appointments": _rows(scalars(sa.select(AgendaItem).join(agenda_item_members).where(
            agenda_item_members.c.member_id == member.id, AgendaItem.deleted_at.is_(None))
            .order_by(AgendaItem.starts_at)), "title", "place", "starts_at", "repeat"),
    }


def confirms_erasure(member: Member, typed: str) -> bool:
    """Whether ``typed`` is the last four digits of the member's number: the erasure's confirmation."""
    return len(typed.strip()) == 4 and national_digits(member.msisdn).endswith(typed.strip())


def erase_member(member: Member, *, now: datetime, access_number: str, region: str) -> None:
    """Erase a member's personal data everywhere on their request; the ledger and the totals stay
    without the person (``members.services.erase_member_profile``), and a number that had opted out
    stays on the opt-out list. ``access_number`` and ``region`` route the parts of long texts as the
    gateway does (``Settings``). Flushes."""
    msisdn, member_no = member.msisdn, member.member_no
    placeholder = erase_member_profile(member, now=now)
    erase_messages(member.merchant_id, member.id, msisdn, placeholder)
    erase_inbound_parts(member.merchant_id, msisdn, access_number=access_number, region=region)
    erase_feedback(member.merchant_id, member.id, msisdn, placeholder)
    erase_answers(member.merchant_id, member.id, msisdn, placeholder)
    erase_deliveries(member.merchant_id, member_no=member_no, msisdn=msisdn)
    erase_keyword_records(member.merchant_id, msisdn, placeholder, now=now)
    erase_from_answers(member.merchant_id, msisdn, placeholder)
    erase_import_lines(member.merchant_id, msisdn, now=now)
