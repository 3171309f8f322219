"""The owner's webhook pages: endpoints with their secret shown once, switching, the delivery log
and its resend button. Owner only, CSRF on every form, one merchant's rows only."""
import re
from dataclasses import replace

import pytest
import sqlalchemy as sa

from mcrm.audit.models import AuditAction, AuditEntry
from mcrm.members.services import enrol_member
from mcrm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.conftest import csrf_token


def _create(client, url="http://127.0.0.1:9/hook", events=("member.joined", "feedback.received")):
    return client.post("/webhooks/", data={"url": url, "events": list(events),
                                           "csrf_token": csrf_token(client, "/webhooks/")})


def test_owner_adds_an_endpoint_whose_secret_is_shown_once(client, login, db):
    login("owner")
    response = _create(client)
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    secret = re.search(r"<pre data-secret>(whsec_[\w-]+)</pre>", response.get_data(as_text=True)).group(1)
    endpoint = db.session.scalar(sa.select(WebhookEndpoint))
    assert endpoint.secret == secret and endpoint.events == ["member.joined", "feedback.received"]
    again = client.get("/webhooks/").get_data(as_text=True)
    assert secret not in again and "http://127.0.0.1:9/hook" in again
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == AuditAction.WEBHOOK_CREATE))
    assert entry.details == {"host": "127.0.0.1", "events": ["member.joined", "feedback.received"]}


def test_without_a_csrf_token_nothing_is_made(client, login, db):
    login("owner")
    client.get("/webhooks/")
    response = client.post("/webhooks/", data={"url": "http://127.0.0.1:9/hook", "events": ["member.joined"]})
    assert response.status_code == 400 and db.session.scalar(sa.select(WebhookEndpoint)) is None


@pytest.fixture
def strict_app(app):
    """The app as in production: webhook URLs to private addresses refused."""
    settings = app.extensions["mcrm_settings"]
    app.extensions["mcrm_settings"] = replace(settings, webhook_allow_private=False)
    yield app
    app.extensions["mcrm_settings"] = settings


def test_a_private_url_is_refused_beside_the_field_and_nothing_is_kept(strict_app, client, login, db):
    login("owner")
    response = _create(client, url="http://192.168.1.20/hook")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "points into a private network" in page
    assert 'value="http://192.168.1.20/hook"' in page            # what was typed stays
    assert db.session.scalar(sa.select(WebhookEndpoint)) is None


def test_a_manager_neither_sees_nor_makes_nor_switches_webhooks(client, login, make_endpoint, db):
    endpoint, _ = make_endpoint("http://127.0.0.1:9/hook")
    login("manager")
    csrf = csrf_token(client, "/staff/preferences")
    assert client.get("/webhooks/").status_code == 403
    assert client.get("/webhooks/deliveries").status_code == 403
    assert client.post("/webhooks/", data={"url": "http://127.0.0.1:9/x", "events": ["member.joined"],
                                           "csrf_token": csrf}).status_code == 403
    assert client.post(f"/webhooks/{endpoint.id}/disable", data={"csrf_token": csrf}).status_code == 403
    db.session.refresh(endpoint)
    assert endpoint.enabled


def test_owner_switches_an_endpoint_off_and_on_and_it_is_audited(client, login, make_endpoint, db):
    endpoint, _ = make_endpoint("http://127.0.0.1:9/hook")
    login("owner")
    csrf = csrf_token(client, "/webhooks/")
    client.post(f"/webhooks/{endpoint.id}/disable", data={"csrf_token": csrf})
    db.session.refresh(endpoint)
    assert not endpoint.enabled and "Switch on" in client.get("/webhooks/").get_data(as_text=True)
    client.post(f"/webhooks/{endpoint.id}/enable", data={"csrf_token": csrf})
    db.session.refresh(endpoint)
    assert endpoint.enabled
    assert db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()[-2:] == [
        AuditAction.WEBHOOK_DISABLE, AuditAction.WEBHOOK_ENABLE]


