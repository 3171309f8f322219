"""Daily, weekly and monthly occurrences in a local zone (mcrm.core.recurrence, pure), which campaigns
and agenda items both repeat by. The properties hold against a plain walk from the first occurrence,
in a zone without daylight saving (Asia/Shanghai) and in zones with it."""
import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings, strategies as st

from mcrm.core.recurrence import add_months, next_occurrence, occurrence, occurrences_between

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [SHANGHAI, ZoneInfo("UTC"), ZoneInfo("Europe/Berlin"), NEW_YORK, ZoneInfo("Australia/Lord_Howe"),
         ZoneInfo("America/Sao_Paulo"), ZoneInfo("Pacific/Chatham")]
RULES = ["daily", "weekly", "monthly"]

zones = st.sampled_from(ZONES)
rules = st.sampled_from(RULES)
# a first occurrence at any local time of 2024-2027, given as the aware UTC moment the database keeps
local_starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31))
offsets = st.timedeltas(min_value=timedelta(days=-40), max_value=timedelta(days=800))


def walked(first: datetime, repeat: str, zone: ZoneInfo):
    """Every occurrence from the first on, one step at a time: what the shortcuts must agree with."""
    anchor, n = first.astimezone(zone), 0
    while True:
        yield occurrence(anchor, repeat, n)
        n += 1


def first_at(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(local=local_starts, zone=zones, repeat=rules, offset=offsets, strictly=st.booleans())
def test_next_occurrence_is_the_first_of_the_walk_at_or_after_the_moment(local, zone, repeat, offset, strictly):
    first = first_at(local, zone)
    since = first + offset
    expected = next(moment for moment in walked(first, repeat, zone)
                    if (moment > since if strictly else moment >= since))
    found = next_occurrence(first, repeat, since.astimezone(zone), zone, strictly=strictly)
    assert found == expected and found.tzinfo is zone


@settings(max_examples=200, deadline=None)
@given(local=local_starts, zone=zones, repeat=rules, offset=offsets,
       span=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=70)))
def test_occurrences_between_are_the_walk_within_the_window(local, zone, repeat, offset, span):
    first = first_at(local, zone)
    start, end = first + offset, first + offset + span
    expected = []
    for moment in walked(first, repeat, zone):
        if moment >= end:
            break
        if moment >= start:
            expected.append(moment)
    assert occurrences_between(first, repeat, start.astimezone(zone), end, zone) == expected


@settings(max_examples=300, deadline=None)
@given(local=local_starts, zone=zones, repeat=rules, n=st.integers(min_value=0, max_value=60))
def test_an_occurrence_keeps_the_local_time_weekday_and_day_of_the_month(local, zone, repeat, n):
    anchor = local.replace(tzinfo=zone)
    moment = occurrence(anchor, repeat, n)
    assert moment.time() == anchor.time()
    if repeat == "daily":
        assert moment.date() - anchor.date() == timedelta(days=n)
    elif repeat == "weekly":
        assert moment.date() - anchor.date() == timedelta(weeks=n) and moment.weekday() == anchor.weekday()
    else:
        months = (moment.year - anchor.year) * 12 + moment.month - anchor.month
        assert months == n
        assert moment.day == min(anchor.day, calendar.monthrange(moment.year, moment.month)[1])


@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
       months=st.integers(min_value=-240, max_value=240))
@example(day=date(2026, 1, 31), months=1)
@example(day=date(2024, 2, 29), months=12)
def test_add_months_lands_on_the_same_day_or_the_shorter_months_last(day, months):
    moved = add_months(day, months)
    assert (moved.year - day.year) * 12 + moved.month - day.month == months
    last = calendar.monthrange(moved.year, moved.month)[1]
    assert moved.day == min(day.day, last)


@settings(max_examples=100, deadline=None)
@given(local=local_starts, repeat=rules, n=st.integers(min_value=0, max_value=400))
def test_in_shanghai_a_daily_or_weekly_step_is_whole_days_of_elapsed_time(local, repeat, n):
    # no daylight saving: the wall clock and elapsed time agree, which the zones above do not promise
    if repeat == "monthly":
        return
    anchor = local.replace(tzinfo=SHANGHAI)
    days = n * (1 if repeat == "daily" else 7)
    assert occurrence(anchor, repeat, n).astimezone(UTC) - anchor.astimezone(UTC) == timedelta(days=days)


def dates(found):
    return [moment.strftime("%Y-%m-%d %H:%M %a") for moment in found]


