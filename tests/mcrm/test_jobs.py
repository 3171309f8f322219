from datetime import timedelta, UTC

from mcrm.jobs import tasks
from mcrm.jobs.definitions import JOBS
from mcrm.jobs.schedule import resolve
from mcrm.points.services import Actor, record_purchase


def test_job_ids_are_unique_and_every_function_imports():
    ids = [job["id"] for job in JOBS]
    assert len(ids) == len(set(ids))
    for job in JOBS:
        assert callable(resolve(job["func"]))


def test_expire_points_job_runs_for_every_merchant_and_twice_is_harmless(db, make_merchant, make_member, now):
    from mcrm.core import clock
    second = make_merchant()
    for merchant in (make_merchant(), second):
        member = make_member(merchant=merchant)
        record_purchase(member, merchant, 10, actor=Actor("t"), now=clock.now_utc() - timedelta(days=800))
    db.session.commit()
    assert tasks.expire_points(now=clock.now_utc()) == 2
    assert tasks.expire_points(now=clock.now_utc()) == 0


def test_stale_gateway_claims_are_given_back_by_the_job(db, merchant, now):
    from datetime import timedelta, datetime
    from mcrm.messaging.models import MessageStatus, OutboundMessage
    from mcrm.messaging.services import enqueue_sms
    message = enqueue_sms(merchant, msisdn="13800138000", body="取餐提醒", kind="transactional", now=now)
    message.status = MessageStatus.SENDING
    message.claim_id, message.claimed_at = "dead-worker", datetime.now(UTC) - timedelta(hours=2)
    db.session.commit()
    assert tasks.release_stale_sms_claims(now=datetime.now(UTC)) == 1
    assert db.session.get(OutboundMessage, message.id).status == MessageStatus.QUEUED
    assert tasks.release_stale_sms_claims(now=datetime.now(UTC)) == 0
