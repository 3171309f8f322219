"""The occasions of a recurring campaign in the merchant's local time (mcrm.campaigns.rules, pure)."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mcrm.campaigns.rules import next_occurrence

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2026, 1, 31, 10, 0, tzinfo=SHANGHAI)


def occasions(recurrence: str, count: int = 4) -> list[str]:
    moment, out = FIRST, []
    for _ in range(count):
        moment = next_occurrence(FIRST, recurrence, moment, SHANGHAI)
        out.append(moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M %a"))
    return out


def test_daily_weekly_and_monthly_keep_the_local_time_and_the_day():
    assert occasions("daily") == ["2026-02-01 10:00 Sun", "2026-02-02 10:00 Mon", "2026-02-03 10:00 Tue",
                                  "2026-02-04 10:00 Wed"]
    assert occasions("weekly") == ["2026-02-07 10:00 Sat", "2026-02-14 10:00 Sat", "2026-02-21 10:00 Sat",
                                   "2026-02-28 10:00 Sat"]
    # the 31st: the last day of shorter months, and the 31st again when the month has one
    assert occasions("monthly") == ["2026-02-28 10:00 Sat", "2026-03-31 10:00 Tue", "2026-04-30 10:00 Thu",
                                    "2026-05-31 10:00 Sun"]


def test_missed_occasions_are_skipped_to_the_next_one_after_now():
    assert next_occurrence(FIRST, "daily", FIRST + timedelta(days=10, hours=5), SHANGHAI) == \
        FIRST + timedelta(days=11)
    assert next_occurrence(FIRST, "monthly", datetime(2027, 2, 28, 10, 0, tzinfo=SHANGHAI), SHANGHAI) == \
        datetime(2027, 3, 31, 10, 0, tzinfo=SHANGHAI)
    assert next_occurrence(FIRST, "once", FIRST, SHANGHAI) is None


def test_the_local_time_holds_across_a_daylight_saving_change():
    zone = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 3, 28, 9, 0, tzinfo=zone)                  # the night after moves the clocks on
    following = next_occurrence(first, "daily", first, zone)
    assert following.astimezone(zone).hour == 9
    assert following.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=23)
