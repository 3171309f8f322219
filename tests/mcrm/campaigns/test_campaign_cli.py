"""``mcrm campaign``: the console's checks from the command line, through the same services."""
import json

import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.campaigns.models import Campaign, CampaignStatus, Recurrence


def campaigns(db):
    db.session.expire_all()
    return db.session.scalars(sa.select(Campaign).order_by(Campaign.id)).all()


def test_create_launches_a_campaign_for_a_segment_at_a_local_time(runner, db, merchant, make_member, now):
    make_member(msisdn="13800000001")
    make_member(msisdn="13800000002", opted_out=True)
    make_member(msisdn="13800000003", gender="f")
    segment = json.dumps({"op": "and", "items": [{"type": "gender", "genders": ["u"]}]})
    result = runner.invoke(args=["campaign", "create", "--merchant", "01", "--name", "周末",
                                 "--text", "{name}您好",
                                 "--segment", segment, "--at", "2099-03-01T10:00", "--every", "weekly"])
    assert result.exit_code == 0, result.output
    [campaign] = campaigns(db)
    assert result.output.strip() == (f"Campaign {campaign.id} 周末: scheduled for 2099-03-01T10:00+08:00; "
                                     "1 recipients (1 opted out left out), at most 1 SMS each, 1 in all")
    assert (campaign.status, campaign.recurrence, campaign.created_by) == (
        CampaignStatus.SCHEDULED, Recurrence.WEEKLY, "cli")


def test_create_refuses_what_the_console_refuses_and_saves_nothing(runner, db, merchant, make_member):
    make_member(msisdn="13800000001")
    for options, message in [(["--text", "{nick}您好"], "Unknown placeholder {nick}"),
                             (["--text", "您好", "--segment", "{"],
                              "The segment definition is not valid JSON"),
                             (["--text", "您好", "--at", "2001-01-01T10:00"], "The sending time has passed"),
                             (["--text", "券{coupon}"], "Choose a coupon app to use {coupon} in the text")]:
        result = runner.invoke(args=["campaign", "create", "--merchant", "01", "--name", "x", *options])
        assert result.exit_code == 2, result.output
        assert message in result.output
    unknown = runner.invoke(args=["campaign", "create", "--merchant", "99", "--name", "x", "--text", "您好"])
    assert unknown.exit_code == 2
    assert campaigns(db) == []


def test_list_pause_resume_cancel_and_report(runner, db, merchant, make_member, make_merchant, now):
    make_member(msisdn="13800000001")
    campaign = services.create_campaign(merchant, name="周末", body="您好", now=now)
    services.launch_campaign(campaign, now=now)
    db.session.commit()
    services.dispatch_due(now=now)
    listed = runner.invoke(args=["campaign", "list", "--merchant", "01"])
    assert listed.output.splitlines() == [f"{campaign.id}\tsending\t-\t1/1\tdelivered 0\t周末"]
    for verb, status in [("pause", "paused"), ("resume", "sending"), ("cancel", "cancelled")]:
        result = runner.invoke(args=["campaign", verb, "--merchant", "01", str(campaign.id)])
        assert result.exit_code == 0, result.output
        assert result.output.strip().endswith(f"now {status}")
    again = runner.invoke(args=["campaign", "resume", "--merchant", "01", str(campaign.id)])
    assert (again.exit_code, again.output.strip()) == (2, "Error: Only a paused campaign can be resumed")
    report = runner.invoke(args=["campaign", "report", "--merchant", "01", str(campaign.id)])
    assert "targeted            1" in report.output and "  cancelled         1" in report.output
    other = make_merchant()
    foreign = runner.invoke(args=["campaign", "cancel", "--merchant", other.sub_code, str(campaign.id)])
    assert (foreign.exit_code, foreign.output.strip()) == (2, "Error: No such campaign")
