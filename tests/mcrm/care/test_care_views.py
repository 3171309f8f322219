"""The care console over HTTP: roles, CSRF, switching a birthday greeting on with a gift by tier,
a bad text kept with its error, another merchant's greeting, today and the week."""
from datetime import timedelta
from zoneinfo import ZoneInfo

from mcrm.care import services
from mcrm.care.models import CareGreeting
from mcrm.core.clock import now_utc
from mcrm.extensions import db
from tests.conftest import csrf_token


def test_clerks_cannot_open_care(client, login):
    login("clerk")
    assert client.get("/care/").status_code == 403
    assert client.get("/care/greeting?kind=birthday").status_code == 403


def test_switch_on_a_birthday_greeting_with_a_gift_by_tier(client, login, merchant, make_member, now):
    login("manager")
    form = {"enabled": "y", "body": "{name}生日快乐，送您积分", "hour": "9", "days_before": "1", "gift_points": "50",
            "tier_gifts": "金卡=200 白金卡=300", "coupon_app_id": "0"}
    assert client.post("/care/greeting?kind=birthday", data=form).status_code == 400   # no CSRF token
    token = csrf_token(client, "/care/greeting?kind=birthday")
    saved = client.post("/care/greeting?kind=birthday", data=dict(form, csrf_token=token))
    assert saved.status_code == 302
    greeting = db.session.query(CareGreeting).one()
    assert (greeting.enabled, greeting.hour, greeting.days_before, greeting.gift_points, greeting.gift_points_by_tier) \
        == (True, 9, 1, 50, {"金卡": 200, "白金卡": 300})
    in_two_days = (now_utc().astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)).date()
    make_member(birthday=in_two_days.replace(year=1990).isoformat())
    page = client.get("/care/").get_data(as_text=True)
    sent_on = in_two_days - timedelta(days=1)   # a day before
    assert f"<td>{sent_on.isoformat()}</td><td>生日</td><td>1</td>" in page


def test_a_text_with_an_unknown_field_is_kept_with_its_error(client, login, merchant):
    login("manager")
    token = csrf_token(client, "/care/greeting?kind=birthday")
    answer = client.post("/care/greeting?kind=birthday", data={
        "csrf_token": token, "enabled": "y", "body": "{nickname}生日快乐", "hour": "9", "days_before": "0",
        "gift_points": "0", "coupon_app_id": "0"})
    assert answer.status_code == 200
    assert "{nickname}生日快乐" in answer.get_data(as_text=True) and "nickname" in answer.get_data(as_text=True)
    assert db.session.query(CareGreeting).count() == 0


def test_another_merchants_greeting_is_not_found(client, login, make_merchant, now):
    theirs = services.save_greeting(make_merchant(), kind="birthday", enabled=True, body="生日快乐", now=now)
    db.session.commit()
    login("manager")
    assert client.get(f"/care/greeting?id={theirs.id}").status_code == 404
    assert client.get("/care/greeting?kind=nothing").status_code == 404
