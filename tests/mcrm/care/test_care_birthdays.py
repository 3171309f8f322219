"""Birthday greetings: solar and lunar, days before, leap months, 29 February, the marketing rules,
the gift of points or a coupon, and once per member and birthday year however the job runs."""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from lunardate import LunarDate

from mcrm.care import services
from mcrm.care.models import CareCoupon, CareRun, RunStatus
from mcrm.core.errors import ValidationError
from mcrm.keywords.apps.custom import add_pool_codes
from mcrm.keywords.services import create_keyword_app, set_app_config
from mcrm.messaging.models import MessageStatus, OutboundMessage, SuppressReason
from mcrm.messaging.services import enqueue_sms
from mcrm.points.models import EntryKind, PointsEntry
from tests.mcrm.care.conftest import greetings_out

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 12) -> datetime:
    """That local day's ``hour`` in Shanghai, as the job's ``now``."""
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI).astimezone(UTC)


def lunar(day: date) -> str:
    found = LunarDate.from_solar_date(day.year, day.month, day.day)
    return f"农历{found.month:02d}{found.day:02d}"


def gifts(db) -> dict:
    db.session.expire_all()
    rows = dict(db.session.execute(sa.select(PointsEntry.member_id, sa.func.sum(PointsEntry.points))
                                   .where(PointsEntry.kind == EntryKind.GIFT).group_by(PointsEntry.member_id)).all())
    db.session.rollback()
    return rows


# -- setting up -----------------------------------------------------------------------------------

def test_a_greeting_is_checked_when_saved_and_saving_it_again_changes_the_one(db, merchant, now):
    with pytest.raises(ValidationError, match="Unknown placeholder"):
        services.save_greeting(merchant, kind="birthday", enabled=True, body="{nickname}生日快乐", now=now)
    with pytest.raises(ValidationError, match="coupon app"):
        services.save_greeting(merchant, kind="birthday", enabled=True, body="{coupon}", now=now)
    with pytest.raises(ValidationError, match="hour"):
        services.save_greeting(merchant, kind="birthday", enabled=True, body="生日快乐", hour=24, now=now)
    with pytest.raises(ValidationError, match="No tier"):
        services.save_greeting(merchant, kind="birthday", enabled=True, body="生日快乐", now=now,
                               gift_points_by_tier={"黑卡": 10})
    with pytest.raises(ValidationError, match="festival"):
        services.save_greeting(merchant, kind="festival", code="halloween", enabled=True, body="快乐", now=now)
    with pytest.raises(ValidationError, match="date"):
        services.save_greeting(merchant, kind="store_day", enabled=True, body="店庆", now=now)
    first = services.save_greeting(merchant, kind="birthday", enabled=True, body="生日快乐", now=now)
    again = services.save_greeting(merchant, kind="birthday", enabled=False, body="{name}生日快乐", hour=9, now=now)
    assert (again.id, again.enabled, again.hour, again.body) == (first.id, False, 9, "{name}生日快乐")
    assert len(services.list_greetings(merchant)) == 1


# -- whose birthday -------------------------------------------------------------------------------

def test_a_member_whose_solar_birthday_is_today_gets_one_greeting_with_signature_and_hint(
        db, merchant, make_member, greet, now):
    make_member(msisdn="13800000001", name="王芳", birthday="1990-11-20")
    make_member(msisdn="13800000002", birthday="1990-11-21")
    make_member(msisdn="13800000003", birthday="1120")           # year unknown
    make_member(msisdn="13800000004")                            # no birthday
    greeting = greet(body="{name}，生日快乐！")
    assert services.run_due_greetings(now=now) == 2
    rows = greetings_out(db)
    assert [(row.msisdn, row.status, row.occasion) for row in rows] == [
        ("+8613800000001", MessageStatus.QUEUED, f"care:{greeting.id}:2026"),
        ("+8613800000003", MessageStatus.QUEUED, f"care:{greeting.id}:2026")]
    assert rows[0].text == "【小王烧烤】王芳，生日快乐！回T退订"


def test_the_greeting_waits_for_its_local_hour_and_goes_days_before(db, merchant, make_member, greet, now):
    make_member(msisdn="13800000001", birthday="1990-11-23")
    greet(hour=15, days_before=3)
    assert services.run_due_greetings(now=now) == 0              # 12:00 in Shanghai
    assert services.run_due_greetings(now=now + timedelta(hours=3)) == 1
    assert [row.msisdn for row in greetings_out(db)] == ["+8613800000001"]


def test_a_lunar_birthday_is_greeted_on_its_solar_day_of_this_year_and_counts_in_the_lunar_year(
        db, merchant, make_member, greet, now):
    today = date(2026, 11, 20)
    make_member(msisdn="13800000001", birthday=lunar(today))
    make_member(msisdn="13800000002", birthday=lunar(today + timedelta(days=1)))
    greeting = greet()
    assert services.run_due_greetings(now=now) == 1
    year = LunarDate.from_solar_date(2026, 11, 20).year
    assert [(row.msisdn, row.occasion) for row in greetings_out(db)] == [
        ("+8613800000001", f"care:{greeting.id}:lunar{year}")]


def _short_month_end(year: int) -> date:
    """A solar day that is the 29th of a lunar month with no 30th."""
    day = date(year, 1, 1)
    while True:
        found = LunarDate.from_solar_date(day.year, day.month, day.day)
        following = LunarDate.from_solar_date(*(day + timedelta(days=1)).timetuple()[:3])
        if found.day == 29 and following.day == 1 and not found.is_leap_month:
            return day
        day += timedelta(days=1)


