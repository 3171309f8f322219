"""The /api/v1 endpoints against the real app and database: what each does, and how each refuses."""
import pytest
import sqlalchemy as sa

from mcrm.messaging.models import MessageKind, MessageStatus, OutboundMessage
from mcrm.points.models import PointsEntry

from tests.mcrm.api.conftest import Api


def test_a_member_is_created_looked_up_updated_and_opted_out(api):
    created = api.post("/members", json={"msisdn": "+86 138-0013-8000", "name": "王小明", "birthday": "1990-03-15",
                                         "tags": ["vip"], "marketing_consent": True})
    assert created.status_code == 201, created.json
    member = created.json
    assert member["msisdn"] == "+8613800138000" and member["member_no"] == f"{member['id']:08d}"
    assert api.get("/members/lookup?msisdn=13800138000").json["id"] == member["id"]
    assert api.get(f"/members/lookup?member_no={member['member_no']}").json["id"] == member["id"]
    assert api.get("/members/lookup?msisdn=13900139000").status_code == 404
    updated = api.patch(f"/members/{member['id']}", json={"name": "王大明", "gender": "m"})
    assert (updated.json["name"], updated.json["gender"], updated.json["tags"]) == ("王大明", "m", ["vip"])
    assert api.post(f"/members/{member['id']}/opt-out").json["opted_out"] is True
    duplicate = api.post("/members", json={"msisdn": "13800138000"})
    assert (duplicate.status_code, duplicate.json["error"]["code"]) == (409, "conflict")


@pytest.mark.parametrize("msisdn", ["12345", "02188886666", "abc", "1380013800"])
def test_phone_numbers_are_checked_by_the_msisdn_rules(api, msisdn):
    response = api.post("/members", json={"msisdn": msisdn})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"
    assert list(response.json["error"]["fields"]) == ["msisdn"]


def test_validation_errors_name_their_fields(api):
    response = api.post("/purchases", json={"member_id": "x", "amount": "-3"}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 400
    assert set(response.json["error"]["fields"]) == {"member_id", "amount"}


def test_a_purchase_awards_points_and_a_retry_awards_nothing(api, make_member, db):
    member = make_member()
    body = {"member_id": member.id, "amount": "88.00", "client_key": "till-1-0001"}
    first = api.post("/purchases", json=body)
    assert first.status_code == 201, first.json
    assert (first.json["points_awarded"], first.json["points_balance"]) == (88, 88)
    again = api.post("/purchases", json=body)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert db.session.scalar(sa.select(sa.func.count(PointsEntry.id))) == 1
    other = api.post("/purchases", json={**body, "amount": "99"})
    assert (other.status_code, other.json["error"]["code"]) == (409, "idempotency_key_reused")


def test_a_purchase_without_a_key_is_refused(api, make_member):
    response = api.post("/purchases", json={"member_id": make_member().id, "amount": "10"})
    assert response.status_code == 400


def test_a_refused_purchase_keeps_no_key_so_the_corrected_retry_runs(api, make_member, merchant, db):
    merchant.confirm_purchase_above = 500
    db.session.commit()
    member = make_member()
    body = {"member_id": member.id, "amount": "800", "client_key": "till-1-0002"}
    refused = api.post("/purchases", json=body)
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "confirmation_required")
    assert api.post("/purchases", json={**body, "confirmed": True}).status_code == 201


