"""Webhook events: each is queued, one delivery per subscribed endpoint of the merchant, in the
transaction of the change that caused it, carrying what docs/webhooks.md says and no more."""
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.campaigns import services as campaigns
from mcrm.feedback.services import create_ticket
from mcrm.members.csv_io import import_batch
from mcrm.members.services import enrol_member, opt_out, opt_out_number
from mcrm.messaging.models import MessageStatus, OutboundMessage
from mcrm.points.services import SYSTEM
from mcrm.surveys.services import add_question, create_survey
from mcrm.webhooks.models import WebhookDelivery
from tests.mcrm.keywords_support import CONSUMER, phone  # noqa: F401

ALL = ("member.joined", "member.opted_out", "feedback.received", "campaign.finished", "survey.completed")


def queued(db, event=None) -> list[dict]:
    """The bodies of the queued deliveries (of one event), oldest first."""
    query = sa.select(WebhookDelivery.body).order_by(WebhookDelivery.id)
    if event:
        query = query.where(WebhookDelivery.event == event)
    return [json.loads(body) for body in db.session.scalars(query)]


def test_a_member_joining_by_sms_queues_member_joined_without_the_whole_number(phone, make_endpoint, db):
    make_endpoint("http://127.0.0.1:9/hook", events=ALL)
    phone.text("ZC")
    [event] = queued(db)
    assert event["type"] == "member.joined" and len(event["id"]) == 36
    assert event["data"]["source"] == "sms" and event["data"]["msisdn_masked"] == "+86139****9000"
    assert event["data"]["member_no"].isdigit()
    assert CONSUMER not in json.dumps(event) and CONSUMER[3:] not in json.dumps(event)


def test_an_event_rolls_back_with_its_change(make_endpoint, merchant, db, now):
    make_endpoint("http://127.0.0.1:9/hook")
    enrol_member(merchant, msisdn="13800138000", now=now)
    assert len(queued(db)) == 1
    db.session.rollback()
    assert queued(db) == []


def test_one_delivery_per_subscribed_enabled_endpoint_and_none_for_others(make_endpoint, merchant, db, now):
    from mcrm.webhooks.services import set_endpoint_enabled
    first, _ = make_endpoint("http://127.0.0.1:9/a", events=["member.joined", "member.opted_out"])
    second, _ = make_endpoint("http://127.0.0.1:9/b", events=["member.joined"])
    off, _ = make_endpoint("http://127.0.0.1:9/c", events=["member.joined"])
    set_endpoint_enabled(off, False)
    member = enrol_member(merchant, msisdn="13800138000", now=now)
    opt_out(member, now=now)
    rows = db.session.execute(sa.select(WebhookDelivery.endpoint_id, WebhookDelivery.event, WebhookDelivery.event_id)
                              .order_by(WebhookDelivery.id)).all()
    assert [(r.endpoint_id, r.event) for r in rows] == [
        (first.id, "member.joined"), (second.id, "member.joined"), (first.id, "member.opted_out")]
    assert rows[0].event_id == rows[1].event_id != rows[2].event_id


def test_another_merchants_changes_queue_nothing_for_this_merchants_endpoints(make_endpoint, make_merchant, db,
                                                                                now):
    make_endpoint("http://127.0.0.1:9/hook", events=ALL)
    other = make_merchant()
    member = enrol_member(other, msisdn="13800138000", now=now)
    opt_out(member, now=now)
    opt_out_number(other, "13900139001", now=now, channel="sms")
    assert queued(db) == []


def test_opting_out_a_member_and_a_number_that_is_no_member(make_endpoint, make_member, merchant, db, now):
    make_endpoint("http://127.0.0.1:9/hook", events=["member.opted_out"])
    member = make_member(msisdn="13800138000")
    assert opt_out(member, now=now) and not opt_out(member, now=now)   # the second changes nothing
    opt_out_number(merchant, "13900139001", now=now, channel="sms", detail="STOP")
    of_member, of_number = [event["data"] for event in queued(db)]
    assert of_member == {"member_no": member.member_no, "msisdn_masked": "+86138****8000", "channel": "console",
                         "opted_out_at": now.isoformat()}
    # a number that is no member has nothing else to be suppressed by
    assert of_number == {"member_no": None, "msisdn": "+8613900139001", "channel": "sms",
                         "opted_out_at": now.isoformat()}


def test_stop_by_sms_queues_opted_out(phone, make_member, make_endpoint, db):
    make_member(msisdn=CONSUMER)
    make_endpoint("http://127.0.0.1:9/hook", events=["member.opted_out"])
    phone.text("TD")
    [event] = queued(db)
    assert event["type"] == "member.opted_out" and event["data"]["msisdn_masked"] == "+86139****9000"


