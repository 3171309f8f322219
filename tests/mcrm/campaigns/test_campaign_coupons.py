"""A unique coupon per recipient: issued when queued, exactly once, refused up front when the pool is
short; the report counts redemptions and the spend recorded with them."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.campaigns.models import CampaignCoupon
from mcrm.core.errors import ValidationError
from mcrm.keywords.apps.custom import add_pool_codes, redeem_coupon
from mcrm.keywords.models import CouponCode, KeywordApp
from mcrm.keywords.services import create_keyword_app, set_app_config
from mcrm.points.services import SYSTEM, record_purchase
from tests.mcrm.campaigns.conftest import outbox


@pytest.fixture
def coupon_app(db, merchant):
    def make(source="pool", codes=(), **config):
        app = create_keyword_app(merchant, kind="coupon", name="八折券")
        set_app_config(app, source=source, valid_days=7, **config)
        if codes:
            add_pool_codes(app, list(codes))
        db.session.commit()
        return app
    return make


def test_every_recipient_gets_their_own_code_from_the_pool_and_the_opted_out_none(db, merchant, make_member,
                                                                                   launch, coupon_app, now):
    members = [make_member(msisdn=f"1380000000{n}") for n in range(3)]
    make_member(msisdn="13800000009", opted_out=True)
    app = coupon_app(codes=["AAA1", "AAA2", "AAA3", "AAA4"])
    campaign = launch("券码{coupon}，{coupon_expires}前有效", coupon_app_id=app.id)
    services.dispatch_due(now=now, batch_size=2)
    services.dispatch_due(now=now, batch_size=2)
    texts = [row.text for row in outbox(db, campaign) if row.suppressed_reason is None]
    assert texts == [f"【小王烧烤】券码AAA{n}，2026-11-27前有效回T退订" for n in (1, 2, 3)]
    holders = dict(db.session.execute(sa.select(CouponCode.code, CouponCode.member_id)
                                      .where(CouponCode.msisdn.is_not(None))).all())
    assert holders == {"AAA1": members[0].id, "AAA2": members[1].id, "AAA3": members[2].id}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CampaignCoupon)) == 3
    assert db.session.get(KeywordApp, app.id).taken == 3


def test_a_short_pool_is_refused_before_sending_and_shown_in_the_count(db, merchant, make_member, coupon_app,
                                                                       now):
    for n in range(3):
        make_member(msisdn=f"1380000000{n}")
    app = coupon_app(codes=["AAA1", "AAA2"])
    figures = services.preview(merchant, body="券码{coupon}", coupon_app_id=app.id, now=now)
    assert figures.coupons_available == 2
    assert [p.message for p in figures.problems] == [
        "The coupon app has 2 codes left for 3 recipients: add codes first"]
    campaign = services.create_campaign(merchant, name="x", body="券码{coupon}", coupon_app_id=app.id,
                                        now=now)
    with pytest.raises(ValidationError, match="2 codes left for 3 recipients"):
        services.launch_campaign(campaign, now=now)


def test_a_pool_that_runs_dry_while_queuing_suppresses_the_rest(db, merchant, make_member, launch, coupon_app,
                                                                now):
    for n in range(3):
        make_member(msisdn=f"1380000000{n}")
    app = coupon_app(codes=["AAA1", "AAA2", "AAA3"])
    campaign = launch("券码{coupon}", coupon_app_id=app.id)
    db.session.execute(sa.update(CouponCode).where(CouponCode.code == "AAA3").values(msisdn="+8613911112222"))
    db.session.commit()                              # a texter took the last code meanwhile
    services.dispatch_due(now=now)
    assert [r.suppressed_reason for r in outbox(db, campaign)] == [None, None, "no coupon left"]


def test_generated_codes_keep_to_the_stock_and_carry_the_prefix(db, merchant, make_member, launch, coupon_app,
                                                                now):
    for n in range(2):
        make_member(msisdn=f"1380000000{n}")
    app = coupon_app(source="generated", stock=5, prefix="VIP")
    campaign = launch("券码{coupon}", coupon_app_id=app.id)
    services.dispatch_due(now=now)
    codes = db.session.scalars(sa.select(CouponCode.code)).all()
    assert len(set(codes)) == 2 and all(code.startswith("VIP") and len(code) == 11 for code in codes)
    texts = sorted(r.text for r in outbox(db, campaign))
    assert texts == sorted(f"【小王烧烤】券码{c}回T退订" for c in codes)


def test_the_report_counts_redemptions_and_the_spend_of_redeemers(db, merchant, make_member, launch,
                                                                  coupon_app, now):
    first, second = make_member(msisdn="13800000001"), make_member(msisdn="13800000002")
    app = coupon_app(codes=["AAA1", "AAA2"])
    campaign = launch("券码{coupon}", coupon_app_id=app.id)
    services.dispatch_due(now=now)
    later = now + timedelta(days=1)
    redeem_coupon(merchant, "AAA1", by="店员", now=later)
    record_purchase(first, merchant, 120, actor=SYSTEM, now=later)
    record_purchase(second, merchant, 80, actor=SYSTEM, now=later)       # no coupon redeemed: not counted
    record_purchase(first, merchant, 50, actor=SYSTEM, now=now - timedelta(days=1))   # before the campaign
    db.session.commit()
    report = services.campaign_report(campaign, now=later)
    assert (report.coupons_issued, report.coupons_redeemed, report.redeemed_spend) == (2, 1, "120.00")


def test_preview_names_a_coupon_field_without_a_coupon_app_and_the_reverse(db, merchant, make_member,
                                                                           coupon_app, now):
    make_member(msisdn="13800000001")
    app = coupon_app(codes=["AAA1"])
    without = services.preview(merchant, body="券码{coupon}", now=now)
    assert [p.message for p in without.problems] == ["Choose a coupon app to use {coupon} in the text"]
    unused = services.preview(merchant, body="您好", coupon_app_id=app.id, now=now)
    assert [p.message for p in unused.problems] == [
        "Put {coupon} in the text: every recipient gets a code of the coupon app"]
    fine = services.preview(merchant, body="券码{coupon}", coupon_app_id=app.id, now=now)
    assert fine.problems == [] and fine.longest_values == {"coupon": "AAA1"}
