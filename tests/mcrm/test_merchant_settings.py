"""The owner's merchant settings page: every rule editable, validated, and nothing half-saved."""
import re
from datetime import time, timedelta
from decimal import Decimal

import pytest

from tests.conftest import csrf_token


@pytest.fixture
def owner(login):
    return login("owner")


def settings_form(merchant, **changes) -> dict:
    """What the page posts when the owner changes only ``changes``."""
    data = {
        "name": merchant.name, "signature": merchant.signature, "timezone": merchant.timezone,
        "send_window_start": merchant.send_window_start.strftime("%H:%M"),
        "send_window_end": merchant.send_window_end.strftime("%H:%M"),
        "frequency_cap_per_day": merchant.frequency_cap_per_day,
        "unsubscribe_hint": merchant.unsubscribe_hint,
        "message_retention_days": merchant.message_retention_days,
        "points_per_yuan": merchant.points_per_yuan, "join_gift_points": merchant.join_gift_points,
        "points_expiry_policy": merchant.points_expiry_policy,
        "points_expiry_months": merchant.points_expiry_months,
        "points_cycle_end_month": merchant.points_cycle_end_month, "tier_basis": merchant.tier_basis,
        "max_purchase_amount": merchant.max_purchase_amount or "",
        "confirm_purchase_above": merchant.confirm_purchase_above or "",
    }
    if merchant.points_change_sms:
        data["points_change_sms"] = "y"  # a checkbox posts only when ticked
    for index, (name, score) in enumerate(merchant.tier_thresholds):
        data[f"tiers-{index}-name"], data[f"tiers-{index}-score"] = name, score
    for index, (years, bonus) in enumerate(merchant.tenure_bonus):
        data[f"tenure-{index}-years"], data[f"tenure-{index}-bonus"] = years, bonus
    data.update(changes)
    return data


def save(client, data):
    return client.post("/settings/", data={**data, "csrf_token": csrf_token(client, "/settings/")})


def test_page_shows_the_current_rules(client, owner, merchant):
    page = client.get("/settings/").get_data(as_text=True)
    for text in ('value="小王烧烤"', 'value="【小王烧烤】"', 'value="08:00"', 'value="21:00"', 'value="回T退订"',
                 'value="银卡"', 'value="1000"', '<option selected value="Asia/Shanghai">'):
        assert text in page


def test_owner_saves_every_rule(client, owner, merchant, db):
    data = settings_form(
        merchant, name="小王烧烤 二店", signature="王记", timezone="Asia/Hong_Kong", send_window_start="09:30",
        send_window_end="20:00", frequency_cap_per_day=2, unsubscribe_hint="回TD退订", points_per_yuan="1.5",
        join_gift_points=50, points_expiry_policy="cycle_end", points_expiry_months=24,
        points_cycle_end_month=6)
    data.update({"tiers-5-name": "至尊卡", "tiers-5-score": "8000",
                 "tenure-0-years": "2", "tenure-0-bonus": "150"})
    response = save(client, data)
    assert response.status_code == 302
    db.session.refresh(merchant)
    assert (merchant.name, merchant.signature, merchant.timezone) == ("小王烧烤 二店", "【王记】", "Asia/Hong_Kong")
    assert (merchant.send_window_start, merchant.send_window_end) == (time(9, 30), time(20, 0))
    assert (merchant.frequency_cap_per_day, merchant.unsubscribe_hint) == (2, "回TD退订")
    assert (merchant.points_per_yuan, merchant.join_gift_points) == (Decimal("1.5"), 50)
    assert merchant.points_expiry_policy == "cycle_end"
    assert (merchant.points_expiry_months, merchant.points_cycle_end_month) == (24, 6)
    assert merchant.tier_thresholds[-1] == ["至尊卡", 8000]
    assert merchant.tenure_bonus == [[2, 150], [3, 200], [10, 300]]
    assert "Settings saved." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_an_emptied_tier_row_removes_the_tier(client, owner, merchant, db):
    response = save(client, settings_form(merchant, **{"tiers-4-name": "", "tiers-4-score": ""}))
    assert response.status_code == 302
    db.session.refresh(merchant)
    assert [name for name, _ in merchant.tier_thresholds] == ["贵宾卡", "银卡", "金卡", "白金卡"]


