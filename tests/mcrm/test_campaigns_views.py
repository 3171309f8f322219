"""The campaign console over HTTP: roles and merchants on every route, the composer's live figures
and test send, the confirmation before sending, the controls, the progress answer and the report."""
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.campaigns.models import Campaign, CampaignStatus, Recurrence
from mcrm.members.services import opt_out
from mcrm.messaging.models import MessageStatus, OutboundMessage
from tests.conftest import csrf_token

GOLD = {"type": "tier", "tiers": ["金卡"]}


@pytest.fixture
def make_campaign(db, merchant, now):
    def make(merchant=merchant, name="会员日", body="{name}您好，会员日8折。", launch=False, **fields):
        campaign = services.create_campaign(merchant, name=name, body=body, now=now, **fields)
        if launch:
            services.launch_campaign(campaign, now=now)
        db.session.commit()
        return campaign
    return make


def campaign_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint.startswith("campaigns.")),
                  key=lambda r: r.rule)


def url_for_rule(rule, campaign_id, action="pause") -> str:
    return re.sub(r"<any\([^)]*\):action>", action, rule.rule.replace("<int:campaign_id>", str(campaign_id)))


def post_json(client, url, data, token):
    return client.post(url, data=json.dumps(data), content_type="application/json",
                       headers={"X-CSRFToken": token})


def test_every_campaign_route_refuses_a_clerk(app, client, login, make_member, make_campaign):
    make_member()
    campaign = make_campaign()
    login("clerk")
    token = csrf_token(client, "/staff/me")
    rules = campaign_rules(app)
    assert len(rules) >= 10
    for rule in rules:
        url = url_for_rule(rule, campaign.id)
        if "GET" in rule.methods:
            assert client.get(url).status_code == 403, f"GET {url}"
        if "POST" in rule.methods:
            assert client.post(url, data={"csrf_token": token}).status_code == 403, f"POST {url}"
    assert db_status(campaign) is CampaignStatus.DRAFT
    assert "/campaigns/" not in client.get("/").get_data(as_text=True)   # no menu entry either


def db_status(campaign):
    from mcrm.extensions import db
    db.session.expire_all()
    return db.session.get(Campaign, campaign.id).status


def test_another_merchants_campaign_is_not_found_on_any_route(app, client, login, make_merchant, make_member,
                                                              make_campaign):
    theirs_merchant = make_merchant()
    make_member(merchant=theirs_merchant)
    theirs = make_campaign(merchant=theirs_merchant, name="别家活动", launch=True)
    login("owner")
    token = csrf_token(client, "/staff/me")
    checked = 0
    for rule in campaign_rules(app):
        if "campaign_id" not in rule.arguments:
            continue
        for action in ("pause", "resume", "cancel"):
            url = url_for_rule(rule, theirs.id, action)
            if "GET" in rule.methods:
                assert client.get(url).status_code == 404, f"GET {url}"
            if "POST" in rule.methods:
                assert client.post(url, data={"csrf_token": token}).status_code == 404, f"POST {url}"
            checked += 1
    assert checked >= 8
    assert db_status(theirs) is CampaignStatus.SCHEDULED
    listing = client.get("/campaigns/").get_data(as_text=True)
    assert "别家活动" not in listing


