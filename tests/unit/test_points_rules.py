from datetime import date, datetime, time, timedelta, UTC
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings, strategies as st

from mcrm.core.errors import ValidationError
from mcrm.points import rules

UTC = UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: any instant of 2000-2090
INSTANTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                        timezones=st.just(UTC))


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


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


def test_cycle_end_policy_expires_when_the_cycle_after_the_earning_one_ends_local_time():
    rule = rules.ExpiryRule(policy=rules.CYCLE_END, cycle_end_month=12, timezone="Asia/Shanghai")
    # 2026-12-31 23:30 in Shanghai is still the 2026 cycle: valid through the 2027 cycle
    expires = rule.expires_at(datetime(2026, 12, 31, 15, 30, tzinfo=UTC))
    assert expires.isoformat() == "2028-01-01T00:00:00+08:00"
    # 2027-01-01 00:30 in Shanghai belongs to the 2027 cycle
    assert rule.expires_at(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)).year == 2029
    june = rules.ExpiryRule(policy=rules.CYCLE_END, cycle_end_month=6)
    assert june.expires_at(datetime(2026, 7, 1, 4, tzinfo=UTC)).date().isoformat() == "2028-07-01"


def test_points_earned_on_30_november_outlive_1_december_in_a_december_to_november_cycle():
    rule = rules.ExpiryRule(policy=rules.CYCLE_END, cycle_end_month=11, timezone="Asia/Shanghai")
    assert rule.expires_at(shanghai(2025, 11, 30, 12)).isoformat() == "2026-12-01T00:00:00+08:00"
    assert rule.expires_at(shanghai(2025, 12, 1, 12)).isoformat() == "2027-12-01T00:00:00+08:00"


def test_months_are_counted_on_the_merchants_calendar():
    rule = rules.ExpiryRule(policy=rules.MONTHS, months=1, timezone="Asia/Shanghai")
    earned = datetime(2026, 1, 31, 1, 0, tzinfo=SHANGHAI)  # still 30 January in UTC
    assert rule.expires_at(earned) == datetime(2026, 2, 28, 1, 0, tzinfo=SHANGHAI)


