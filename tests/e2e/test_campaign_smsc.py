"""A campaign end to end through the real SMSC peer: a segment, a campaign, one signed copy with the
unsubscribe hint to every recipient, nothing to the opted-out member nor to one who opts out after
the campaign was queued, a reply by SMS, and receipts that update the report."""
from datetime import UTC, datetime

from mcrm.campaigns import services
from mcrm.campaigns.models import Campaign, CampaignStatus
from mcrm.members.models import Member
from mcrm.members.services import opt_out
from mcrm.messaging.models import InboundMessage, MessageStatus, OutboundMessage
from tests.e2e.test_gateway_smsc import SERVICE_NUMBER, count, gateway, smsc  # noqa: F401  (fixtures)
from tests.smsc_peer import wait_until


def test_a_campaign_reaches_its_segment_once_signed_and_receipts_fill_the_report(db, merchant, make_member,
                                                                                   smsc, gateway):
    now = datetime.now(UTC)
    merchant.send_window_start, merchant.send_window_end = (datetime.min.time(),
                                                            datetime.max.time().replace(microsecond=0))
    db.session.commit()                  # the test may run at any hour: the window is the whole day
    women = [make_member(msisdn=f"1380000000{n}", name=f"会员{n}", gender="f") for n in range(3)]
    make_member(msisdn="13800000008", name="退订者", gender="f", opted_out=True)
    make_member(msisdn="13800000009", name="男士", gender="m")
    campaign = services.create_campaign(
        merchant, name="女神节", body="{name}您好，女神节全场八折",
        segment={"op": "and", "items": [{"type": "gender", "genders": ["f"]}]}, now=now)
    services.launch_campaign(campaign, now=now)
    db.session.commit()
    campaign_id = campaign.id
    assert services.dispatch_due(now=now) == 4
    # the last woman opts out after the campaign was queued: the gateway must not send hers
    opt_out(db.session.get(Member, women[2].id), now=now)
    db.session.commit()

    gateway()
    wait_until(lambda: count(db, OutboundMessage.status == MessageStatus.DELIVERED) == 2, timeout=15,
               message="both copies delivered")
    sent = sorted((r["destination_addr"], r["text"]) for r in smsc.records("message"))
    assert sent == [("8613800000000", "【小王烧烤】会员0您好，女神节全场八折回T退订"),
                    ("8613800000001", "【小王烧烤】会员1您好，女神节全场八折回T退订")]

    smsc.mo("8613800000001", SERVICE_NUMBER, "好的，周六去")
    wait_until(lambda: count(db, model=InboundMessage) == 1, timeout=10, message="the reply stored")
    services.dispatch_due(now=datetime.now(UTC))        # the next minute's job finishes the run
    campaign = db.session.get(Campaign, campaign_id)
    report = services.campaign_report(campaign, now=datetime.now(UTC))
    assert (report.targeted, report.delivered, report.replies, report.queued) == (4, 2, 1, 0)
    assert report.suppressed == {"opted out": 2}
    assert campaign.status is CampaignStatus.DONE
    db.session.rollback()
    assert count(db, OutboundMessage.msisdn == "+8613800000009") == 0
