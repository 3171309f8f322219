"""Care fixtures: a greeting switched on for the default merchant, and the greetings' outbox rows."""
import pytest
import sqlalchemy as sa

from mcrm.care import services
from mcrm.messaging.models import OutboundMessage


@pytest.fixture
def greet(db, merchant, now):
    """greet(kind="birthday", body=..., **options) switches a greeting on, committed."""
    def make(kind="birthday", body="{name}生日快乐", *, merchant=merchant, hour=10, **options):
        greeting = services.save_greeting(merchant, kind=kind, enabled=True, body=body, hour=hour, now=now,
                                          **options)
        db.session.commit()
        return greeting
    return make


def greetings_out(db):
    """(msisdn, status, suppressed_reason, occasion, text) of every greeting's outbox row."""
    db.session.expire_all()
    rows = db.session.execute(sa.select(
        OutboundMessage.msisdn, OutboundMessage.status, OutboundMessage.suppressed_reason,
        OutboundMessage.occasion, OutboundMessage.text,
    ).where(OutboundMessage.occasion.like("care:%")).order_by(OutboundMessage.id)).all()
    db.session.rollback()
    return rows