def test_the_preview_needs_the_csrf_token_and_counts_parts_with_signature_hint_and_longest_name(
        client, login, make_member, merchant, db, now):
    login("manager")
    make_member(name="张三")
    make_member(name="欧阳娜娜丽莎")           # the longest name: six characters
    opt_out(make_member(name="李四"), now=now)    # counted out, but not in the total of parts
    db.session.commit()
    body = {"body": "{name}您好", "audience": "all"}
    refused = client.post("/campaigns/preview", data=json.dumps(body), content_type="application/json")
    assert refused.status_code == 400 and b"recipients" not in refused.data
    token = csrf_token(client, "/campaigns/new")
    answer = post_json(client, "/campaigns/preview", body, token).get_json()
    assert (answer["recipients"], answer["opted_out"], answer["audience"]) == (3, 1, "All members")
    assert answer["longest_values"]["name"] == "欧阳娜娜丽莎"
    expected = merchant.signature + "欧阳娜娜丽莎您好" + merchant.unsubscribe_hint
    assert answer["longest_text"] == expected
    assert (answer["chars"], answer["parts"], answer["total_parts"]) == (len(expected), 1, 2)
    # 70 UCS-2 characters fit one SMS; one more makes two parts of at most 67
    filler = "好" * (70 - len(expected))
    one = post_json(client, "/campaigns/preview", {**body, "body": "{name}您好" + filler}, token).get_json()
    two = post_json(client, "/campaigns/preview", {**body, "body": "{name}您好" + filler + "!"},
                    token).get_json()
    assert (one["chars"], one["parts"]) == (70, 1)
    assert (two["chars"], two["parts"], two["total_parts"]) == (71, 2, 4)


def test_the_preview_answers_a_bad_segment_with_its_error(client, login, make_member):
    login("manager")
    make_member()
    token = csrf_token(client, "/campaigns/new")
    bad = post_json(client, "/campaigns/preview",
                    {"body": "hi", "audience": "build", "definition": json.dumps({"type": "tier"})}, token)
    assert bad.status_code == 400 and bad.get_json() == {"error": "Condition tier needs tiers"}
    odd = post_json(client, "/campaigns/preview", {"body": ["x"], "audience": 7, "segment_id": "1; drop",
                                                   "coupon_app_id": True}, token)
    assert odd.status_code in (200, 400)
    for huge in (2 ** 70, -1, 0):           # 2 ** 70 was a 500: SQLite cannot bind it
        for audience in ("segment", "all"):
            asked = {"body": "hi", "audience": audience, "segment_id": huge, "coupon_app_id": huge}
            answer = post_json(client, "/campaigns/preview", asked, token)
            assert answer.status_code in (200, 400), (huge, audience)
    typed = client.post("/campaigns/new", data={"csrf_token": token, "name": "x", "audience": "segment",
                                                "segment_id": str(2 ** 70), "coupon_app_id": str(2 ** 70),
                                                "body": "hi", "schedule": "now"})
    assert typed.status_code == 200 and "Choose a segment" in typed.get_data(as_text=True)