def test_another_merchants_endpoints_and_deliveries_are_not_found(client, login, make_endpoint, make_merchant,
                                                                  db, now):
    other = make_merchant()
    endpoint, _ = make_endpoint("http://127.0.0.1:9/theirs", merchant=other)
    enrol_member(other, msisdn="13800138000", now=now)
    db.session.execute(sa.update(WebhookDelivery).values(status=DeliveryStatus.FAILED))
    db.session.commit()
    delivery_id = db.session.scalar(sa.select(WebhookDelivery.id))
    login("owner")
    csrf = csrf_token(client, "/webhooks/")
    assert "theirs" not in client.get("/webhooks/").get_data(as_text=True)
    assert f'data-delivery="{delivery_id}"' not in client.get("/webhooks/deliveries").get_data(as_text=True)
    assert client.post(f"/webhooks/{endpoint.id}/disable", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/webhooks/deliveries/{delivery_id}/resend", data={"csrf_token": csrf}).status_code == 404
    assert db.session.scalar(sa.select(WebhookDelivery.status)) == DeliveryStatus.FAILED


def test_the_log_shows_status_tries_last_answer_and_resends_a_failed_delivery(client, login, make_endpoint,
                                                                              merchant, db, now):
    make_endpoint("http://127.0.0.1:9/hook")
    enrol_member(merchant, msisdn="13800138000", now=now)
    db.session.execute(sa.update(WebhookDelivery).values(status=DeliveryStatus.FAILED, attempts=3,
                                                         last_status_code=503, next_attempt_at=None))
    db.session.commit()
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    login("owner")
    page = client.get("/webhooks/deliveries?status=failed").get_data(as_text=True)
    row = page.split(f'data-delivery="{delivery.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Failed" in row and ">3<" in row and ">503<" in row and "Send again" in row
    assert "data-delivery" not in client.get("/webhooks/deliveries?status=delivered").get_data(as_text=True)
    response = client.post(f"/webhooks/deliveries/{delivery.id}/resend",
                           data={"csrf_token": csrf_token(client, "/webhooks/deliveries")}, follow_redirects=True)
    assert f"Delivery {delivery.id} is sent again" in response.get_data(as_text=True)
    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert delivery.next_attempt_at is not None
    # waiting, it cannot be resent again: the refusal is said, nothing changes
    response = client.post(f"/webhooks/deliveries/{delivery.id}/resend",
                           data={"csrf_token": csrf_token(client, "/webhooks/deliveries")}, follow_redirects=True)
    assert "still being tried" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).where(
        AuditEntry.action == AuditAction.WEBHOOK_RESEND)) == 1


def test_a_new_secret_is_shown_once_and_signs_the_waiting_deliveries(client, login, make_endpoint, merchant, db,
                                                                    now):
    endpoint, old_secret = make_endpoint("http://127.0.0.1:9/hook")
    enrol_member(merchant, msisdn="13800138000", now=now)
    db.session.commit()
    login("owner")
    response = client.post(f"/webhooks/{endpoint.id}/secret", data={"csrf_token": csrf_token(client, "/webhooks/")})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = re.search(r"<pre data-secret>(whsec_[\w-]+)</pre>", response.get_data(as_text=True)).group(1)
    db.session.refresh(endpoint)
    assert secret != old_secret and endpoint.secret == secret
    assert secret not in client.get("/webhooks/").get_data(as_text=True)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == AuditAction.WEBHOOK_NEW_SECRET))
    assert entry.details == {"host": "127.0.0.1"} and secret not in str(entry.details)


def test_deleting_an_endpoint_takes_its_waiting_deliveries_and_keeps_the_others(client, login, make_endpoint,
                                                                               merchant, db, now):
    gone, _ = make_endpoint("http://127.0.0.1:9/gone")
    kept, _ = make_endpoint("http://127.0.0.1:9/kept")
    enrol_member(merchant, msisdn="13800138000", now=now)
    db.session.commit()
    login("owner")
    response = client.post(f"/webhooks/{gone.id}/delete", data={"csrf_token": csrf_token(client, "/webhooks/")},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "is deleted, with its 1 deliveries" in page and "/gone" not in page and "/kept" in page
    assert db.session.scalars(sa.select(WebhookDelivery.endpoint_id)).all() == [kept.id]
    assert db.session.scalars(sa.select(WebhookEndpoint.id)).all() == [kept.id]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == AuditAction.WEBHOOK_DELETE))
    assert entry.details == {"host": "127.0.0.1", "deliveries": 1}


def test_a_manager_can_neither_rekey_nor_delete(client, login, make_endpoint, db):
    endpoint, secret = make_endpoint("http://127.0.0.1:9/ours")
    login("manager")
    csrf = csrf_token(client, "/staff/preferences")
    assert client.post(f"/webhooks/{endpoint.id}/secret", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"/webhooks/{endpoint.id}/delete", data={"csrf_token": csrf}).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(sa.select(WebhookEndpoint.secret)) == secret


def test_another_merchants_endpoint_is_neither_rekeyed_nor_deleted(client, login, make_endpoint, make_merchant, db):
    ours, secret = make_endpoint("http://127.0.0.1:9/ours")
    theirs, their_secret = make_endpoint("http://127.0.0.1:9/theirs", merchant=make_merchant())
    login("owner")
    csrf = csrf_token(client, "/webhooks/")
    assert client.post(f"/webhooks/{theirs.id}/secret", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/webhooks/{theirs.id}/delete", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/webhooks/{ours.id}/delete", data={}).status_code == 400     # no CSRF token
    db.session.expire_all()
    assert [(e.id, e.secret) for e in db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id))
            ] == [(ours.id, secret), (theirs.id, their_secret)]
