"""Campaign fixtures: a campaign launched for the default merchant, and the outbox rows of its runs."""
import pytest
import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.messaging.models import OutboundMessage


@pytest.fixture
def launch(db, merchant, now):
    """launch(body=..., segment=..., **options) creates and launches a campaign, committed."""
    def make(body="{name}您好，周末全场八折", *, name="周末活动", at=None, merchant=merchant, **options):
        campaign = services.create_campaign(merchant, name=name, body=body, now=at or now,
                                            actor_label="test", **options)
        services.launch_campaign(campaign, now=at or now)
        db.session.commit()
        return campaign
    return make


def outbox(db, campaign=None):
    """(msisdn, status, suppressed_reason, text) of every outbox row, of one campaign's runs or all."""
    db.session.expire_all()
    query = sa.select(OutboundMessage.msisdn, OutboundMessage.status, OutboundMessage.suppressed_reason,
                      OutboundMessage.text).order_by(OutboundMessage.id)
    if campaign is not None:
        query = query.where(OutboundMessage.occasion.in_([run.occasion for run in campaign.runs]))
    rows = db.session.execute(query).all()
    db.session.rollback()
    return rows
