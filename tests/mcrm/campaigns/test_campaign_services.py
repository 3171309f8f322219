"""Campaigns: composing, launching, dispatch, the marketing rules per batch, pause, resume, cancel, report."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.members.models import Member
from mcrm.messaging.models import MessageStatus, OutboundMessage
from mcrm.messaging.services import enqueue_sms
from tests.concurrency import run_together
from tests.mcrm.campaigns.conftest import outbox

Q, S = MessageStatus.QUEUED, MessageStatus.SUPPRESSED


def test_a_campaign_queues_one_signed_copy_per_member_and_suppresses_the_opted_out(db, merchant, make_member,
                                                                                   launch, now):
    make_member(msisdn="13800000001", name="张三")
    make_member(msisdn="13800000002", name="")
    make_member(msisdn="13800000003", name="王五", opted_out=True)
    campaign = launch()
    assert services.dispatch_due(now=now) == 3
    assert outbox(db, campaign) == [
        ("+8613800000001", Q, None, "【小王烧烤】张三您好，周末全场八折回T退订"),
        ("+8613800000002", Q, None, "【小王烧烤】会员您好，周末全场八折回T退订"),
        ("+8613800000003", S, "opted out", "【小王烧烤】王五您好，周末全场八折回T退订")]
    db.session.refresh(campaign)
    [run] = campaign.runs
    assert (campaign.status, run.status, run.targeted) == (CampaignStatus.SENDING, RunStatus.SENDING, 3)


def test_dispatch_run_twice_queues_each_member_once(db, merchant, make_member, launch, now):
    for n in range(5):
        make_member(msisdn=f"1380000000{n}")
    campaign = launch()
    services.dispatch_due(now=now, batch_size=2)
    services.dispatch_due(now=now, batch_size=2)
    services.dispatch_due(now=now + timedelta(minutes=1), batch_size=2)
    assert len(outbox(db, campaign)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CampaignRun)) == 1


def test_two_dispatchers_racing_start_one_run_and_queue_each_member_once(app, db, merchant, make_member,
                                                                         launch, now):
    for n in range(30):
        make_member(msisdn=f"138000000{n:02d}")
    campaign_id = launch().id
    run_together(app, lambda n: services.dispatch_due(now=now, batch_size=4), threads=2)
    campaign = db.session.get(Campaign, campaign_id)
    rows = outbox(db, campaign)
    assert len(rows) == 30 and len({r.msisdn for r in rows}) == 30
    assert len(campaign.runs) == 1


def test_outside_the_window_messages_wait_for_it_to_open(db, merchant, make_member, launch, now):
    make_member(msisdn="13800000001")
    night = now.replace(hour=14)                                      # 22:00 in Shanghai
    launch(at=night)
    services.dispatch_due(now=night)
    message = db.session.scalar(sa.select(OutboundMessage))
    assert message.status is Q and message.not_before == night + timedelta(hours=10)   # 08:00 next day


def test_the_frequency_cap_suppresses_a_member_texted_today(db, merchant, make_member, launch, now):
    make_member(msisdn="13800000001")
    make_member(msisdn="13800000002")
    enqueue_sms(merchant, msisdn="13800000001", body="早上好", kind="marketing", now=now - timedelta(hours=2))
    db.session.commit()
    campaign = launch()
    services.dispatch_due(now=now)
    assert [(r.msisdn, r.suppressed_reason) for r in outbox(db, campaign)] == [
        ("+8613800000001", "frequency cap"), ("+8613800000002", None)]


def test_pause_holds_queued_messages_and_resume_queues_them_again(db, merchant, make_member, launch, now):
    make_member(msisdn="13800000001")
    campaign = launch()
    services.dispatch_due(now=now)
    services.pause_campaign(campaign, now=now)
    db.session.commit()
    assert [r.status for r in outbox(db, campaign)] == [MessageStatus.HELD]
    assert campaign.status is CampaignStatus.PAUSED and campaign.runs[0].status is RunStatus.PAUSED
    services.dispatch_due(now=now)            # a paused run is neither finished nor queued further
    services.resume_campaign(campaign, now=now)
    db.session.commit()
    assert [r.status for r in outbox(db, campaign)] == [Q]
    assert campaign.status is CampaignStatus.SENDING


def test_a_pause_mid_enqueue_stops_queuing_and_resume_goes_on(db, merchant, make_member, launch, now):
    for n in range(6):
        make_member(msisdn=f"1380000000{n}")
    campaign = launch()
    services._start_run(campaign.id, now)
    db.session.commit()
    run_id = campaign.runs[0].id
    assert services.enqueue_batch(run_id, now=now, batch_size=2) == 2
    services.pause_campaign(campaign, now=now)
    db.session.commit()
    assert services.enqueue_batch(run_id, now=now, batch_size=2) is None
    services.resume_campaign(campaign, now=now)
    db.session.commit()
    services.dispatch_due(now=now, batch_size=2)
    assert len(outbox(db, campaign)) == 6


def test_cancel_suppresses_what_no_gateway_took_and_stops_the_run(db, merchant, make_member, launch, now):
    for n in range(4):
        make_member(msisdn=f"1380000000{n}")
    campaign = launch()
    services._start_run(campaign.id, now)
    services.enqueue_batch(campaign.runs[0].id, now=now, batch_size=2)
    db.session.commit()
    services.cancel_campaign(campaign, now=now)
    db.session.commit()
    assert [(r.status, r.suppressed_reason) for r in outbox(db, campaign)] == [(S, "cancelled")] * 2
    services.dispatch_due(now=now)
    assert len(outbox(db, campaign)) == 2                            # the other two never get one
    with pytest.raises(ConflictError):
        services.cancel_campaign(campaign, now=now)
    assert services.campaign_report(campaign, now=now).suppressed == {"cancelled": 2}


def test_a_one_off_campaign_is_done_when_every_message_is_final(db, merchant, make_member, launch, now):
    make_member(msisdn="13800000001")
    campaign = launch()
    services.dispatch_due(now=now)
    db.session.execute(sa.update(OutboundMessage).values(status=MessageStatus.DELIVERED))
    db.session.commit()
    services.dispatch_due(now=now + timedelta(minutes=1))
    db.session.refresh(campaign)
    assert campaign.status is CampaignStatus.DONE and campaign.runs[0].status is RunStatus.DONE
    report = services.campaign_report(campaign, now=now)
    assert (report.targeted, report.delivered, report.processed) == (1, 1, 1)


def test_a_daily_campaign_sends_again_the_next_day_and_skips_missed_days(db, merchant, make_member, launch,
                                                                         now):
    make_member(msisdn="13800000001")
    first = now + timedelta(hours=1)                                   # 13:00 in Shanghai
    campaign = launch(send_at=first, recurrence="daily")
    assert services.dispatch_due(now=now) == 0                          # not due yet
    services.dispatch_due(now=first)
    db.session.refresh(campaign)
    assert campaign.scheduled_at == first + timedelta(days=1)
    db.session.execute(sa.update(OutboundMessage).values(status=MessageStatus.DELIVERED))
    db.session.commit()
    services.dispatch_due(now=first + timedelta(minutes=1))
    assert campaign.status is CampaignStatus.SCHEDULED
    # the scheduler was down for three days: one run on its return, then the next occasion
    late = first + timedelta(days=3, hours=2)
    services.dispatch_due(now=late)
    db.session.refresh(campaign)
    assert [run.scheduled_for for run in campaign.runs] == [first, first + timedelta(days=1)]
    assert campaign.scheduled_at == first + timedelta(days=4)
    assert [r.status for r in outbox(db, campaign)] == [MessageStatus.DELIVERED, Q]


def test_checks_on_composing(db, merchant, make_member, now, make_merchant):
    with pytest.raises(ValidationError, match="Unknown placeholder"):
        services.create_campaign(merchant, name="x", body="{nickname}您好", now=now)
    with pytest.raises(ValidationError, match="coupon app"):
        services.create_campaign(merchant, name="x", body="券码{coupon}", now=now)
    with pytest.raises(ValidationError, match="name"):
        services.create_campaign(merchant, name=" ", body="您好", now=now)
    with pytest.raises(ValidationError, match="passed"):
        services.create_campaign(merchant, name="x", body="您好", send_at=now - timedelta(hours=1), now=now)
    with pytest.raises(ValidationError, match="Repeat"):
        services.create_campaign(merchant, name="x", body="您好", recurrence="hourly", now=now)
    with pytest.raises(ValidationError, match="JSON"):
        services.create_campaign(merchant, name="x", body="您好", segment="{", now=now)
    campaign = services.create_campaign(merchant, name="x", body="您好", now=now)
    with pytest.raises(ValidationError, match="Nobody"):
        services.launch_campaign(campaign, now=now)
    other = make_merchant()
    with pytest.raises(NotFoundError):
        services.get_campaign(other, campaign.id)


def test_preview_counts_with_the_longest_values_of_the_segment(db, merchant, make_member, now):
    make_member(msisdn="13800000001", name="张三", points=80)
    make_member(msisdn="13800000002", name="欧阳娜娜娜", points=12345)
    make_member(msisdn="13800000003", name="李四", opted_out=True)
    figures = services.preview(merchant, body="{name}您好，您有{points}积分", now=now)
    assert figures.longest_values == {"name": "欧阳娜娜娜", "points": "12345"}
    assert figures.longest_text == "【小王烧烤】欧阳娜娜娜您好，您有12345积分回T退订"
    assert (figures.recipients, figures.opted_out, figures.parts, figures.total_parts) == (3, 1, 1, 2)
    assert figures.problems == []
    empty = services.preview(merchant, body="", segment={"op": "and", "items": [
        {"type": "tier", "tiers": ["金卡"]}]}, now=now)
    assert (empty.recipients, empty.chars) == (0, len("【小王烧烤】回T退订"))
    assert [p.message for p in empty.problems] == ["Nobody in the segment can get marketing SMS"]


def test_a_segment_selects_the_recipients(db, merchant, make_member, launch, now):
    gold = make_member(msisdn="13800000001")
    make_member(msisdn="13800000002")
    db.session.execute(sa.update(Member).where(Member.id == gold.id).values(tier="金卡"))
    db.session.commit()
    campaign = launch(segment={"op": "and", "items": [{"type": "tier", "tiers": ["金卡"]}]})
    services.dispatch_due(now=now)
    assert [r.msisdn for r in outbox(db, campaign)] == ["+8613800000001"]


def test_a_draft_changes_and_a_launched_campaign_does_not(db, merchant, make_member, now):
    make_member(msisdn="13800000001")
    campaign = services.create_campaign(merchant, name="x", body="您好", now=now)
    services.update_campaign(campaign, body="{name}您好", now=now)
    assert campaign.body == "{name}您好" and campaign.name == "x"
    services.launch_campaign(campaign, now=now)
    with pytest.raises(ConflictError):
        services.update_campaign(campaign, body="再见", now=now)
    with pytest.raises(ConflictError):
        services.delete_campaign(campaign)


def test_send_test_goes_to_the_staff_phone_at_once_with_signature_and_hint(db, merchant, make_staff, now):
    staff = make_staff(msisdn="+8613900000009", display_name="店长")
    message = services.send_test("{name}您好，{shop}周末八折", merchant=merchant, actor=staff,
                                 now=now.replace(hour=15))           # 23:00: a test send ignores the window
    assert (message.msisdn, message.status, message.not_before) == ("+8613900000009", Q, None)
    assert message.text == "【小王烧烤】店长您好，小王烧烤周末八折回T退订"


def test_send_test_without_a_phone_says_who_adds_one(db, merchant, make_staff, now):
    staff = make_staff(role="clerk")
    with pytest.raises(ValidationError, match="the owner adds it on the Staff page"):
        services.send_test("您好", merchant=merchant, actor=staff, now=now)


def test_member_fields_are_filled_as_keyword_replies_fill_them(db, merchant, make_member, launch, now):
    from mcrm.keywords.context import member_values
    from mcrm.points.services import SYSTEM, grant_points
    member = make_member(msisdn="13800000001", name="张三", points=300)
    grant_points(member, merchant, 40, reason="test", actor=SYSTEM, now=now - timedelta(days=350))
    db.session.commit()                                         # 40 of them lapse within 30 days
    launch("{name}{points}{tier}{expiring_points}{member_no}{shop}")
    services.dispatch_due(now=now)
    expected = member_values(db.session.get(Member, member.id), now=now) | {"shop": merchant.name}
    [row] = outbox(db)
    assert expected["expiring_points"] == 40
    assert row.text == "【小王烧烤】" + "".join(str(expected[k]) for k in (
        "name", "points", "tier", "expiring_points", "member_no", "shop")) + "回T退订"


def test_the_dispatch_job_starts_due_campaigns(db, merchant, make_member, launch, now):
    from mcrm.jobs import tasks
    make_member(msisdn="13800000001")
    launch()
    assert tasks.dispatch_campaigns(now=now) == 1
    assert tasks.dispatch_campaigns(now=now) == 0