def test_balance_history_redemption_and_void(api, make_member):
    member = make_member(points=100)
    purchase = api.post("/purchases", json={"member_id": member.id, "amount": "20"},
                        headers={"Idempotency-Key": "p1"}).json
    redeemed = api.post("/redemptions", json={"member_id": member.id, "points": 50, "reason": "饮料"})
    assert redeemed.status_code == 201 and redeemed.json["balance_after"] == 70
    short = api.post("/redemptions", json={"member_id": member.id, "points": 500})
    assert (short.status_code, short.json["error"]["code"]) == (409, "insufficient_points")
    voided = api.post("/voids", json={"member_id": member.id, "entry_id": purchase["entry"]["id"], "reason": "录错"})
    assert voided.status_code == 201 and voided.json["points"] == -20
    twice = api.post("/voids", json={"member_id": member.id, "entry_id": purchase["entry"]["id"], "reason": "录错"})
    assert twice.status_code == 409
    assert api.get(f"/members/{member.id}/balance").json["points_balance"] == 50
    first = api.get(f"/members/{member.id}/history?limit=2").json
    assert [e["kind"] for e in first["items"]] == ["earn", "redeem"] and first["next_cursor"]
    rest = api.get(f"/members/{member.id}/history?limit=2&cursor={first['next_cursor']}").json
    assert [e["kind"] for e in rest["items"]] == ["earn", "gift"] and rest["next_cursor"] is None


