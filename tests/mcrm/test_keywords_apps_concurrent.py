"""Keyword apps under parallel texts and clicks on PostgreSQL: a coupon is redeemed once, a code goes to
one number, and an event never books more seats than it has (the read-then-write race of two
transactions that each see the other's seat as free)."""
from datetime import datetime, UTC

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ConflictError
from mcrm.extensions import db as _db
from mcrm.keywords.apps.custom import add_pool_codes, redeem_coupon
from mcrm.keywords.models import CouponCode, EventSignup, KeywordApp, SignupStatus
from mcrm.keywords import engine, services
from mcrm.merchants.models import Merchant
from tests.concurrency import run_together
from tests.mcrm.keywords_support import switched_on_app

PARALLEL = 12  # below the pool's 15 connections: every thread holds one while it waits at the barrier


def at_once(app, merchant, work) -> list:
    """Run ``work(merchant, n)`` in PARALLEL threads released together, each in its own app context
    (so its own session and connection) and committing its own transaction; returns the results."""
    merchant_id = merchant.id

    def run(n):
        result = work(_db.session.get(Merchant, merchant_id), n)
        _db.session.commit()
        return result

    return run_together(app, run, PARALLEL)


def texter(n: int) -> str:
    return f"+86139001{n:05d}"


def text(merchant, n, body, now):
    return [reply.body for reply in engine.answer_text(merchant, msisdn=texter(n), text=body, now=now)]


@pytest.mark.postgres
def test_twelve_parallel_redeems_of_one_coupon_succeed_exactly_once(app, db, merchant, now):
    switched_on_app(merchant, "coupon", "满100减20", ["QUAN"], source="generated")
    text(merchant, 0, "QUAN", now)
    code = db.session.scalar(sa.select(CouponCode.code))
    db.session.commit()

    def redeem(own, n):
        try:
            redeem_coupon(own, code, by=f"收银员{n}", now=now)
        except ConflictError:
            return "refused"
        return "redeemed"

    outcomes = at_once(app, merchant, redeem)
    assert outcomes.count("redeemed") == 1 and outcomes.count("refused") == PARALLEL - 1
    redeemed_by = db.session.scalar(sa.select(CouponCode.redeemed_by).where(CouponCode.code == code))
    assert redeemed_by == f"收银员{outcomes.index('redeemed')}"  # the winner's name, not overwritten


@pytest.mark.postgres
def test_parallel_sign_ups_never_book_more_seats_than_the_event_has(app, db, merchant, now):
    event_id = switched_on_app(merchant, "event", "品鉴会", ["BM"], capacity=7, max_seats=2,
                               event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC)).id
    replies = at_once(app, merchant, lambda own, n: text(own, n, "BM 2", now))
    confirmed = db.session.scalar(sa.select(sa.func.sum(EventSignup.seats)).where(
        EventSignup.app_id == event_id, EventSignup.status == SignupStatus.CONFIRMED))
    assert confirmed == 6  # three parties of two; a fourth would need 8 of 7
    assert sum("报名成功" in r[0] for r in replies) == 3 and sum("候补" in r[0] for r in replies) == PARALLEL - 3
    assert db.session.scalar(sa.select(KeywordApp.taken).where(KeywordApp.id == event_id)) == 6


@pytest.mark.postgres
def test_parallel_cancels_and_sign_ups_keep_the_seats_within_capacity(app, db, merchant, now):
    event_id = switched_on_app(merchant, "event", "品鉴会", ["BM"], capacity=4, max_seats=2,
                               event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC)).id
    for n in range(PARALLEL // 2):  # two confirmed parties of two, then four waiting
        text(merchant, n, "BM 2", now)
    db.session.commit()
    at_once(app, merchant, lambda own, n: text(own, n, "BM QX" if n < PARALLEL // 2 else "BM 2", now))
    seats = db.session.execute(sa.select(EventSignup.status, sa.func.sum(EventSignup.seats))
                               .where(EventSignup.app_id == event_id).group_by(EventSignup.status)).all()
    confirmed = dict(seats).get(SignupStatus.CONFIRMED, 0)
    assert confirmed <= 4
    assert db.session.scalar(sa.select(KeywordApp.taken).where(KeywordApp.id == event_id)) == confirmed


@pytest.mark.postgres
def test_parallel_claims_of_pool_coupons_hand_each_code_to_one_number(app, db, merchant, now):
    coupon_id = _pool_app(merchant, db, [f"CODE{n:03d}" for n in range(PARALLEL - 4)]).id
    replies = at_once(app, merchant, lambda own, n: text(own, n, "QUAN", now))
    handed = db.session.execute(sa.select(CouponCode.code, CouponCode.msisdn)
                                .where(CouponCode.app_id == coupon_id, CouponCode.msisdn.is_not(None))).all()
    assert len(handed) == PARALLEL - 4 and len({msisdn for _code, msisdn in handed}) == PARALLEL - 4
    texted_codes = [code for code, _msisdn in handed if sum(code in r[0] for r in replies) == 1]
    assert len(texted_codes) == PARALLEL - 4  # each code in exactly one reply
    assert sum("领完" in r[0] for r in replies) == 4  # sold out only once the pool is empty


@pytest.mark.postgres
def test_parallel_claims_of_generated_coupons_never_exceed_the_stock(app, db, merchant, now):
    coupon_id = switched_on_app(merchant, "coupon", "满100减20", ["QUAN"], source="generated", stock=5).id
    replies = at_once(app, merchant, lambda own, n: text(own, n, "QUAN", now))
    issued = db.session.scalar(sa.select(sa.func.count()).where(CouponCode.app_id == coupon_id))
    assert issued == 5 and sum("券码" in r[0] for r in replies) == 5


def _pool_app(merchant, db, codes):
    app = services.create_keyword_app(merchant, kind="coupon", name="满100减20")
    services.set_app_keywords(app, merchant, ["QUAN"])
    services.set_app_config(app, source="pool")
    add_pool_codes(app, codes)
    services.activate_keyword_app(app)
    db.session.commit()
    return app
