from datetime import datetime, timezone
from decimal import Decimal

import pytest

from mcrm.core.errors import ValidationError
from mcrm.points import rules

UTC = timezone.utc


@pytest.mark.parametrize("amount, rate, points", [
    ("88", 1, 88), ("88.99", 1, 88), ("10", "1.5", 15), ("0.50", 1, 0), ("1288.00", "0.1", 128),
])
def test_earn_points_rounds_down_to_whole_points(amount, rate, points):
    assert rules.earn_points(Decimal(amount), rate) == points


@pytest.mark.parametrize("text", ["0", "-5", "abc", "1.234", "", "nan", "inf"])
def test_bad_amounts_are_refused(text):
    with pytest.raises(ValidationError):
        rules.parse_amount(text)


@pytest.mark.parametrize("text, value", [("88", "88"), ("¥1,288.50", "1288.50"), ("66元", "66"), ("￥9.9", "9.9")])
def test_amounts_as_people_type_them(text, value):
    assert rules.parse_amount(text) == Decimal(value)


def test_months_policy_expires_n_months_after_earning_clamped_to_month_end():
    rule = rules.ExpiryRule(policy=rules.MONTHS, months=12)
    assert rule.expires_at(datetime(2024, 2, 29, 10, tzinfo=UTC)) == datetime(2025, 2, 28, 10, tzinfo=UTC)
    assert rules.ExpiryRule(policy=rules.MONTHS, months=1).expires_at(
        datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)


def test_cycle_end_policy_expires_after_the_last_day_of_the_cycle_month_local_time():
    rule = rules.ExpiryRule(policy=rules.CYCLE_END, cycle_end_month=12, timezone="Asia/Shanghai")
    # 2026-12-31 23:30 in Shanghai is still the 2026 cycle
    expires = rule.expires_at(datetime(2026, 12, 31, 15, 30, tzinfo=UTC))
    assert expires.isoformat() == "2027-01-01T00:00:00+08:00"
    # 2027-01-01 00:30 in Shanghai belongs to the next cycle
    assert rule.expires_at(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)).year == 2028
    june = rules.ExpiryRule(policy=rules.CYCLE_END, cycle_end_month=6)
    assert june.expires_at(datetime(2026, 7, 1, 4, tzinfo=UTC)).date().isoformat() == "2027-07-01"


def test_never_policy_has_no_expiry():
    assert rules.ExpiryRule(policy=rules.NEVER).expires_at(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_expiry_is_first_in_first_out_and_never_twice():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old, new = datetime(2026, 5, 1, tzinfo=UTC), datetime(2027, 5, 1, tzinfo=UTC)
    lots = [(old, 100), (new, 50), (None, 30)]
    assert rules.expirable(lots, debits=0, now=now) == 100
    assert rules.expirable(lots, debits=60, now=now) == 40     # the redeem used the oldest points first
    assert rules.expirable(lots, debits=100, now=now) == 0     # after expiring 100, nothing more is due
    assert rules.expirable(lots, debits=150, now=now) == 0


def test_tier_follows_thresholds_and_tenure_bonus():
    tiers = [["普通", 0], ["银卡", 1000], ["金卡", 2000]]
    assert rules.tier_for(999, tiers) == "普通"
    assert rules.tier_for(1000, tiers) == "银卡"
    assert rules.tier_for(5000, tiers) == "金卡"
    table = [[1, 100], [3, 200], [10, 300]]
    joined = datetime(2020, 1, 1, tzinfo=UTC)
    assert rules.tenure_bonus(joined, datetime(2020, 12, 1, tzinfo=UTC), table) == 0
    assert rules.tenure_bonus(joined, datetime(2021, 1, 2, tzinfo=UTC), table) == 100
    assert rules.tenure_bonus(joined, datetime(2026, 1, 2, tzinfo=UTC), table) == 200