def test_lists_page_with_an_opaque_cursor(api, make_member):
    ids = [make_member().id for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = api.get("/members?limit=2" + (f"&cursor={cursor}" if cursor else "")).json
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert not cursor.isdigit()
    assert seen == sorted(ids, reverse=True)
    forged = api.get("/members/1/history?cursor=bm90LWEtY3Vyc29y")
    assert forged.status_code in (400, 404)
    assert api.get("/campaigns?cursor=%%%").status_code == 400


def test_a_transactional_sms_goes_through_the_outbox_and_reports_its_status(api, make_member, db):
    member = make_member(opted_out=True)
    sent = api.post("/messages", json={"msisdn": member.msisdn, "body": "您的订单已备好"})
    assert sent.status_code == 201, sent.json
    row = db.session.get(OutboundMessage, sent.json["id"])
    assert (row.kind, row.status) == (MessageKind.TRANSACTIONAL, MessageStatus.QUEUED)
    assert row.text.startswith("【") or row.text != row.body  # the signature is on air
    assert api.get(f"/messages/{row.id}").json["status"] == "queued"
    assert api.post("/messages", json={"msisdn": "123", "body": "x"}).status_code == 400


def test_a_read_token_reads_but_cannot_write(read_api, make_member):
    member = make_member()
    assert read_api.get(f"/members/{member.id}").status_code == 200
    for method, path, body in (("POST", "/members", {"msisdn": "13800138001"}),
                               ("PATCH", f"/members/{member.id}", {"name": "x"}),
                               ("POST", f"/members/{member.id}/opt-out", None),
                               ("POST", "/purchases", {"member_id": member.id, "amount": "5", "client_key": "a"}),
                               ("POST", "/redemptions", {"member_id": member.id, "points": 1}),
                               ("POST", "/voids", {"member_id": member.id, "entry_id": 1, "reason": "x"}),
                               ("POST", "/messages", {"msisdn": member.msisdn, "body": "x"}),
                               ("POST", "/campaigns", {"name": "x", "body": "x"})):
        response = read_api.call(method, path, json=body)
        assert (response.status_code, response.json["error"]["code"]) == (403, "insufficient_scope"), path


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer mcrm_" + "x" * 40])
def test_no_valid_token_is_a_401(client, header):
    response = client.get("/api/v1/members", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_merchants_ids_are_404_on_every_endpoint(api, client, make_merchant, make_member, make_token,
                                                         make_campaign_for, db):
    other = make_merchant()
    theirs = make_member(merchant=other, points=100)
    Api(client, make_token(merchant=other)).post("/purchases", json={"member_id": theirs.id, "amount": "9"},
                                                 headers={"Idempotency-Key": "theirs"})
    entry_id = db.session.scalar(sa.select(PointsEntry.id).where(PointsEntry.member_id == theirs.id,
                                                                 PointsEntry.kind == "earn"))
    message = Api(client, make_token(merchant=other)).post("/messages", json={"msisdn": theirs.msisdn, "body": "x"})
    campaign_id = make_campaign_for(other)
    mine = api
    calls = [("GET", f"/members/{theirs.id}", None), ("PATCH", f"/members/{theirs.id}", {"name": "x"}),
             ("POST", f"/members/{theirs.id}/opt-out", None), ("GET", f"/members/{theirs.id}/balance", None),
             ("GET", f"/members/{theirs.id}/history", None),
             ("GET", f"/members/lookup?member_no={theirs.id}", None),
             ("GET", f"/members/lookup?msisdn={theirs.msisdn}", None),
             ("POST", "/purchases", {"member_id": theirs.id, "amount": "5", "client_key": "mine"}),
             ("POST", "/redemptions", {"member_id": theirs.id, "points": 1}),
             ("POST", "/voids", {"member_id": theirs.id, "entry_id": entry_id, "reason": "x"}),
             ("GET", f"/messages/{message.json['id']}", None), ("GET", f"/campaigns/{campaign_id}", None)]
    for method, path, body in calls:
        response = mine.call(method, path, json=body)
        assert (response.status_code, response.json["error"]["code"]) == (404, "not_found"), path
    assert mine.get("/members").json["items"] == [] and mine.get("/campaigns").json["items"] == []
    db.session.expire_all()
    assert (theirs.points_balance, theirs.opted_out, theirs.name) == (109, False, theirs.name)


def test_the_rate_limit_counts_per_token(app, client, make_token, settings):
    from dataclasses import replace

    from mcrm import create_app
    limited = create_app(replace(settings, api_rate_limit="3 per minute"))
    limited_client = limited.test_client()
    first, second = make_token(name="one"), make_token(name="two")
    answers = [limited_client.get("/api/v1/members", headers={"Authorization": f"Bearer {first}"}).status_code
               for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = limited_client.get("/api/v1/members", headers={"Authorization": f"Bearer {first}"})
    assert refused.json["error"]["code"] == "rate_limited" and "Retry-After" in refused.headers
    assert limited_client.get("/api/v1/members", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_an_api_campaign_reaches_its_segment_but_never_an_opted_out_member(api, make_member, db):
    from datetime import timedelta

    from mcrm.campaigns.services import dispatch_due
    from mcrm.core.clock import now_utc
    vip = make_member(name="甲", tags="vip")
    opted_out = make_member(name="乙", tags="vip", opted_out=True)
    make_member(name="丙")  # not in the segment
    created = api.post("/campaigns", json={"name": "周末特惠", "body": "{name}您好，周末八折",
                                           "segment": {"type": "tags", "tags": ["vip"]}, "launch": True})
    assert created.status_code == 201, created.json
    assert created.json["status"] == "scheduled"
    dispatch_due(now=now_utc() + timedelta(minutes=1))
    db.session.commit()
    rows = dict(db.session.execute(sa.select(OutboundMessage.msisdn, OutboundMessage.status)).all())
    assert rows[vip.msisdn] != MessageStatus.SUPPRESSED
    assert rows.get(opted_out.msisdn, MessageStatus.SUPPRESSED) == MessageStatus.SUPPRESSED
    assert len(rows) <= 2
    status = api.get(f"/campaigns/{created.json['id']}").json
    assert status["figures"]["targeted"] >= 1 and status["status"] in ("sending", "done", "scheduled")
    assert [c["id"] for c in api.get("/campaigns").json["items"]] == [created.json["id"]]


def test_a_campaign_with_a_bad_segment_or_text_is_a_400(api):
    assert api.post("/campaigns", json={"name": "x", "body": "{nosuchfield}"}).status_code == 400
    assert api.post("/campaigns", json={"name": "x", "body": "hi", "segment": {"nonsense": 1}}).status_code == 400


@pytest.mark.parametrize("too_big", [2 ** 31, 2 ** 63, 2 ** 70])
def test_an_id_no_column_can_hold_is_a_404_or_400(api, too_big):
    """2 ** 31 was a 500 on PostgreSQL, whose ids are 32-bit (schemathesis found it)."""
    assert api.get(f"/members/{too_big}").status_code == 404
    assert api.get(f"/members/lookup?member_no={too_big}").status_code == 400
    assert api.post("/redemptions", json={"member_id": too_big, "points": 1}).status_code == 400