def test_a_manager_composes_for_a_segment_at_a_local_time_and_confirms(client, login, make_member, merchant,
                                                                        now, db):
    from mcrm.segments.services import save_segment
    login("manager")
    gold = [make_member(name=f"金{i}") for i in range(3)]
    make_member(name="普通")
    for member in gold:
        member.tier = "金卡"
    segment = save_segment(merchant.id, name="金卡会员", definition=GOLD, now=now)
    db.session.commit()
    answer = post_json(client, "/campaigns/preview", {"body": "hi", "audience": "segment",
                                                      "segment_id": segment.id},
                       csrf_token(client, "/campaigns/new")).get_json()
    assert (answer["recipients"], answer["audience"]) == (3, "Tier 金卡")
    page = client.get("/campaigns/new").get_data(as_text=True)
    assert "金卡会员" in page and 'data-field="name"' in page and 'data-field="coupon"' in page
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).astimezone(
        ZoneInfo(merchant.timezone)).replace(hour=10, minute=30, second=0, microsecond=0)
    response = client.post("/campaigns/new", data={
        "csrf_token": csrf_token(client, "/campaigns/new"), "name": "金卡专享", "audience": "segment",
        "segment_id": str(segment.id), "body": "{name}您好，金卡专享8折。", "schedule": "at",
        "send_at": tomorrow.strftime("%Y-%m-%dT%H:%M"), "recurrence": "daily", "coupon_app_id": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign = db.session.scalar(sa.select(Campaign))
    assert response.headers["Location"].endswith(f"/campaigns/{campaign.id}/confirm")
    assert campaign.status is CampaignStatus.DRAFT and campaign.segment_id == segment.id
    assert campaign.send_at == tomorrow.astimezone(UTC)            # read in the merchant's zone
    assert campaign.recurrence is Recurrence.ONCE
    confirm = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'data-confirm="recipients">3<', confirm)
    assert re.search(r'data-confirm="total-parts">3<', confirm)
    assert tomorrow.strftime("%Y-%m-%d %H:%M") in confirm and "Schedule: 3 SMS" in confirm

    token = csrf_token(client, "/campaigns/")
    launched = client.post(f"/campaigns/{campaign.id}/launch", data={"csrf_token": token})
    assert launched.status_code == 302 and launched.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    assert db_status(campaign) is CampaignStatus.SCHEDULED
    # launched: the composer sends to its page instead of editing it
    edit = client.get(f"/campaigns/{campaign.id}/edit")
    assert edit.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    listing = client.get("/campaigns/").get_data(as_text=True)
    assert "金卡专享" in listing and "scheduled" in listing


def test_the_composer_refuses_a_missing_segment_or_time_and_keeps_what_was_typed(client, login, make_member,
                                                                                  db):
    login("manager")
    make_member()
    token = csrf_token(client, "/campaigns/new")
    page = client.post("/campaigns/new", data={"csrf_token": token, "name": "没选分组", "audience": "segment",
                                               "body": "周末见", "schedule": "at"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Choose a segment" in text and "Choose the date and time" in text
    assert "没选分组" in text and "周末见" in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_a_recurring_campaign_shows_its_rhythm_in_words(client, login, make_member, merchant, db):
    login("manager")
    make_member()
    token = csrf_token(client, "/campaigns/new")
    response = client.post("/campaigns/new", data={"csrf_token": token, "name": "每周提醒", "audience": "all",
                                                   "body": "本周积分{points}", "schedule": "repeat",
                                                   "send_at": "2030-01-07T09:00", "recurrence": "weekly"})
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign = db.session.scalar(sa.select(Campaign))
    assert campaign.recurrence is Recurrence.WEEKLY
    assert "every Monday at 09:00" in client.get(f"/campaigns/{campaign.id}/confirm").get_data(as_text=True)


def test_the_test_send_goes_to_the_staff_members_own_phone_only(client, login, make_member, make_staff, db):
    make_member(name="张三")
    without = make_staff("manager")
    login(staff=without)
    token = csrf_token(client, "/campaigns/new")
    refused = post_json(client, "/campaigns/test", {"body": "{name}您好"}, token)
    assert refused.status_code == 400 and "mobile number" in refused.get_json()["error"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 0

    client.post("/logout", data={"csrf_token": token})
    login(staff=make_staff("manager", msisdn="13900139001"))
    token = csrf_token(client, "/campaigns/new")
    assert "139****9001" in client.get("/campaigns/new").get_data(as_text=True)
    sent = post_json(client, "/campaigns/test", {"body": "{name}您好", "msisdn": "13800138000"}, token)
    assert sent.status_code == 200 and "139****9001" in sent.get_json()["message"]
    (message,) = db.session.scalars(sa.select(OutboundMessage)).all()
    assert message.msisdn == "+8613900139001"   # never a number the browser names


def test_pause_resume_and_cancel_need_the_csrf_token_and_show_the_right_controls(client, login, make_member,
                                                                                 make_campaign):
    make_member()
    campaign = make_campaign(launch=True)
    login("manager")
    assert client.post(f"/campaigns/{campaign.id}/pause").status_code == 400
    assert db_status(campaign) is CampaignStatus.SCHEDULED
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.findall(r'data-action="(\w+)"', page) == ["pause", "cancel", "copy"]
    assert "data-progress-url" in page
    token = csrf_token(client, f"/campaigns/{campaign.id}")
    client.post(f"/campaigns/{campaign.id}/pause", data={"csrf_token": token})
    assert db_status(campaign) is CampaignStatus.PAUSED
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.findall(r'data-action="(\w+)"', page) == ["resume", "cancel", "copy"]
    client.post(f"/campaigns/{campaign.id}/resume", data={"csrf_token": token})
    assert db_status(campaign) is CampaignStatus.SCHEDULED
    client.post(f"/campaigns/{campaign.id}/cancel", data={"csrf_token": token})
    assert db_status(campaign) is CampaignStatus.CANCELLED
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.findall(r'data-action="(\w+)"', page) == ["copy"]          # over: only a copy, no polling
    assert "data-progress-url" not in page
    again = client.post(f"/campaigns/{campaign.id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200 and 'class="flash error"' in again.get_data(as_text=True)


def test_progress_and_report_count_what_the_dispatch_queued_and_the_gateway_delivered(
        client, login, make_member, make_campaign, merchant, db, now):
    members = [make_member(name=f"会员{i}") for i in range(4)]
    opt_out(make_member(name="退订者"), now=now)
    campaign = make_campaign(launch=True)
    services.dispatch_due(now=now + timedelta(minutes=1), merchant_id=merchant.id)
    db.session.commit()
    first = db.session.scalars(sa.select(OutboundMessage).order_by(OutboundMessage.id)
                               .where(OutboundMessage.status == MessageStatus.QUEUED)).first()
    first.status = MessageStatus.DELIVERED
    db.session.commit()
    login("manager")
    answer = client.get(f"/campaigns/{campaign.id}/progress").get_json()
    assert answer["targeted"] == len(members) + 1 and answer["delivered"] == 1
    assert answer["status"] in ("sending", "scheduled", "done") and set(answer) >= {
        "queued", "submitted", "failed", "suppressed", "suppressed_by_reason", "replies", "live"}
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-figure="delivered" data-value="1"' in page


def test_a_finished_campaign_is_copied_into_a_new_draft_with_its_text_and_audience(client, login, make_member,
                                                                                  make_campaign, db):
    make_member().tier = "金卡"
    db.session.commit()
    old = make_campaign(body="{name}您好，老活动再来一次", segment=GOLD, launch=True)
    login("manager")
    token = csrf_token(client, f"/campaigns/{old.id}")
    client.post(f"/campaigns/{old.id}/cancel", data={"csrf_token": token})
    response = client.post(f"/campaigns/{old.id}/copy", data={"csrf_token": token})
    draft = db.session.scalars(sa.select(Campaign).order_by(Campaign.id.desc())).first()
    assert response.headers["Location"].endswith(f"/campaigns/{draft.id}/edit") and draft.id != old.id
    assert (draft.status, draft.body, draft.segment_definition) == (CampaignStatus.DRAFT, old.body,
                                                                    old.segment_definition)
    page = client.get(f"/campaigns/{draft.id}/edit").get_data(as_text=True)
    assert "老活动再来一次" in page
    assert re.search(r'<input checked[^>]* name="audience" [^>]*value="build"', page)


def test_a_short_coupon_pool_shows_in_the_composer_and_the_confirmation_refuses_to_send(
        client, login, make_member, merchant, db):
    from mcrm.keywords.apps.custom import add_pool_codes
    from mcrm.keywords.services import create_keyword_app, set_app_config
    app = create_keyword_app(merchant, kind="coupon", name="八折券")
    set_app_config(app, source="pool", valid_days=7)
    add_pool_codes(app, ["AAA1", "AAA2"])
    for _ in range(3):
        make_member()
    login("manager")
    assert "八折券" in client.get("/campaigns/new").get_data(as_text=True)
    token = csrf_token(client, "/campaigns/new")
    answer = post_json(client, "/campaigns/preview", {"body": "券码{coupon}", "audience": "all",
                                                      "coupon_app_id": app.id}, token).get_json()
    assert answer["coupons_available"] == 2
    assert answer["problems"] == ["The coupon app has 2 codes left for 3 recipients: add codes first"]
    response = client.post("/campaigns/new", data={"csrf_token": token, "name": "发券", "audience": "all",
                                                   "body": "券码{coupon}", "schedule": "now",
                                                   "coupon_app_id": str(app.id)})
    campaign = db.session.scalar(sa.select(Campaign))
    confirm = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 codes left for 3 recipients" in confirm
    assert re.search(r'<button type="submit" class="primary" disabled>', confirm)
    refused = client.post(f"/campaigns/{campaign.id}/launch", data={"csrf_token": token},
                          follow_redirects=True)
    assert "2 codes left for 3 recipients" in refused.get_data(as_text=True)
    assert db_status(campaign) is CampaignStatus.DRAFT


def test_editing_a_draft_shows_what_it_holds_and_replaces_its_audience(client, login, make_member, merchant,
                                                                       make_campaign, db, now):
    from mcrm.segments.services import save_segment
    make_member().tier = "金卡"
    segment = save_segment(merchant.id, name="金卡会员", definition=GOLD, now=now)
    db.session.commit()
    draft = make_campaign(name="草稿", segment_id=segment.id, send_at=datetime(2030, 5, 1, 2, 0, tzinfo=UTC))
    login("manager")
    page = client.get(f"/campaigns/{draft.id}/edit").get_data(as_text=True)
    assert re.search(r'<input checked[^>]* name="audience" [^>]*value="segment"', page)
    assert re.search(r'<input checked[^>]* name="schedule" [^>]*value="at"', page)
    assert 'value="2030-05-01T10:00"' in page        # 02:00 UTC in Shanghai, as the picker reads it
    response = client.post(f"/campaigns/{draft.id}/edit", data={
        "csrf_token": csrf_token(client, "/campaigns/new"), "name": "草稿", "audience": "all",
        "segment_id": str(segment.id), "body": "大家好", "schedule": "now"})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    draft = db.session.get(Campaign, draft.id)
    assert (draft.segment_id, draft.segment_definition.get("items"), draft.send_at, draft.body) == (
        None, [], None, "大家好")


def test_a_segments_send_link_opens_the_composer_with_that_segment_chosen(
        client, login, merchant, make_merchant, db, now):
    from mcrm.segments.services import save_segment
    mine = save_segment(merchant.id, name="金卡会员", definition=GOLD, now=now)
    theirs = save_segment(make_merchant().id, name="别家分组", definition=GOLD, now=now)
    db.session.commit()
    login("manager")
    assert f'href="/campaigns/new?segment={mine.id}"' in client.get("/segments/").get_data(as_text=True)
    page = client.get(f"/campaigns/new?segment={mine.id}").get_data(as_text=True)
    assert re.search(r'<input checked[^>]* name="audience" [^>]*value="segment"', page)
    assert re.search(rf'<option selected value="{mine.id}">金卡会员</option>', page)
    other = client.get(f"/campaigns/new?segment={theirs.id}").get_data(as_text=True)
    assert "别家分组" not in other and f'value="{theirs.id}"' not in other
    assert re.search(r'<input checked[^>]* name="audience" [^>]*value="all"', other)


def test_a_recurring_campaign_shows_its_rhythm_and_lists_each_send(client, login, make_member, make_campaign, db,
                                                                   now):
    make_member()
    campaign = make_campaign(recurrence="daily", send_at=now + timedelta(hours=1), launch=True)   # 13:00 local
    for day in range(2):
        services.dispatch_due(now=now + timedelta(days=day, hours=1, minutes=1))
        db.session.execute(sa.update(OutboundMessage).values(status=MessageStatus.DELIVERED))
        db.session.commit()
        services.dispatch_due(now=now + timedelta(days=day, hours=1, minutes=2))   # the run is over
    login("manager")
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "every day at 13:00" in page and "next: 2026-11-22 13:00" in page
    runs = re.findall(r'<tr><td data-label="When">([^<]+)</td>', page)
    assert runs == ["2026-11-21 13:00", "2026-11-20 13:00"]              # newest first
    assert 'data-figure="delivered" data-value="2"' in page
