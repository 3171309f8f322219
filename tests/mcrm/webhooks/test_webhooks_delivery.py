"""The delivery job against a real HTTP receiver on loopback: signed, retried with back-off,
failed after the last try, claimed once however many run it, taken over after a worker dies."""
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.members.services import enrol_member
from mcrm.webhooks import services
from mcrm.webhooks.delivery import FIRST_WAIT, LEASE, deliver_due
from mcrm.webhooks.models import DeliveryStatus, WebhookDelivery
from mcrm.webhooks.sending import post
from tests.concurrency import run_together
from tests.smsc_peer import wait_until

ROOT = Path(__file__).resolve().parents[3]


def documented_verify():
    """The receiver's check exactly as docs/webhooks.md prints it."""
    page = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", page, flags=re.S).group(1)
    scope: dict = {}
    exec(snippet, scope)  # the page's own code, so the page cannot go wrong unnoticed
    return scope["verify"]


def delivery(db) -> WebhookDelivery:
    db.session.expire_all()
    return db.session.scalar(sa.select(WebhookDelivery))


def join(db, merchant, now, msisdn="13800138000"):
    member = enrol_member(merchant, msisdn=msisdn, now=now)
    db.session.commit()
    return member


def test_the_receiver_gets_signed_json_its_documented_check_accepts(receiver, make_endpoint, merchant, db,
                                                                    deliver, now):
    _endpoint, secret = make_endpoint(receiver.url())
    member = join(db, merchant, now)
    assert deliver(now) == 1
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    verify = documented_verify()
    assert verify(secret, body, headers["X-Mcrm-Timestamp"], headers["X-Mcrm-Signature"])
    assert not verify(secret, body.replace(b"sms", b"api") + b" ", headers["X-Mcrm-Timestamp"],
                      headers["X-Mcrm-Signature"])
    assert not verify("whsec_other", body, headers["X-Mcrm-Timestamp"], headers["X-Mcrm-Signature"])
    event = json.loads(body)
    assert headers["X-Mcrm-Event"] == event["type"] == "member.joined"
    assert headers["X-Mcrm-Event-Id"] == event["id"]
    assert event["data"]["member_no"] == member.member_no and "13800138000" not in body.decode()
    row = delivery(db)
    assert (row.status, row.attempts, row.last_status_code, row.claim_id) == (DeliveryStatus.DELIVERED, 1, 200, None)
    assert deliver(now + timedelta(hours=1)) == 0 and len(receiver.requests) == 1


def test_a_500_then_200_is_retried_after_the_wait_and_delivered_once(receiver, make_endpoint, merchant, db,
                                                                    deliver, now):
    make_endpoint(receiver.url())
    join(db, merchant, now)
    receiver.answers.append(500)
    assert deliver(now) == 1
    row = delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    assert now + FIRST_WAIT / 2 <= row.next_attempt_at <= now + FIRST_WAIT
    assert deliver(now + FIRST_WAIT / 4) == 0                # still waiting
    assert deliver(now + FIRST_WAIT) == 1
    assert deliver(now + timedelta(days=1)) == 0
    assert [r["headers"]["X-Mcrm-Event-Id"] for r in receiver.requests] == [row.event_id] * 2
    row = delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.DELIVERED, 2, 200)


def test_no_answer_within_the_timeout_is_a_failed_try_and_tried_again(receiver, make_endpoint, merchant, db,
                                                                       deliver, now):
    make_endpoint(receiver.url())
    join(db, merchant, now)
    receiver.answers.append(("slow", 1.5))                   # the timeout is 1 s in these tests
    assert deliver(now) == 1
    row = delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.PENDING, 1, None)
    assert row.last_error == "no answer within 1 s"
    assert deliver(now + FIRST_WAIT) == 1
    assert delivery(db).status == DeliveryStatus.DELIVERED and len(receiver.requests) == 2


def test_after_the_last_try_it_is_failed_and_resend_tries_again(receiver, make_endpoint, merchant, db, deliver,
                                                                now):
    make_endpoint(receiver.url())
    join(db, merchant, now)
    receiver.answers.extend([503, 503, 503])                 # three tries in these tests
    later = now
    for _try in range(3):
        assert deliver(later) == 1
        later += timedelta(hours=7)                          # past any wait
    row = delivery(db)
    assert (row.status, row.attempts, row.next_attempt_at) == (DeliveryStatus.FAILED, 3, None)
    assert deliver(later) == 0
    services.resend_delivery(row, now=later)
    db.session.commit()
    assert deliver(later) == 1
    assert delivery(db).status == DeliveryStatus.DELIVERED and len(receiver.requests) == 4


def test_a_dead_receiver_is_tried_once_per_run_and_the_others_still_get_theirs(receiver, make_endpoint, merchant,
                                                                               db, deliver, now):
    make_endpoint(receiver.url("/dead"))
    make_endpoint(receiver.url("/alive"))
    receiver.answers.extend([500])
    join(db, merchant, now, "13800000001")
    join(db, merchant, now, "13800000002")
    assert deliver(now) == 3                                  # /dead once, /alive twice
    assert [r["path"] for r in receiver.requests].count("/dead") == 1
    assert len(receiver.events("/alive")) == 2
    waiting = db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.status == "pending")).all()
    assert sorted(row.attempts for row in waiting) == [0, 1]  # the second was given back untried