def test_changed_thresholds_move_members_to_their_new_tier_at_once(client, owner, merchant, make_member, db,
                                                                  now):
    from mcrm.points.services import Actor, record_purchase, refresh_tier
    member = make_member(joined_at=now - timedelta(days=400))
    record_purchase(member, merchant, 600, actor=Actor("test"), now=now - timedelta(days=365))  # last year
    refresh_tier(member, merchant, now=now)
    db.session.commit()
    assert member.tier == "贵宾卡"
    save(client, settings_form(merchant, **{"tiers-1-score": "500"}))
    db.session.refresh(member)
    assert member.tier == "银卡"


def test_a_change_of_the_spend_counted_moves_members_at_once(client, owner, merchant, make_member, db, now):
    from mcrm.points.services import Actor, record_purchase
    member = make_member()
    record_purchase(member, merchant, 1200, actor=Actor("test"), now=now)
    db.session.commit()
    assert (member.tier, member.tier_score) == ("贵宾卡", 0)  # this year's spend counts from next January
    assert save(client, settings_form(merchant, tier_basis="rolling_12_months")).status_code == 302
    db.session.refresh(member)
    assert (member.tier, member.tier_score) == ("银卡", 1200)


def test_the_page_states_the_tier_rule_in_plain_words(client, owner, merchant, db):
    rule = re.compile(r'data-rule="tier-score">(.*?)</p>', re.S)
    words = " ".join(rule.search(client.get("/settings/").get_data(as_text=True)).group(1).split())
    assert words.startswith("Tier score = yuan spent in the previous calendar year (January to December) + "
                            "tenure bonus (100 from the 1-year anniversary, 200 from the 3-year anniversary, "
                            "300 from the 10-year anniversary).")
    assert "Spend counts, not points" in words
    save(client, settings_form(merchant, tier_basis="rolling_12_months"))
    words = " ".join(rule.search(client.get("/settings/").get_data(as_text=True)).group(1).split())
    assert words.startswith("Tier score = yuan spent in the last 12 months + tenure bonus (100 from the")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    words = "".join(rule.search(client.get("/settings/").get_data(as_text=True)).group(1).split())
    assert words.startswith("等级分数=最近12个月的消费金额（元）+会龄加分（入会满1周年加100分，入会满3周年加200分，"
                            "入会满10周年加300分）。按消费金额而非积分计算")


@pytest.mark.parametrize("changes, message", [
    ({"signature": "王"}, "Signature must be 2 to 20 characters"),
    ({"send_window_start": "21:00", "send_window_end": "08:00"},
     "The sending window must end after it starts."),
    ({"frequency_cap_per_day": "0"}, "Number must be between 1 and 20."),
    ({"points_per_yuan": "-1"}, "Number must be between 0 and 1000."),
    ({"points_per_yuan": "abc"}, "Not a valid decimal value."),
    ({"points_expiry_months": "0"}, "Number must be between 1 and 120."),
    ({"timezone": "Mars/Olympus"}, "Not a valid choice."),
    ({"tiers-0-score": "100"}, "One tier must start from score 0."),
    ({"tiers-1-score": "2000"}, "Two tiers cannot start from the same score."),
    ({"tiers-1-name": ""}, "Each tier needs a name and the score it starts from."),
    ({"tenure-0-bonus": ""}, "Each tenure bonus needs both the years and the bonus."),
    ({"tier_basis": "points"}, "Not a valid choice."),
    ({"name": ""}, "This field is required."),
])
def test_bad_settings_are_refused_with_a_clear_error_and_nothing_is_saved(client, owner, merchant, db,
                                                                          changes, message):
    before = settings_form(merchant)
    response = save(client, settings_form(merchant, unsubscribe_hint="回N退订", **changes))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert "Nothing was saved" in page or "Signature must be" in page
    assert 'value="回N退订"' in page  # what the owner typed is kept on the page
    db.session.refresh(merchant)
    assert settings_form(merchant) == before


