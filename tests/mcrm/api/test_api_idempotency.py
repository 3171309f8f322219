"""A till that retries a purchase, even at the same moment from two connections, awards it once.

Runs on SQLite, and on PostgreSQL when MCRM_TEST_DATABASE_URL is set (scripts/with-postgres.sh):
there the second request waits on the key's unique index until the first commits."""
import sqlalchemy as sa

from mcrm.api.models import ApiRequest
from mcrm.points.models import PointsEntry
from tests.concurrency import run_together

THREADS = 6


def _purchase_from_threads(app, secret, body, headers=None):
    def till(_n):
        response = app.test_client().post("/api/v1/purchases", json=body,
                                          headers={"Authorization": f"Bearer {secret}", **(headers or {})})
        return response.status_code, response.json
    return run_together(app, till, THREADS)


def test_concurrent_retries_with_one_client_key_award_once(app, db, make_member, make_token):
    member, secret = make_member(), make_token()
    answers = _purchase_from_threads(app, secret, {"member_id": member.id, "amount": "66", "client_key": "sale-1"})
    assert {status for status, _body in answers} == {201}
    assert len({str(body) for _status, body in answers}) == 1  # every retry got the first answer
    assert db.session.scalar(sa.select(sa.func.count(PointsEntry.id)).where(PointsEntry.member_id == member.id)) == 1
    db.session.expire_all()
    assert db.session.get(type(member), member.id).points_balance == 66
    assert db.session.scalar(sa.select(sa.func.count(ApiRequest.id))) == 1


def test_concurrent_requests_with_the_header_key_award_once(app, db, make_member, make_token):
    member, secret = make_member(), make_token()
    answers = _purchase_from_threads(app, secret, {"member_id": member.id, "amount": "10"},
                                     headers={"Idempotency-Key": "sale-2"})
    assert {status for status, _body in answers} == {201}
    db.session.expire_all()
    assert db.session.get(type(member), member.id).points_balance == 10


def test_different_keys_at_the_same_moment_each_award(app, db, make_member, make_token):
    member, secret = make_member(), make_token()
    member_id = member.id

    def till(n):
        return app.test_client().post("/api/v1/purchases", json={"member_id": member_id, "amount": "10",
                                                                  "client_key": f"sale-{n}"},
                                      headers={"Authorization": f"Bearer {secret}"}).status_code
    assert run_together(app, till, THREADS) == [201] * THREADS
    assert db.session.get(type(member), member_id).points_balance == 10 * THREADS


def test_keys_are_per_merchant(api, client, make_member, make_merchant, make_token):
    from tests.mcrm.api.conftest import Api
    other = make_merchant()
    theirs = Api(client, make_token(merchant=other))
    mine_member, their_member = make_member(), make_member(merchant=other)
    assert api.post("/purchases", json={"member_id": mine_member.id, "amount": "5", "client_key": "k"}).status_code == 201
    response = theirs.post("/purchases", json={"member_id": their_member.id, "amount": "5", "client_key": "k"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers


def test_stored_answers_are_forgotten_after_a_week(api, make_member, db):
    from datetime import timedelta

    from mcrm.core.clock import now_utc
    from mcrm.jobs.tasks import forget_api_requests
    body = {"member_id": make_member().id, "amount": "5", "client_key": "old-sale"}
    api.post("/purchases", json=body)
    assert forget_api_requests(now=now_utc() + timedelta(days=6)) == 0
    assert forget_api_requests(now=now_utc() + timedelta(days=8)) == 1
    assert db.session.scalar(sa.select(sa.func.count(ApiRequest.id))) == 0
