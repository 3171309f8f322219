"""Where the console shows a member's tier, it shows what the score is made of."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.members.models import Member
from mcrm.points.services import Actor, record_purchase, refresh_all_tiers

PARTS = re.compile(r'data-stat="tier-parts">(.*?)</small>', re.S)


@pytest.fixture
def evaluated_member(db, merchant, make_member, now):
    """A member of 3 years who spent ¥3,900 last year, after the monthly re-evaluation."""
    member = make_member(name="钱七", joined_at=now - timedelta(days=3 * 366))
    record_purchase(member, merchant, 3900, actor=Actor("test"), now=now - timedelta(days=365))
    refresh_all_tiers(merchant, now=now)
    db.session.commit()
    return member


def test_the_member_page_shows_the_tier_scores_spend_and_tenure_bonus(client, login, evaluated_member):
    login("clerk")
    page = client.get(f"/members/{evaluated_member.id}").get_data(as_text=True)
    assert 'data-stat="tier">钻石卡<' in page and "(score 4100)" in page
    assert PARTS.search(page).group(1) == "spent ¥3900 last year + tenure bonus 200"


def test_the_parts_are_in_chinese_and_follow_the_merchants_basis(client, login, evaluated_member, merchant,
                                                                  db):
    merchant.tier_basis = "rolling_12_months"
    db.session.commit()
    login("clerk")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = client.get(f"/members/{evaluated_member.id}").get_data(as_text=True)
    assert PARTS.search(page).group(1) == "近12个月消费¥3900 + 会龄加分200"


def test_a_member_not_yet_scored_under_the_rule_shows_no_parts(client, login, evaluated_member, db):
    db.session.execute(sa.update(Member).values(tier_bonus=None))  # as the upgrade leaves members
    db.session.commit()
    login("clerk")
    page = client.get(f"/members/{evaluated_member.id}").get_data(as_text=True)
    assert "(score 4100)" in page
    assert PARTS.search(page) is None