def test_a_lunar_30th_is_greeted_on_the_29th_when_the_month_has_no_30th(db, merchant, make_member, greet):
    day = _short_month_end(2026)
    month = LunarDate.from_solar_date(day.year, day.month, day.day).month
    make_member(msisdn="13800000001", birthday=f"农历{month:02d}30")
    make_member(msisdn="13800000002", birthday=f"农历{month:02d}29")
    greet()
    assert services.run_due_greetings(now=at(day)) == 2


def test_a_lunar_birthday_goes_in_the_ordinary_month_never_again_in_the_leap_month(db, merchant, make_member,
                                                                                  greet):
    # 2025 has a leap sixth month (闰六月): the sixth month's 10th comes twice
    ordinary, leap = LunarDate(2025, 6, 10).to_solar_date(), LunarDate(2025, 6, 10, True).to_solar_date()
    make_member(msisdn="13800000001", birthday="农历0610")
    greet()
    assert services.run_due_greetings(now=at(leap)) == 0
    assert services.run_due_greetings(now=at(ordinary)) == 1
    assert len(greetings_out(db)) == 1


def test_29_february_is_greeted_on_28_february_in_a_common_year_and_on_its_day_in_a_leap_year(
        db, merchant, make_member, greet):
    make_member(msisdn="13800000001", birthday="2000-02-29")
    make_member(msisdn="13800000002", birthday="2000-02-28")
    greet()
    assert services.run_due_greetings(now=at(date(2027, 2, 28))) == 2
    assert services.run_due_greetings(now=at(date(2028, 2, 28))) == 1
    assert services.run_due_greetings(now=at(date(2028, 2, 29))) == 1
    assert [row.msisdn for row in greetings_out(db)] == ["+8613800000001", "+8613800000002",
                                                         "+8613800000002", "+8613800000001"]


# -- the marketing rules hold ---------------------------------------------------------------------

def test_opted_out_capped_and_invalid_numbers_are_suppressed_and_an_early_hour_waits_for_the_window(
        db, merchant, make_member, greet, now):
    make_member(msisdn="13800000001", birthday="1990-11-20", opted_out=True)
    capped = make_member(msisdn="13800000002", birthday="1990-11-20")
    make_member(msisdn="13800000003", birthday="1990-11-20")
    enqueue_sms(merchant, msisdn=capped.msisdn, body="周末八折", kind="marketing", member=capped,
                now=at(date(2026, 11, 20), 6))
    db.session.commit()
    greet(hour=6)
    services.run_due_greetings(now=at(date(2026, 11, 20), 7))   # the window opens at 8:00
    rows = greetings_out(db)
    assert [(row.msisdn, row.suppressed_reason) for row in rows] == [
        ("+8613800000001", SuppressReason.OPTED_OUT), ("+8613800000002", SuppressReason.FREQUENCY_CAP),
        ("+8613800000003", None)]
    waits = db.session.scalar(sa.select(OutboundMessage.not_before).where(OutboundMessage.msisdn == "+8613800000003"))
    assert waits == at(date(2026, 11, 20), 8)


# -- once per member and birthday year ------------------------------------------------------------

def test_the_job_run_twice_and_a_greeting_moved_to_days_before_greet_and_gift_once(db, merchant, make_member,
                                                                                  greet, now):
    gold = make_member(msisdn="13800000001", birthday="1990-11-23")
    gold.tier = "金卡"
    plain = make_member(msisdn="13800000002", birthday="1990-11-23", opted_out=True)
    db.session.commit()
    greet(days_before=3, gift_points=50, gift_points_by_tier={"金卡": 200})
    services.run_due_greetings(now=now)
    services.run_due_greetings(now=now)
    services.run_due_greetings(now=now + timedelta(hours=1))
    # the merchant moves it to the day itself: the birthday has had its greeting and gift
    greet(days_before=0, gift_points=50, gift_points_by_tier={"金卡": 200})
    services.run_due_greetings(now=now + timedelta(days=3))
    assert [row.msisdn for row in greetings_out(db)] == ["+8613800000001", "+8613800000002"]
    assert gifts(db) == {gold.id: 200, plain.id: 50}    # the opted-out member's benefit stands
    assert [run.status for run in db.session.scalars(sa.select(CareRun))] == [RunStatus.DONE] * 2


def test_next_year_the_birthday_is_greeted_again(db, merchant, make_member, greet, now):
    make_member(msisdn="13800000001", birthday="1990-11-20")
    greet()
    services.run_due_greetings(now=now)
    services.run_due_greetings(now=now.replace(year=2027))
    assert [row.occasion.rsplit(":", 1)[1] for row in greetings_out(db)] == ["2026", "2027"]


def test_a_coupon_goes_to_each_member_whose_greeting_goes_once(db, merchant, make_member, greet, now):
    make_member(msisdn="13800000001", birthday="1990-11-20")
    make_member(msisdn="13800000002", birthday="1990-11-20", opted_out=True)
    app = create_keyword_app(merchant, kind="coupon", name="生日券")
    set_app_config(app, source="pool", valid_days=7)
    add_pool_codes(app, ["BD01", "BD02"])
    db.session.commit()
    greet(body="生日快乐，券码{coupon}", coupon_app_id=app.id)
    services.run_due_greetings(now=now)
    services.run_due_greetings(now=now + timedelta(hours=2))
    texts = [row.text for row in greetings_out(db) if row.suppressed_reason is None]
    assert texts == ["【小王烧烤】生日快乐，券码BD01回T退订"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CareCoupon)) == 1
