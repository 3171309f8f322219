"""A coupon for completing a survey, besides points: a code of the merchant's coupon app with the
thanks, once per member, none for a non-member or from an empty pool; chosen in the builder, where
another merchant's coupon app is refused."""
import re

import pytest
import sqlalchemy as sa

from mcrm.keywords.apps.custom import add_pool_codes
from mcrm.keywords.models import CouponCode
from mcrm.keywords.services import create_keyword_app, set_app_config
from mcrm.surveys.models import Survey
from mcrm.surveys.services import add_question, create_survey
from tests.conftest import csrf_token
from tests.mcrm.keywords_support import CONSUMER, phone  # noqa: F401  (fixture)


def coupon_app(db, merchant, codes=()):
    app = create_keyword_app(merchant, kind="coupon", name="调查礼券")
    set_app_config(app, source="pool", valid_days=7)
    if codes:
        add_pool_codes(app, list(codes))
    db.session.commit()
    return app


@pytest.fixture
def survey(db, merchant):
    made = create_survey(merchant, code="Q1", title="满意度", intro="调查", thanks="谢谢参与！", is_active=True)
    add_question(made, kind="single", text="1.口味？A好 B差", options=["好", "差"])
    db.session.commit()
    return made


def holders(db):
    db.session.expire_all()
    return dict(db.session.execute(sa.select(CouponCode.code, CouponCode.msisdn)).all())


def test_completing_earns_a_coupon_with_the_points_once_per_member(phone, db, merchant, make_member, survey):
    app = coupon_app(db, merchant, ["SV01", "SV02"])
    survey.reward_points, survey.reward_coupon_app_id = 20, app.id
    db.session.commit()
    make_member(msisdn=CONSUMER)
    phone.text("DC")
    assert phone.text("A") == ["谢谢参与！已赠送您20积分。赠送优惠券SV01，2026-11-27前有效。"]
    phone.text("DC")
    assert phone.text("B") == ["谢谢参与！"]
    assert holders(db) == {"SV01": "+8613900139000", "SV02": None}


def test_no_coupon_for_a_non_member_nor_from_an_empty_pool(phone, db, merchant, make_member, survey):
    app = coupon_app(db, merchant)
    survey.reward_coupon_app_id = app.id
    db.session.commit()
    phone.text("DC")
    assert phone.text("A") == ["谢谢参与！"]          # not a member: nothing to hold a coupon
    make_member(msisdn=CONSUMER)
    phone.text("DC")
    assert phone.text("A") == ["谢谢参与！"]          # the pool is empty: the thanks go alone
    assert holders(db) == {}


def test_another_merchants_coupon_app_gives_nothing(phone, db, merchant, make_merchant, make_member, survey):
    theirs = coupon_app(db, make_merchant(name="别家", sub_code="02"), ["XX01"])
    survey.reward_coupon_app_id = theirs.id       # past the builder's check, as a script could
    db.session.commit()
    make_member(msisdn=CONSUMER)
    phone.text("DC")
    assert phone.text("A") == ["谢谢参与！"]
    assert holders(db) == {"XX01": None}


def test_the_builder_offers_the_merchants_coupon_apps_only(client, login, db, merchant, make_merchant, survey):
    mine = coupon_app(db, merchant, ["SV01"])
    theirs = coupon_app(db, make_merchant(name="别家", sub_code="02"))
    login("manager")
    url = f"/surveys/{survey.id}"
    page = client.get(url).get_data(as_text=True)
    offered = re.search(r'<select[^>]*name="reward_coupon_app_id".*?</select>', page, re.S).group()
    assert re.findall(r'<option[^>]*value="(\d*)"', offered) == ["", str(mine.id)]
    form = {"code": "Q1", "title": "满意度", "intro": "调查", "timeout_hours": "24", "max_reasks": "2",
            "reward_points": "0", "csrf_token": csrf_token(client, url)}
    refused = client.post(url, data={**form, "reward_coupon_app_id": str(theirs.id)})
    assert refused.status_code == 200 and "No such coupon app" in refused.get_data(as_text=True)
    assert db.session.get(Survey, survey.id).reward_coupon_app_id is None
    assert client.post(url, data={**form, "reward_coupon_app_id": str(mine.id)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Survey, survey.id).reward_coupon_app_id == mine.id