def test_another_merchants_endpoints_never_get_events(receiver, make_endpoint, make_merchant, merchant, db,
                                                     deliver, now):
    other = make_merchant()
    make_endpoint(receiver.url("/ours"), events=["member.joined", "member.opted_out"])
    make_endpoint(receiver.url("/theirs"), events=["member.joined", "member.opted_out"], merchant=other)
    join(db, merchant, now, "13800000001")
    join(db, merchant, now, "13800000002")
    join(db, other, now, "13800000003")
    deliver(now)
    assert sorted(e["data"]["msisdn_masked"] for e in receiver.events("/ours")) == ["+86138****0001",
                                                                                    "+86138****0002"]
    assert [e["data"]["msisdn_masked"] for e in receiver.events("/theirs")] == ["+86138****0003"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/hook", "http://10.1.2.3/hook", "http://[::1]/hook",
                                 "http://169.254.169.254/latest", "http://192.168.1.10/", "http://0.0.0.0/"])
def test_private_and_loopback_addresses_are_refused_unless_allowed(url, merchant, make_staff, now):
    with pytest.raises(ValidationError, match="private network"):
        services.create_endpoint(merchant, url=url, events=["member.joined"], actor=make_staff("owner"), now=now,
                                 allow_private=False)


@pytest.mark.parametrize("url", ["ftp://example.com/", "example.com/hook", "http://user:pw@example.com/",
                                 "http://no-such-host.invalid/"])
def test_malformed_urls_are_refused(url, merchant, make_staff, now):
    with pytest.raises(ValidationError):
        services.create_endpoint(merchant, url=url, events=["member.joined"], actor=make_staff("owner"), now=now,
                                 allow_private=True)


def test_a_loopback_url_is_refused_at_the_try_when_not_allowed(receiver):
    answer = post(receiver.url(), b"{}", secret="s", event="member.joined", event_id="x", timestamp=0, timeout=1,
                  allow_private=False)
    assert not answer.ok and "private network" in answer.error and receiver.requests == []


def test_a_redirect_is_a_failed_try_and_not_followed(receiver):
    receiver.answers.append(302)
    answer = post(receiver.url(), b"{}", secret="s", event="member.joined", event_id="x", timestamp=0, timeout=1,
                  allow_private=True)
    assert answer.status == 302 and not answer.ok and len(receiver.requests) == 1


def test_a_switched_off_endpoints_deliveries_wait_for_it(receiver, make_endpoint, merchant, db, deliver, now):
    endpoint, _ = make_endpoint(receiver.url())
    join(db, merchant, now)
    services.set_endpoint_enabled(endpoint, False)
    db.session.commit()
    assert deliver(now) == 0
    services.set_endpoint_enabled(endpoint, True)
    db.session.commit()
    assert deliver(now) == 1 and len(receiver.requests) == 1


WORKER = """
import sys
from dataclasses import replace
from datetime import datetime
from mcrm import create_app
from mcrm.settings import Settings
from mcrm.jobs.tasks import deliver_webhooks
settings = Settings(env="test", instance_path=sys.argv[1], database_url=sys.argv[2], secret_key="t" * 40,
                    webhook_allow_private=True, webhook_timeout_secs=30).with_defaults()
with create_app(settings).app_context():
    deliver_webhooks(now=datetime.fromisoformat(sys.argv[3]))
"""


def test_a_killed_workers_claim_is_delivered_after_the_lease(receiver, make_endpoint, merchant, db, deliver, now,
                                                            settings, tmp_path):
    make_endpoint(receiver.url())
    join(db, merchant, now)
    receiver.answers.append("hang")                          # the first try never gets its answer
    with open(tmp_path / "worker.log", "w") as log:
        worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), settings.database_url,
                                   now.isoformat()], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: receiver.requests, timeout=30, message="the worker's POST")
        worker.kill()
    finally:
        worker.kill()
        worker.wait(timeout=10)
    row = delivery(db)
    assert row.status == DeliveryStatus.PENDING and row.claim_id and row.attempts == 0
    assert deliver(now + LEASE / 2) == 0                     # its claim still holds
    assert deliver(now + LEASE + timedelta(seconds=1)) == 1  # a restarted worker takes it over
    row = delivery(db)
    assert (row.status, row.attempts, row.claim_id) == (DeliveryStatus.DELIVERED, 1, None)
    assert [r["headers"]["X-Mcrm-Event-Id"] for r in receiver.requests] == [row.event_id] * 2


def test_two_workers_at_once_post_each_delivery_once(app, receiver, make_endpoint, merchant, db, settings, now):
    make_endpoint(receiver.url())
    for n in range(25):
        enrol_member(merchant, msisdn=f"138000000{n:02d}", now=now)
    db.session.commit()
    receiver.answers.extend([("slow", 0.05)] * 25)           # slow enough for the runs to overlap
    tried = run_together(app, lambda n: deliver_due(settings, now=now, worker_id=f"worker{n}"), threads=2)
    assert sum(tried) == 25 and all(tried), tried             # both took part, no row twice
    ids = [r["headers"]["X-Mcrm-Event-Id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 25
    assert set(db.session.scalars(sa.select(WebhookDelivery.status))) == {DeliveryStatus.DELIVERED}
