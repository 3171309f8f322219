"""Replies to a campaign, counted in its report, and the segment conditions "campaign received" and
"replied to a campaign" that campaigns add to the segment language."""
from datetime import timedelta

import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.messaging.models import MessageStatus, OutboundMessage
from mcrm.messaging.services import store_inbound
from mcrm.segments.services import count_members, describe, sample_members


def text_in(db, msisdn, at):
    store_inbound(source_addr=msisdn, destination_addr="106571234501", text="好的", data_coding=0,
                  received_at=at, access_number="1065712345")
    db.session.commit()


def test_replies_within_the_reply_days_count_once_per_recipient(db, merchant, make_member, launch, now):
    replier, late, early = (make_member(msisdn=f"1380000000{n}") for n in range(3))
    make_member(msisdn="13800000009", opted_out=True)
    other = launch(name="另一个")
    services.dispatch_due(now=now)
    campaign = launch(at=now + timedelta(days=1))
    services.dispatch_due(now=now + timedelta(days=1))
    db.session.execute(sa.update(OutboundMessage).where(OutboundMessage.status == MessageStatus.QUEUED)
                       .values(status=MessageStatus.DELIVERED))
    db.session.commit()
    text_in(db, replier.msisdn, now + timedelta(days=1, hours=2))
    text_in(db, replier.msisdn, now + timedelta(days=1, hours=3))         # counted once
    text_in(db, late.msisdn, now + timedelta(days=1 + services.REPLY_DAYS, hours=1))
    text_in(db, early.msisdn, now + timedelta(hours=1))                  # before it: a reply to the other one
    assert services.campaign_report(campaign, now=now).replies == 1
    assert services.campaign_report(other, now=now).replies == 2

    def members(definition):
        return {m.msisdn for m in sample_members(merchant.id, definition, now=now + timedelta(days=5))}

    replied = {"op": "and", "items": [{"type": "campaign_replied", "campaign_id": campaign.id}]}
    assert members(replied) == {replier.msisdn}
    assert members({"op": "and", "items": [{"type": "campaign_replied"}]}) == {replier.msisdn, early.msisdn}
    assert members({"op": "not", "items": [{"type": "campaign_replied"}]}) == {late.msisdn, "+8613800000009"}
    received = {"op": "and", "items": [{"type": "campaign_received", "campaign_id": campaign.id}]}
    assert members(received) == {replier.msisdn, late.msisdn, early.msisdn}
    assert count_members(merchant.id, {"op": "and", "items": [
        {"type": "campaign_received", "period": {"days": 1}}]}, now=now + timedelta(days=1, hours=1)) == 3
    assert describe(merchant.id, replied, locale="en") == "Replied to 周末活动"


def test_a_suppressed_or_queued_message_is_not_received(db, merchant, make_member, launch, now):
    make_member(msisdn="13800000001", opted_out=True)
    make_member(msisdn="13800000002")
    launch()
    services.dispatch_due(now=now)
    assert count_members(merchant.id, {"op": "and", "items": [{"type": "campaign_received"}]}, now=now) == 0


def test_the_campaign_conditions_are_described_in_both_languages(db, merchant, make_member, launch, now):
    make_member(msisdn="13800000001")
    campaign = launch()
    for definition in ({"type": "campaign_received"}, {"type": "campaign_replied"},
                       {"type": "campaign_received", "campaign_id": campaign.id, "period": {"days": 7}},
                       {"type": "campaign_replied", "campaign_id": campaign.id,
                        "period": {"from": "2026-11-01", "to": "2026-11-30"}}):
        english = describe(merchant.id, definition, locale="en")
        chinese = describe(merchant.id, definition, locale="zh")
        assert english != chinese and not any(word in chinese for word in ("campaign", "replied", "received")), \
            (english, chinese)
