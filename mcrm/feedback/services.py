"""Feedback intake: a texted suggestion, complaint or praise becomes a ticket for the desk."""
from datetime import datetime

from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.feedback.models import FeedbackTicket, TicketKind
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant

MAX_TEXT = 700


def open_ticket(merchant: Merchant, *, msisdn: str, kind: str, text: str, now: datetime,
                member: Member | None = None, inbound_message_id: int | None = None) -> FeedbackTicket:
    """A new open ticket; its ``number`` is what the texter is told."""
    if kind not in tuple(TicketKind):
        raise ValidationError("Unknown feedback kind %(kind)r", kind=kind)
    text = (text or "").strip()
    if not text:
        raise ValidationError("Feedback text is empty")
    ticket = FeedbackTicket(merchant_id=merchant.id, member_id=member.id if member else None, msisdn=msisdn,
                            kind=kind, text=text[:MAX_TEXT], inbound_message_id=inbound_message_id,
                            received_at=now, created_at=now)
    db.session.add(ticket)
    db.session.flush()
    return ticket
