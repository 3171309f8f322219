"""Festivals and special days: every member on the merchant's picked festivals, the store's
anniversary, each member's join anniversary, a named day; the console's outlook of the week."""
from datetime import date, timedelta

from mcrm.care import services
from mcrm.care.calendar import festival_date
from tests.mcrm.care.conftest import greetings_out
from tests.mcrm.care.test_care_birthdays import at


def test_a_picked_festival_greets_every_member_on_its_day_of_each_year(db, merchant, make_member, greet):
    make_member(msisdn="13800000001")
    make_member(msisdn="13800000002", opted_out=True)
    greeting = greet("festival", "{name}，中秋快乐", code="mid_autumn", days_before=1)
    for year in (2026, 2027):
        day = festival_date("mid_autumn", year) - timedelta(days=1)
        assert services.run_due_greetings(now=at(day - timedelta(days=1))) == 0
        assert services.run_due_greetings(now=at(day)) == 2
        assert services.run_due_greetings(now=at(day, 20)) == 0
    assert [(row.msisdn, row.occasion, row.suppressed_reason) for row in greetings_out(db)] == [
        ("+8613800000001", f"care:{greeting.id}:2026", None), ("+8613800000002", f"care:{greeting.id}:2026", "opted out"),
        ("+8613800000001", f"care:{greeting.id}:2027", None), ("+8613800000002", f"care:{greeting.id}:2027", "opted out")]


def test_the_store_anniversary_and_a_named_day_greet_everyone_and_a_once_named_day_only_once(
        db, merchant, make_member, greet):
    make_member(msisdn="13800000001")
    greet("store_day", "{shop}周年庆", on_date=date(2020, 3, 8))
    greet("named_day", "会员日", code="会员日", on_date=date(2026, 6, 18), yearly=False)
    assert services.run_due_greetings(now=at(date(2026, 3, 8))) == 1
    assert services.run_due_greetings(now=at(date(2026, 6, 18))) == 1
    assert services.run_due_greetings(now=at(date(2027, 6, 18))) == 0
    assert [row.text for row in greetings_out(db)] == ["【小王烧烤】小王烧烤周年庆回T退订", "【小王烧烤】会员日回T退订"]


def test_a_join_anniversary_greets_members_who_joined_that_local_day_in_an_earlier_year(
        db, merchant, make_member, greet):
    make_member(msisdn="13800000001", joined_at=at(date(2024, 11, 20), 1))     # 01:00 local: the 20th
    make_member(msisdn="13800000002", joined_at=at(date(2024, 11, 19), 23))    # the 19th
    make_member(msisdn="13800000003", joined_at=at(date(2026, 11, 20), 9))     # this year: no anniversary
    greet("join_day", "{name}，入会两周年快乐")
    assert services.run_due_greetings(now=at(date(2026, 11, 20))) == 1
    assert [row.msisdn for row in greetings_out(db)] == ["+8613800000001"]


def test_the_outlook_shows_today_sent_and_the_week_planned_with_statutory_days(db, merchant, make_member, greet,
                                                                             now):
    make_member(msisdn="13800000001", birthday="1990-11-20")
    make_member(msisdn="13800000002", birthday="1990-11-22")
    birthday = greet()
    services.run_due_greetings(now=now)
    seen = services.outlook(merchant, now=now)
    assert seen.today == {birthday.id: {"queued": 1}}
    assert [(p.day, p.name, p.members) for p in seen.planned] == [(date(2026, 11, 22), "生日", 1)]
    assert seen.statutory == []


def test_a_missed_day_is_replayed_from_the_command_line_once(db, runner, merchant, make_member, greet):
    make_member(msisdn="13800000001", birthday="1990-03-05")
    greet()
    for _ in range(2):
        result = runner.invoke(args=["jobs", "run", "care", "--now", "2026-03-05T23:00"])   # Shanghai time
        assert result.exit_code == 0, result.output
    assert [row.msisdn for row in greetings_out(db)] == ["+8613800000001"]