@settings(max_examples=300)
@given(moment=INSTANTS, month=st.integers(1, 12), zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York"]))
def test_cycle_end_points_last_one_whole_cycle_at_least_and_lapse_at_a_cycle_start(moment, month, zone):
    rule = rules.ExpiryRule(policy=rules.CYCLE_END, cycle_end_month=month, timezone=zone)
    expires = rule.expires_at(moment)
    local = expires.astimezone(ZoneInfo(zone))
    assert (local.month, local.day, local.hour, local.minute) == (month % 12 + 1, 1, 0, 0)
    assert timedelta(days=365) <= expires - moment <= timedelta(days=732)


@settings(max_examples=300)
@given(moment=INSTANTS, months=st.integers(1, 120))
def test_months_policy_lapses_on_the_same_local_day_n_months_on_or_the_months_last_day(moment, months):
    rule = rules.ExpiryRule(policy=rules.MONTHS, months=months, timezone="Asia/Shanghai")
    earned, expires = moment.astimezone(SHANGHAI), rule.expires_at(moment).astimezone(SHANGHAI)
    assert expires.date() == rules.add_months(earned.date(), months)
    assert expires.time() == earned.time()


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


def test_tier_follows_thresholds():
    tiers = [["贵宾卡", 0], ["银卡", 1000], ["金卡", 2000]]
    assert rules.tier_for(999, tiers) == "贵宾卡"
    assert rules.tier_for(1000, tiers) == "银卡"
    assert rules.tier_for(5000, tiers) == "金卡"


TIERS = [["贵宾卡", 0], ["银卡", 1000], ["金卡", 2000], ["白金卡", 3000], ["钻石卡", 4000]]
BONUS = [[1, 100], [3, 200], [10, 300]]
RULE = rules.TierRule(thresholds=TIERS, bonus_table=BONUS)


def test_the_tenure_bonus_starts_on_the_anniversary_day_local_time():
    joined = datetime(2025, 3, 1, 10, 0, tzinfo=SHANGHAI)
    run = datetime(2026, 3, 1, 3, 0, tzinfo=SHANGHAI)  # the monthly job, earlier in the day than the joining
    assert RULE.score(0, joined, run) == rules.TierScore(spend=0, bonus=100)
    assert RULE.score(0, joined, run - timedelta(hours=4)).bonus == 0
    assert RULE.score(0, joined - timedelta(days=365 * 3), run).bonus == 200   # joined 2 March 2022
    assert RULE.score(0, datetime(2016, 3, 1, tzinfo=SHANGHAI), run).bonus == 300


def test_a_29_february_member_has_an_anniversary_on_28_february():
    assert rules.tenure_years(date(2024, 2, 29), date(2025, 2, 27)) == 0
    assert rules.tenure_years(date(2024, 2, 29), date(2025, 2, 28)) == 1
    assert rules.tenure_years(date(2024, 2, 29), date(2028, 2, 29)) == 4


def test_a_three_year_member_who_spent_3900_last_year_is_diamond():
    score = RULE.score(Decimal("3900.00"), datetime(2023, 3, 1, 12, tzinfo=SHANGHAI),
                       datetime(2026, 3, 1, 3, tzinfo=SHANGHAI))
    assert (score.spend, score.bonus, score.total, RULE.tier_for(score)) == (3900, 200, 4100, "钻石卡")


def test_spend_counts_in_whole_yuan():
    now = datetime(2026, 3, 1, tzinfo=SHANGHAI)
    assert RULE.score(Decimal("999.99"), now, now) == rules.TierScore(spend=999, bonus=0)


def test_last_year_is_january_to_december_in_the_merchants_time():
    since, until = RULE.spend_window(datetime(2026, 3, 1, 3, tzinfo=SHANGHAI))
    assert (since.isoformat(), until.isoformat()) == ("2025-01-01T00:00:00+08:00",
                                                      "2026-01-01T00:00:00+08:00")
    # 31 December 2026 17:00 UTC is already 1 January 2027 in Shanghai
    since, _until = RULE.spend_window(datetime(2026, 12, 31, 17, tzinfo=UTC))
    assert since.date() == date(2026, 1, 1)


def test_the_rolling_12_months_end_with_today():
    rolling = rules.TierRule(thresholds=TIERS, bonus_table=BONUS, basis=rules.ROLLING_12_MONTHS)
    since, until = rolling.spend_window(datetime(2026, 3, 1, 3, tzinfo=SHANGHAI))
    assert (since.isoformat(), until.isoformat()) == ("2025-03-02T00:00:00+08:00",
                                                      "2026-03-02T00:00:00+08:00")


@given(now=INSTANTS, basis=st.sampled_from([rules.LAST_YEAR, rules.ROLLING_12_MONTHS]))
@example(now=datetime(2029, 2, 28, 12, tzinfo=UTC), basis=rules.ROLLING_12_MONTHS)  # a year after a 29 February
def test_a_spend_window_is_12_months_of_whole_local_days(now, basis):
    since, until = rules.TierRule(thresholds=TIERS, bonus_table=BONUS, basis=basis).spend_window(now)
    assert since.date() == rules.add_months(until.date(), -12) and since.time() == until.time() == time(0)
    if basis == rules.ROLLING_12_MONTHS:
        assert until - timedelta(days=1) <= now < until   # ends with today
    else:
        assert until <= now and until.date().timetuple().tm_yday == 1   # the year before today's


@given(joined=st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 1, 1)), years=st.integers(0, 30),
       extra_days=st.integers(0, 400))
def test_tenure_grows_by_one_on_each_anniversary_and_never_falls(joined, years, extra_days):
    anniversary = rules.add_months(joined, 12 * years)
    assert rules.tenure_years(joined, anniversary) == years
    assert years <= rules.tenure_years(joined, anniversary + timedelta(days=extra_days)) <= years + 1
    if anniversary > joined:
        assert rules.tenure_years(joined, anniversary - timedelta(days=1)) == years - 1


@given(low=st.integers(0, 10_000), high=st.integers(0, 10_000))
def test_a_higher_score_never_gives_a_lower_tier(low, high):
    low, high = sorted((low, high))
    names = [name for name, _ in TIERS]
    assert names.index(rules.tier_for(low, TIERS)) <= names.index(rules.tier_for(high, TIERS))