def test_the_31st_happens_on_the_last_day_of_shorter_months_and_on_the_31st_again():
    first = datetime(2026, 1, 31, 10, 0, tzinfo=SHANGHAI)
    found = occurrences_between(first, "monthly", first, datetime(2028, 4, 1, tzinfo=SHANGHAI), SHANGHAI)
    assert dates(found)[:5] == ["2026-01-31 10:00 Sat", "2026-02-28 10:00 Sat", "2026-03-31 10:00 Tue",
                                "2026-04-30 10:00 Thu", "2026-05-31 10:00 Sun"]
    assert "2028-02-29 10:00 Tue" in dates(found)      # a leap year's February has its 29th


def test_daily_and_weekly_follow_the_days_and_weekdays():
    first = datetime(2026, 1, 31, 10, 0, tzinfo=SHANGHAI)
    end = datetime(2026, 2, 22, tzinfo=SHANGHAI)
    assert dates(occurrences_between(first, "daily", first, end, SHANGHAI))[:3] == [
        "2026-01-31 10:00 Sat", "2026-02-01 10:00 Sun", "2026-02-02 10:00 Mon"]
    assert dates(occurrences_between(first, "weekly", first, end, SHANGHAI)) == [
        "2026-01-31 10:00 Sat", "2026-02-07 10:00 Sat", "2026-02-14 10:00 Sat", "2026-02-21 10:00 Sat"]


def test_missed_occurrences_are_skipped_to_the_next_one():
    first = datetime(2026, 1, 31, 10, 0, tzinfo=SHANGHAI)
    assert next_occurrence(first, "daily", first + timedelta(days=10, hours=5), SHANGHAI) == \
        first + timedelta(days=11)
    assert next_occurrence(first, "monthly", datetime(2027, 2, 28, 10, 0, tzinfo=SHANGHAI), SHANGHAI) == \
        datetime(2027, 2, 28, 10, 0, tzinfo=SHANGHAI)
    assert next_occurrence(first, "monthly", datetime(2027, 2, 28, 10, 0, tzinfo=SHANGHAI), SHANGHAI,
                           strictly=True) == datetime(2027, 3, 31, 10, 0, tzinfo=SHANGHAI)


def test_a_one_off_happens_once():
    first = datetime(2026, 1, 31, 10, 0, tzinfo=SHANGHAI)
    assert next_occurrence(first, None, first, SHANGHAI) == first
    assert next_occurrence(first, None, first, SHANGHAI, strictly=True) is None
    assert occurrences_between(first, None, first - timedelta(days=1), first, SHANGHAI) == []
    assert occurrences_between(first, None, first, first + timedelta(minutes=1), SHANGHAI) == [first]


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError):
        occurrence(datetime(2026, 1, 31, tzinfo=SHANGHAI), "yearly", 1)


def test_the_local_time_holds_across_a_daylight_saving_change():
    zone = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 3, 28, 9, 0, tzinfo=zone)                  # the night after moves the clocks on
    following = next_occurrence(first, "daily", first, zone, strictly=True)
    assert following.hour == 9
    assert following.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=23)


def test_a_moment_in_the_repeated_hour_is_compared_by_the_clock_not_the_wall():
    # New York's clocks go back at 02:00 on 1 November 2026: 01:30 happens first in EDT, then in EST.
    # 01:20 EST (the second pass) is after 01:30 EDT, so the day's occurrence has passed.
    first = datetime(2026, 10, 30, 1, 30, tzinfo=NEW_YORK)
    since = datetime(2026, 11, 1, 1, 20, fold=1, tzinfo=NEW_YORK)
    assert next_occurrence(first, "daily", since, NEW_YORK) == datetime(2026, 11, 2, 1, 30, tzinfo=NEW_YORK)


def test_an_occurrence_in_the_skipped_hour_happens_once_that_day():
    # 02:30 does not exist on 8 March 2026 in New York: the occurrence is at 03:30 EDT, the next at 02:30
    first = datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK)
    start = datetime(2026, 3, 8, tzinfo=NEW_YORK)
    found = occurrences_between(first, "daily", start, start + timedelta(days=2), NEW_YORK)
    assert [moment.astimezone(UTC).astimezone(NEW_YORK).strftime("%d %H:%M") for moment in found] == \
        ["08 03:30", "09 02:30"]
    assert found[0].time() == time(2, 30)       # the wall time it keeps for the days after
