"""API tokens: made and revoked by the owner only, stored hashed, shown once, last use noted."""
import hashlib
import re
from datetime import timedelta

import sqlalchemy as sa

from mcrm.api import services
from mcrm.api.models import ApiToken
from mcrm.audit.models import AuditAction, AuditEntry
from mcrm.core.clock import now_utc
from tests.conftest import csrf_token


def _create(client, name="front till", scope="write"):
    return client.post("/api-tokens/", data={"name": name, "scope": scope,
                                             "csrf_token": csrf_token(client, "/api-tokens/")})


def test_owner_creates_a_token_shown_once_and_stored_hashed(client, login, db):
    login("owner")
    response = _create(client)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    secret = re.search(r"<pre data-secret>(mcrm_[\w-]+)</pre>", response.get_data(as_text=True)).group(1)
    token = db.session.scalar(sa.select(ApiToken))
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(db.session.execute(sa.select(ApiToken.__table__)).all())
    again = client.get("/api-tokens/").get_data(as_text=True)
    assert secret not in again and token.prefix in again and "never" in again
    assert client.get("/api/v1/members", headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_a_manager_may_neither_see_nor_make_nor_revoke_tokens(client, login, make_token, db):
    make_token()
    token_id = db.session.scalar(sa.select(ApiToken.id))
    login("manager")
    csrf = csrf_token(client, "/staff/preferences")
    assert client.get("/api-tokens/").status_code == 403
    assert client.post("/api-tokens/", data={"name": "x", "scope": "write", "csrf_token": csrf}).status_code == 403
    assert client.post(f"/api-tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 403
    assert db.session.scalar(sa.select(ApiToken.revoked_at)) is None


def test_a_revoked_token_gets_401(client, login, make_token, db):
    secret = make_token()
    token_id = db.session.scalar(sa.select(ApiToken.id))
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/members", headers=auth).status_code == 200
    login("owner")
    page = client.post(f"/api-tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/api-tokens/")},
                       follow_redirects=True)
    assert "Revoked" in page.get_data(as_text=True)
    response = client.get("/api/v1/members", headers=auth)
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


def test_another_merchants_token_cannot_be_revoked(client, login, make_token, make_merchant, db):
    make_token(merchant=make_merchant())
    token_id = db.session.scalar(sa.select(ApiToken.id))
    login("owner")
    assert client.post(f"/api-tokens/{token_id}/revoke",
                       data={"csrf_token": csrf_token(client, "/api-tokens/")}).status_code == 404
    assert db.session.scalar(sa.select(ApiToken.revoked_at)) is None


def test_the_console_keeps_csrf_while_the_api_needs_none(client, login, api):
    login("owner")
    assert client.post("/api-tokens/", data={"name": "x", "scope": "write"}).status_code == 400
    assert api.post("/members", json={"msisdn": "13800138000"}).status_code == 201


def test_a_signed_in_session_is_no_api_credential(client, login):
    """CSRF is off for /api/v1 only because a cookie never authenticates there."""
    login("owner")
    response = client.post("/api/v1/members", json={"msisdn": "13800138000"})
    assert response.status_code == 401


def test_last_use_is_shown_and_written_at_most_once_a_minute(api, db):
    assert api.get("/members").status_code == 200
    first = db.session.scalar(sa.select(ApiToken.last_used_at))
    assert first is not None
    api.get("/members")
    assert db.session.scalar(sa.select(ApiToken.last_used_at)) == first
    db.session.execute(sa.update(ApiToken).values(last_used_at=first - timedelta(minutes=2)))
    db.session.commit()
    api.get("/members")
    assert db.session.scalar(sa.select(ApiToken.last_used_at)) > first - timedelta(minutes=2)


def test_a_bad_scope_or_name_is_refused(db, merchant, make_staff):
    owner = make_staff("owner")
    for name, scope in (("", "write"), ("x" * 65, "write"), ("till", "admin")):
        try:
            services.create_token(merchant, name=name, scope=scope, actor=owner, now=now_utc())
        except services.ValidationError:
            continue
        raise AssertionError(f"{name!r} {scope!r} was accepted")


def test_making_and_revoking_a_token_is_in_the_audit_log_without_its_secret(client, login, db):
    login("owner")
    secret = re.search(r"<pre data-secret>(mcrm_[\w-]+)</pre>", _create(client).get_data(as_text=True)).group(1)
    token = db.session.scalar(sa.select(ApiToken))
    client.post(f"/api-tokens/{token.id}/revoke", data={"csrf_token": csrf_token(client, "/api-tokens/")})
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.target, e.details.get("name")) for e in entries] == [
        (AuditAction.API_TOKEN_CREATE, f"token {token.id}", "front till"),
        (AuditAction.API_TOKEN_REVOKE, f"token {token.id}", "front till")]
    assert all(e.staff_id is not None for e in entries)
    assert secret not in str(db.session.execute(sa.select(AuditEntry.__table__)).all())