def test_an_import_queues_member_joined_for_new_and_returning_members_only(make_endpoint, make_member, merchant,
                                                                            db, now):
    from mcrm.members.services import delete_member
    make_member(msisdn="13800000003")
    delete_member(make_member(msisdn="13800000004"), now=now)
    db.session.commit()
    make_endpoint("http://127.0.0.1:9/hook")
    rows = [(2, ["13800000001", "张三"]), (3, ["13800000002", "李四"]), (4, ["13800000003", "王五"]),
            (5, ["13800000004", "赵六"])]
    import_batch(merchant, rows, mapping={"0": "msisdn", "1": "name"}, headers=["手机", "姓名"], region="CN",
                 actor=SYSTEM, now=now, source_label="test.csv", seen={})
    events = [event["data"] for event in queued(db)]
    # 0003 was a member already: updated, it did not join
    assert sorted(e["msisdn_masked"] for e in events) == ["+86138****0001", "+86138****0002", "+86138****0004"]
    assert {e["source"] for e in events} == {"import"}


def test_feedback_queues_its_text_with_numbers_masked(make_endpoint, make_staff, merchant, db, now):
    make_endpoint("http://127.0.0.1:9/hook", events=["feedback.received"])
    ticket = create_ticket(merchant, msisdn="13800138000", kind="complaint", text="请回电 13900139001",
                           now=now, actor=make_staff("owner"))
    [event] = queued(db)
    assert event["data"] == {"ticket_id": ticket.id, "kind": ticket.kind, "member_no": None,
                             "msisdn_masked": "+86138****8000", "text": "请回电 139****9001",
                             "received_at": now.isoformat()}


def test_a_finished_campaign_run_queues_campaign_finished(make_endpoint, make_member, merchant, db, now):
    make_endpoint("http://127.0.0.1:9/hook", events=["campaign.finished"])
    make_member(msisdn="13800000001")
    campaign = campaigns.create_campaign(merchant, name="周末活动", body="周末八折", now=now, actor_label="test")
    campaigns.launch_campaign(campaign, now=now)
    db.session.commit()
    campaigns.dispatch_due(now=now)
    assert queued(db) == []                                  # queued, not yet sent
    db.session.execute(sa.update(OutboundMessage).values(status=MessageStatus.DELIVERED))
    db.session.commit()
    campaigns.dispatch_due(now=now + timedelta(minutes=1))
    [event] = queued(db)
    assert event["data"]["campaign_id"] == campaign.id and event["data"]["name"] == "周末活动"
    assert event["data"]["targeted"] == 1


@pytest.fixture
def survey(merchant, db):
    made = create_survey(merchant, code="Q1", title="满意度", intro="您好", thanks="谢谢参与！", is_active=True)
    add_question(made, kind="text", text="1.有什么建议？")
    db.session.commit()
    return made


def test_a_completed_survey_queues_survey_completed_without_answers(phone, survey, make_endpoint, db):
    make_endpoint("http://127.0.0.1:9/hook", events=["survey.completed"])
    phone.text("DC Q1")
    assert queued(db) == []
    phone.text("上菜快一点")
    [event] = queued(db)
    assert event["data"]["survey_code"] == survey.code and event["data"]["msisdn_masked"] == "+86139****9000"
    assert "上菜快一点" not in json.dumps(event, ensure_ascii=False)


def test_finished_deliveries_are_forgotten_after_30_days_and_waiting_ones_kept(make_endpoint, merchant, db, now):
    from mcrm.jobs.tasks import forget_webhook_deliveries
    make_endpoint("http://127.0.0.1:9/hook")
    statuses = ["delivered", "failed", "pending"]
    for n in range(len(statuses)):
        enrol_member(merchant, msisdn=f"1380000000{n}", now=now)
    for delivery, status in zip(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)),
                                statuses, strict=True):
        delivery.status = status
    db.session.commit()
    assert forget_webhook_deliveries(now=now + timedelta(days=29)) == 0
    assert forget_webhook_deliveries(now=now + timedelta(days=31)) == 2
    assert db.session.scalars(sa.select(WebhookDelivery.status)).all() == ["pending"]


def test_erasing_a_member_deletes_the_deliveries_that_name_it(make_endpoint, make_member, merchant, db, now,
                                                             settings):
    from mcrm.privacy.services import erase_member
    make_endpoint("http://127.0.0.1:9/hook", events=ALL)
    opt_out_number(merchant, "13800138000", now=now, channel="sms")       # before it joined
    member = make_member(msisdn="13800138000")
    make_member(msisdn="13900139000")                                      # someone else
    assert len(queued(db)) == 3
    erase_member(member, now=now, access_number=settings.access_number, region=settings.default_region)
    db.session.commit()
    assert [event["data"]["msisdn_masked"] for event in queued(db)] == ["+86139****9000"]