@pytest.mark.parametrize("role", ["manager", "clerk"])
def test_only_the_owner_may_change_settings(client, login, merchant, db, role):
    login(role)
    assert client.get("/settings/").status_code == 403
    response = client.post("/settings/", data={**settings_form(merchant, name="hijacked"),
                                               "csrf_token": csrf_token(client, "/")})
    assert response.status_code == 403
    db.session.refresh(merchant)
    assert merchant.name == "小王烧烤"


def test_settings_without_csrf_token_are_refused(client, owner, merchant, db):
    response = client.post("/settings/", data=settings_form(merchant, name="forged"))
    assert response.status_code == 400
    db.session.refresh(merchant)
    assert merchant.name == "小王烧烤"


def test_settings_change_only_the_signed_in_owners_merchant(client, owner, merchant, make_merchant, db):
    other = make_merchant(name="别家")
    save(client, settings_form(merchant, name="小王烧烤总店"))
    db.session.refresh(other)
    assert other.name == "别家"
    db.session.refresh(merchant)
    assert merchant.name == "小王烧烤总店"


def test_settings_page_needs_login(client):
    response = client.get("/settings/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_owner_sets_the_counter_rules_and_empty_limits_mean_none(client, owner, merchant, db):
    page = client.get("/settings/").get_data(as_text=True)
    assert '<input checked id="points_change_sms"' in page
    assert 'name="max_purchase_amount" step="0.01" type="number" value="50000.00"' in page
    assert 'name="confirm_purchase_above" step="0.01" type="number" value="5000.00"' in page
    data = settings_form(merchant, max_purchase_amount="20000", confirm_purchase_above="1500.50")
    del data["points_change_sms"]
    assert save(client, data).status_code == 302
    db.session.refresh(merchant)
    assert (merchant.points_change_sms, merchant.max_purchase_amount, merchant.confirm_purchase_above) == \
        (False, Decimal("20000"), Decimal("1500.50"))
    assert save(client, settings_form(merchant, max_purchase_amount="", confirm_purchase_above="")).status_code == 302
    db.session.refresh(merchant)
    assert (merchant.max_purchase_amount, merchant.confirm_purchase_above) == (None, None)


@pytest.mark.parametrize("maximum, threshold", [("5000", "5000"), ("5000", "9000"), ("0", ""), ("", "-3")])
def test_a_confirmation_threshold_at_or_above_the_maximum_or_a_limit_below_one_yuan_is_refused(
        client, owner, merchant, db, maximum, threshold):
    response = save(client, settings_form(merchant, max_purchase_amount=maximum, confirm_purchase_above=threshold))
    assert response.status_code == 200 and "Nothing was saved" in response.get_data(as_text=True)
    db.session.refresh(merchant)
    assert (merchant.max_purchase_amount, merchant.confirm_purchase_above) == (50000, 5000)


def test_the_rules_service_refuses_a_threshold_at_or_above_the_maximum(merchant, db):
    from mcrm.core.errors import ValidationError
    from mcrm.merchants.services import update_rules
    with pytest.raises(ValidationError, match="Purchases to confirm must start below the largest purchase"):
        update_rules(merchant, max_purchase_amount=Decimal(3000))
    with pytest.raises(ValidationError, match="Invalid value"):
        update_rules(merchant, max_purchase_amount="lots")
    update_rules(merchant, max_purchase_amount=None, confirm_purchase_above=Decimal(10_000_000))
