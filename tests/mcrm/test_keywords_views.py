"""The keyword console: built-in keywords and replies, and the wizard end to end through the test client."""
import io
import re

import sqlalchemy as sa

from mcrm.core.clock import now_utc
from mcrm.keywords.models import KeywordApp
from tests.conftest import csrf_token
from tests.mcrm.keywords_support import phone, switched_on_app  # noqa: F401
from datetime import UTC


def post(client, url, data, *, token_from=None, **kwargs):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, token_from or url)}, **kwargs)


def test_the_keyword_page_needs_a_manager(client, login):
    login("clerk")
    assert client.get("/keywords/").status_code == 403


def test_built_in_keywords_are_edited_on_the_keyword_page(client, login, merchant, db, phone):
    login("manager")
    page = client.get("/keywords/").get_data(as_text=True)
    assert "ZC 注册 JOIN" in page
    response = post(client, "/keywords/builtin/join", {"keywords": "HY，会员 JOIN"}, token_from="/keywords/")
    assert response.status_code == 302
    db.session.refresh(merchant)
    phone.text("会员 张三")
    from mcrm.members.services import find_member_by_msisdn
    assert find_member_by_msisdn(merchant, "+8613900139000").name == "张三"


def test_a_keyword_clash_is_refused_with_a_clear_message(client, login, merchant, db):
    login("manager")
    response = post(client, "/keywords/builtin/join", {"keywords": "JF"}, token_from="/keywords/",
                    follow_redirects=True)
    assert "Keyword JF is already used by the built-in Points balance" in response.get_data(as_text=True)
    db.session.refresh(merchant)
    assert "keywords" not in (merchant.texts or {})


def test_a_reply_template_error_shows_in_the_preview_and_is_not_saved(client, login, merchant, db):
    login("manager")
    response = post(client, "/keywords/replies", {"reply_id": "points", "template": "积分{balanse}",
                                                  "action": "save"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "{balanse}" in page and "{points}" in page
    db.session.refresh(merchant)
    assert not (merchant.texts or {}).get("replies")


def test_a_reply_preview_fills_sample_values_without_saving(client, login, merchant, db):
    login("manager")
    response = post(client, "/keywords/replies", {"reply_id": "points", "template": "{name}有{points}分",
                                                  "action": "preview"})
    assert "张三有1280分" in response.get_data(as_text=True)
    db.session.refresh(merchant)
    assert not (merchant.texts or {}).get("replies")
    post(client, "/keywords/replies", {"reply_id": "points", "template": "{name}有{points}分", "action": "save"})
    db.session.refresh(merchant)
    assert merchant.texts["replies"]["points"] == "{name}有{points}分"


def test_the_wizard_makes_a_vote_that_answers_texts(client, login, db, phone):
    login("manager")
    response = post(client, "/keywords/apps/new", {"kind": "vote", "name": "新菜投票"})
    app = db.session.scalar(sa.select(KeywordApp))
    assert response.headers["Location"].endswith(f"/keywords/apps/{app.id}/keywords")
    assert post(client, f"/keywords/apps/{app.id}/keywords", {"keywords": "TP, 投票"}).status_code == 302
    assert post(client, f"/keywords/apps/{app.id}/replies", {"voted": "已投：{option}"}).status_code == 302
    assert post(client, f"/keywords/apps/{app.id}/settings",
                {"options": "1 红烧肉\n2 糖醋鱼", "per_number_limit": ""}).status_code == 302
    page = post(client, f"/keywords/apps/{app.id}/try", {"text": "TP 2", "msisdn": "13800138000"})
    assert "已投：糖醋鱼" in page.get_data(as_text=True)
    assert phone.text("TP 2") != ["已投：糖醋鱼"]  # still paused
    post(client, f"/keywords/apps/{app.id}/status", {"status": "active"}, token_from=f"/keywords/apps/{app.id}")
    assert phone.text("投票 1") == ["已投：红烧肉"]
    page = client.get(f"/keywords/apps/{app.id}").get_data(as_text=True)
    assert "红烧肉" in page and ">1<" in page


def test_the_wizard_refuses_a_taken_keyword_on_its_step(client, login, db):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "autoreply", "name": "a"})
    app = db.session.scalar(sa.select(KeywordApp))
    response = post(client, f"/keywords/apps/{app.id}/keywords", {"keywords": "HD TD"})
    assert response.status_code == 400
    assert "Keyword TD is already used by the built-in Stop marketing" in response.get_data(as_text=True)


def test_the_wizard_uploads_an_info_table(client, login, db, phone):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "info", "name": "订单查询"})
    app = db.session.scalar(sa.select(KeywordApp))
    post(client, f"/keywords/apps/{app.id}/keywords", {"keywords": "CX"})
    post(client, f"/keywords/apps/{app.id}/replies", {"found": "{订单号}：{状态}"})
    data = {"table": (io.BytesIO("订单号,状态\nA100,制作中\n".encode()), "orders.csv"), "per_number_limit": ""}
    response = post(client, f"/keywords/apps/{app.id}/settings", data, content_type="multipart/form-data")
    assert response.status_code == 302
    post(client, f"/keywords/apps/{app.id}/status", {"status": "active"}, token_from=f"/keywords/apps/{app.id}")
    assert phone.text("CX A100") == ["A100：制作中"]


def test_another_merchants_app_is_a_404(client, login, make_merchant, db):
    from mcrm.keywords.services import create_keyword_app
    other = create_keyword_app(make_merchant(), kind="autoreply", name="theirs")
    db.session.commit()
    login("manager")
    assert client.get(f"/keywords/apps/{other.id}").status_code == 404
    assert client.get(f"/keywords/apps/{other.id}/keywords").status_code == 404


def _coupon_app(merchant, db, **config):
    return switched_on_app(merchant, "coupon", "满100减20", ["QUAN"], source="generated", **config)


def test_the_dashboard_offers_the_coupon_look_up_only_to_a_merchant_with_coupons(client, login, merchant, db):
    login("clerk")
    assert "Redeem a coupon" not in client.get("/").get_data(as_text=True)
    _coupon_app(merchant, db)
    assert 'action="/keywords/coupons"' in client.get("/").get_data(as_text=True)


def test_a_clerk_looks_a_coupon_up_then_marks_it_redeemed_once(client, login, merchant, db, phone):
    from mcrm.keywords.models import CouponCode
    from mcrm.members.services import enrol_member
    holder = enrol_member(merchant, msisdn="+8613900139000", now=now_utc(), name="张三")
    _coupon_app(merchant, db)
    sms = phone.text("QUAN", now=now_utc())[0]         # the counter redeems by the real clock
    code = db.session.scalar(sa.select(CouponCode.code))
    valid_through = re.search(r"有效期至(\d{4}-\d{2}-\d{2})", sms).group(1)
    login("clerk")
    page = client.get("/keywords/coupons", query_string={"code": code.lower()}).get_data(as_text=True)
    assert "满100减20" in page and "+86139****9000" in page and "Mark redeemed" in page
    assert re.findall(r'class="badge[^"]*">([^<]+)<', page[page.index('id="coupon"'):]) == ["Valid"]
    assert f"<dt>Valid through</dt><dd>{valid_through}</dd>" in page  # the date the SMS names
    assert f'href="/members/{holder.id}">张三</a>' in page
    response = post(client, "/keywords/coupons/redeem", {"code": code}, token_from="/keywords/coupons")
    assert response.status_code == 302 and response.location.endswith(f"/keywords/coupons?code={code}")
    page = client.get(response.location).get_data(as_text=True)
    assert f"Coupon {code} redeemed." in page and "Mark redeemed" not in page
    # one verdict: redeemed, with no alert saying it cannot be (it just was) and no "Valid"
    verdict = page[page.index('id="coupon"'):]
    assert re.findall(r'class="badge[^"]*">([^<]+)<', verdict) == ["Redeemed"]
    assert 'role="alert"' not in verdict and "already redeemed" not in page
    assert db.session.scalar(sa.select(CouponCode.redeemed_by)).startswith("clerk")
    # the second try says why, keeps the code typed, and changes nothing
    again = post(client, "/keywords/coupons/redeem", {"code": code}, token_from="/keywords/coupons")
    page = again.get_data(as_text=True)
    assert again.status_code == 400 and f"Coupon {code} was already redeemed" in page
    assert f'value="{code}"' in page


def test_a_coupon_look_up_says_why_a_code_cannot_be_redeemed(client, login, merchant, make_merchant, db, phone, now):
    from datetime import timedelta
    from mcrm.keywords.models import CouponCode
    _coupon_app(merchant, db)
    phone.text("QUAN")
    coupon = db.session.scalar(sa.select(CouponCode))
    coupon.expires_at = now - timedelta(minutes=1)
    theirs = _coupon_app(make_merchant(), db)
    db.session.add(CouponCode(merchant_id=theirs.merchant_id, app_id=theirs.id, code="THEIRS01",
                              msisdn="+8613900139000", issued_at=now))
    db.session.commit()
    login("clerk")
    page = client.get("/keywords/coupons", query_string={"code": coupon.code}).get_data(as_text=True)
    verdict = page[page.index('id="coupon"'):]
    assert re.findall(r'class="badge[^"]*">([^<]+)<', verdict) == ["Expired"] and "Mark redeemed" not in page
    page = client.get("/keywords/coupons", query_string={"code": "ｔｈｅｉｒｓ01"}).get_data(as_text=True)
    assert "No issued coupon THEIRS01" in page and "Mark redeemed" not in page
    refused = post(client, "/keywords/coupons/redeem", {"code": "THEIRS01"}, token_from="/keywords/coupons")
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(CouponCode.redeemed_at).where(CouponCode.code == "THEIRS01")) is None


def test_cancelling_a_sign_up_moves_the_waiting_list_up_in_order_and_texts_them(client, login, merchant, db, phone):
    from datetime import datetime
    from mcrm.keywords import services
    from mcrm.keywords.models import EventSignup
    from mcrm.messaging.models import OutboundMessage
    app = services.create_keyword_app(merchant, kind="event", name="品鉴会")
    services.set_app_keywords(app, merchant, ["BM"])
    services.set_app_config(app, capacity=2, event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    services.activate_keyword_app(app)
    db.session.commit()
    phone.text("BM 2")                                    # confirmed, 2 seats
    phone.text("BM 2", msisdn="+8613900139001")           # waiting first, 2 seats
    phone.text("BM", msisdn="+8613900139002")             # waiting second, 1 seat
    first = db.session.scalar(sa.select(EventSignup).order_by(EventSignup.id))
    login("manager")
    page = client.get(f"/keywords/apps/{app.id}").get_data(as_text=True)
    assert "品鉴会" in page and "2 / 2" in page and "Event starts at 2026-12-01 19:00" in page
    post(client, f"/keywords/apps/{app.id}/signups/{first.id}/cancel", {}, token_from=f"/keywords/apps/{app.id}")
    statuses = db.session.execute(sa.select(EventSignup.msisdn, EventSignup.status).order_by(EventSignup.id)).all()
    assert statuses == [("+8613900139001", "confirmed"), ("+8613900139002", "waiting")]
    text = db.session.scalar(sa.select(OutboundMessage.body).where(
        OutboundMessage.idempotency_key.like("event-promoted:%")))
    assert "有空位" in text and "2位" in text


def test_what_unknown_texts_get_and_how_often_is_set_on_the_keyword_page(client, login, merchant, db, phone):
    login("manager")
    page = client.get("/keywords/").get_data(as_text=True)
    assert 'name="per_hour" value="3"' in page
    response = post(client, "/keywords/unknown", {"action": "nothing", "per_hour": "99"}, token_from="/keywords/")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "a whole number from 1 to 60" in page
    assert 'name="per_hour" value="99"' in page and '<option value="nothing" selected>' in page  # as typed
    db.session.refresh(merchant)
    assert "unknown_per_hour" not in (merchant.texts or {})
    post(client, "/keywords/unknown", {"action": "help", "per_hour": "1"}, token_from="/keywords/")
    db.session.refresh(merchant)
    assert [len(phone.text("在吗")) for _ in range(2)] == [1, 0]
    assert 'name="per_hour" value="1"' in client.get("/keywords/").get_data(as_text=True)


def test_an_info_app_keeps_its_table_when_only_its_limits_change(client, login, db, phone):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "info", "name": "订单查询"})
    app = db.session.scalar(sa.select(KeywordApp))
    post(client, f"/keywords/apps/{app.id}/keywords", {"keywords": "CX"})
    assert 'name="table" required' in client.get(f"/keywords/apps/{app.id}/settings").get_data(as_text=True)
    data = {"table": (io.BytesIO("订单号,状态\nA100,制作中\n".encode()), "orders.csv"), "per_number_limit": ""}
    post(client, f"/keywords/apps/{app.id}/settings", data, content_type="multipart/form-data")
    page = client.get(f"/keywords/apps/{app.id}/settings").get_data(as_text=True)
    assert 'name="table" required' not in page and "Empty: keep the current table" in page
    response = post(client, f"/keywords/apps/{app.id}/settings", {"per_number_limit": "2"},
                    content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.refresh(app)
    assert app.per_number_limit == 2 and app.config["rows"] == 1
    page = client.get(f"/keywords/apps/{app.id}").get_data(as_text=True)
    assert "Current table: 1 rows, columns 订单号, 状态" in page and "Uses per phone number 2" in page
    post(client, f"/keywords/apps/{app.id}/status", {"status": "active"}, token_from=f"/keywords/apps/{app.id}")
    assert phone.text("CX A100") == ["A100：订单号:A100 状态:制作中"]


def test_a_wrong_placeholder_in_the_wizard_is_explained_under_its_box_and_the_typed_text_kept(client, login, db):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "autoreply", "name": "周末特惠"})
    app = db.session.scalar(sa.select(KeywordApp))
    response = post(client, f"/keywords/apps/{app.id}/replies", {"reply": "您好{nmae}"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "您好{nmae}</textarea>" in page
    assert '<div class="error">Unknown placeholder {nmae}' in page and ">reply: " not in page


def test_an_apps_page_asks_before_cancelling_a_sign_up_or_redeeming_and_links_back(client, login, merchant, db,
                                                                                     phone):
    from datetime import datetime
    from mcrm.keywords import services
    event = services.create_keyword_app(merchant, kind="event", name="品鉴会")
    services.set_app_keywords(event, merchant, ["BM"])
    services.set_app_config(event, capacity=2, event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    services.activate_keyword_app(event)
    coupon = services.create_keyword_app(merchant, kind="coupon", name="券")
    services.set_app_keywords(coupon, merchant, ["QUAN"])
    services.set_app_config(coupon, source="generated")
    services.activate_keyword_app(coupon)
    db.session.commit()
    phone.text("BM")
    phone.text("QUAN")
    login("manager")
    page = client.get(f"/keywords/apps/{event.id}").get_data(as_text=True)
    assert 'href="/keywords/">← Keywords</a>' in page
    assert 'data-confirm="Cancel the sign-up of +8613900139000?' in page and "Cancel sign-up</button>" in page
    page = client.get(f"/keywords/apps/{coupon.id}").get_data(as_text=True)
    # mark redeemed and end the app
    assert page.count('onsubmit="return confirm(this.dataset.confirm)"') == 2 and "This cannot be undone." in page


def test_a_reply_preview_shows_the_sms_as_sent_with_signature_and_its_length(client, login, merchant, db):
    login("manager")
    page = post(client, "/keywords/replies", {"reply_id": "points", "template": "{name}有{points}分",
                                              "action": "preview"}).get_data(as_text=True)
    text = f"{merchant.signature}张三有1280分"
    assert f"{text}\n" in page and f"({len(text)} characters, 1 SMS)" in page
    page = post(client, "/keywords/replies", {"reply_id": "points", "template": "积分" * 40,
                                              "action": "preview"}).get_data(as_text=True)
    assert "characters, 2 SMS)" in page


def test_a_typo_in_an_apps_name_is_fixed_on_the_first_step_of_the_wizard(client, login, db):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "vote", "name": "新菜头票"})
    app = db.session.scalar(sa.select(KeywordApp))
    page = client.get(f"/keywords/apps/{app.id}/keywords").get_data(as_text=True)
    assert f'href="/keywords/apps/{app.id}/name">1. Type and name</a>' in page
    response = post(client, f"/keywords/apps/{app.id}/name", {"name": " "})
    assert response.status_code == 400 and "This field is required." in response.get_data(as_text=True)
    response = post(client, f"/keywords/apps/{app.id}/name", {"name": "新菜投票"})
    assert response.headers["Location"].endswith(f"/keywords/apps/{app.id}/keywords")
    db.session.refresh(app)
    assert app.name == "新菜投票" and app.kind == "vote"


def test_the_test_panel_of_an_app_with_extension_digits_tries_texts_sent_to_them(client, login, merchant, db):
    from mcrm.keywords import services
    app = services.create_keyword_app(merchant, kind="autoreply", name="外卖")
    services.set_app_keywords(app, merchant, ["WM"])
    services.set_app_replies(app, {"reply": "外卖电话 88886666"})
    services.set_app_limits(app, merchant, per_number_limit=None, starts_at=None, ends_at=None, extension="88")
    db.session.commit()
    login("manager")
    page = client.get(f"/keywords/apps/{app.id}/try").get_data(as_text=True)
    assert 'name="extension" type="text" value="88"' in page
    page = post(client, f"/keywords/apps/{app.id}/try", {"text": "你好", "msisdn": "13800138000",
                                                          "extension": "88"}).get_data(as_text=True)
    assert "外卖电话 88886666" in page
    page = post(client, f"/keywords/apps/{app.id}/try", {"text": "你好", "msisdn": "13800138000",
                                                          "extension": "8x"}).get_data(as_text=True)
    assert "外卖电话" not in page and 'class="field has-error"' in page


def test_the_test_panel_of_an_app_without_extension_digits_asks_only_for_the_text_and_number(client, login, db):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "autoreply", "name": "a"})
    app = db.session.scalar(sa.select(KeywordApp))
    assert 'name="extension"' not in client.get(f"/keywords/apps/{app.id}/try").get_data(as_text=True)


def test_the_keyword_page_offers_coupon_redeeming_only_once_there_is_a_coupon_app(client, login, merchant, db):
    from mcrm.keywords import services
    login("manager")
    page = client.get("/keywords/").get_data(as_text=True)
    assert "Redeem a coupon" not in page
    services.create_keyword_app(merchant, kind="coupon", name="券")
    db.session.commit()
    page = client.get("/keywords/").get_data(as_text=True)
    assert "Redeem a coupon" in page and "<th>App name</th>" in page


def test_refused_built_in_keywords_stay_in_their_box_as_typed(client, login, merchant, db):
    login("manager")
    response = post(client, "/keywords/builtin/join", {"keywords": "ZC 注册 JOIN JF"}, token_from="/keywords/")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "already used by the built-in Points balance" in page
    assert 'value="ZC 注册 JOIN JF" aria-label="Join" aria-invalid="true"' in page
    assert 'value="JF 积分 POINTS"' in page                 # the other rows as saved


def test_the_reply_texts_page_starts_with_a_list_that_jumps_to_each_text(client, login):
    from mcrm.keywords import texts
    login("manager")
    page = client.get("/keywords/replies").get_data(as_text=True)
    assert all(f'<a href="#{reply_id}">' in page and f'id="{reply_id}"' in page for reply_id in texts.DEFAULT_REPLIES)


def test_a_coupon_from_an_empty_code_pool_is_saved_with_a_warning(client, login, db):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "coupon", "name": "券"})
    app = db.session.scalar(sa.select(KeywordApp))
    settings = {"source": "pool", "valid_days": "30", "per_number_limit": "1"}
    response = post(client, f"/keywords/apps/{app.id}/settings", settings, follow_redirects=True)
    assert "The code pool is empty" in response.get_data(as_text=True)
    response = post(client, f"/keywords/apps/{app.id}/settings", {**settings, "pool": "AB1234\nCD5678"},
                    follow_redirects=True)
    assert response.request.path.endswith("/try") and "The code pool is empty" not in response.get_data(as_text=True)


def _records(client, app_id, **query):
    response = client.get(f"/keywords/apps/{app_id}/records.csv", query_string=query)
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment;")
    return response


def test_an_events_page_and_its_download_are_the_door_list_with_names(client, login, merchant, db, phone, now):
    import csv
    from datetime import timedelta
    from mcrm.members.services import enrol_member
    enrol_member(merchant, msisdn="+8613900139000", now=now, name="=HYPERLINK(1)")  # typed into the console
    enrol_member(merchant, msisdn="+8613900139001", now=now, name="李四")
    event = switched_on_app(merchant, "event", "品鉴会", ["BM"], capacity=2, event_at=now + timedelta(days=3))
    phone.text("BM 2")
    phone.text("BM", msisdn="+8613900139001")
    phone.text("BM", msisdn="+8613900139002")           # no member: a number, no name
    login("owner")
    page = client.get(f"/keywords/apps/{event.id}").get_data(as_text=True)
    assert "李四" in page and "+8613900139002" in page and "waiting list" in page

    lines = list(csv.reader(_records(client, event.id).get_data(as_text=True).lstrip("\ufeff").splitlines()))
    assert lines == [["Phone", "Name", "Seats", "Status", "Signed up", "Reminded"],
                     ["+8613900139000", "'=HYPERLINK(1)", "2", "confirmed", "2026-11-20 12:00", ""],
                     ["+8613900139001", "李四", "1", "waiting list", "2026-11-20 12:00", ""],
                     ["+8613900139002", "", "1", "waiting list", "2026-11-20 12:00", ""]]
    gbk = _records(client, event.id, encoding="gb18030")
    assert "李四" in gbk.get_data().decode("gb18030") and "charset=gb18030" in gbk.headers["Content-Type"]
    assert client.get(f"/keywords/apps/{event.id}/records.csv?encoding=latin-1").status_code == 400


def test_a_downloads_lines_follow_the_apps_kind(client, login, merchant, make_merchant, db, phone):
    from mcrm.keywords import services
    vote = services.create_keyword_app(merchant, kind="vote", name="新菜")
    services.set_app_keywords(vote, merchant, ["TP"])
    services.set_app_config(vote, options=[["1", "红烧肉"], ["2", "糖醋鱼"]])
    services.activate_keyword_app(vote)
    coupon = _coupon_app(merchant, db)
    reply = services.create_keyword_app(merchant, kind="autoreply", name="地址")
    services.set_app_keywords(reply, merchant, ["DZ"])
    services.set_app_replies(reply, {"reply": "本店地址：人民路1号"})
    services.activate_keyword_app(reply)
    theirs = services.create_keyword_app(make_merchant(), kind="autoreply", name="别家")
    db.session.commit()
    for text in ("TP 2", "QUAN", "DZ", "DZ"):
        phone.text(text)
    login("owner")
    vote_lines = _records(client, vote.id).get_data(as_text=True).splitlines()
    assert vote_lines[1:] == ["+8613900139000,,2. 糖醋鱼,2026-11-20 12:00"]
    coupon_lines = _records(client, coupon.id).get_data(as_text=True).splitlines()
    assert coupon_lines[0].endswith("Code,Issued,Valid through,Redeemed,Redeemed by") and len(coupon_lines) == 2
    assert coupon_lines[1].split(",")[4] == "2026-12-20"  # the date its SMS named: 30 days from 20 November
    assert _records(client, reply.id).get_data(as_text=True).splitlines()[1:] == ["+8613900139000,,2026-11-20 12:00"] * 2
    assert client.get(f"/keywords/apps/{theirs.id}/records.csv").status_code == 404


def test_a_manager_ends_an_app_in_the_console_and_can_no_longer_change_it(client, login, merchant, db, phone):
    app = switched_on_app(merchant, "autoreply", "双十一", ["SSY"])
    phone.text("SSY")
    login("manager")
    page = client.get(f"/keywords/apps/{app.id}").get_data(as_text=True)
    assert "End app</button>" in page and "Delete</button>" not in page     # it answered a text
    response = post(client, f"/keywords/apps/{app.id}/end", {}, token_from=f"/keywords/apps/{app.id}")
    page = client.get(response.location).get_data(as_text=True)
    assert "The app has ended" in page and "Its keywords SSY are free for other apps" in page
    assert "Switch on</button>" not in page and "End app</button>" not in page
    assert "<s class=\"muted\">SSY</s>" in client.get("/keywords/").get_data(as_text=True)
    wizard = client.get(f"/keywords/apps/{app.id}/keywords")
    assert wizard.status_code == 302 and wizard.location.endswith(f"/keywords/apps/{app.id}")
    refused = post(client, f"/keywords/apps/{app.id}/status", {"status": "active"},
                   token_from=f"/keywords/apps/{app.id}", follow_redirects=True)
    assert "This app has ended and can no longer be changed." in refused.get_data(as_text=True)
    db.session.refresh(app)
    assert app.status == "ended"


def test_a_draft_app_is_deleted_after_the_manager_confirms(client, login, merchant, db):
    from mcrm.keywords import services
    app = services.create_keyword_app(merchant, kind="vote", name="草稿")
    db.session.commit()
    login("manager")
    page = client.get(f"/keywords/apps/{app.id}").get_data(as_text=True)
    assert 'data-confirm="Delete 草稿? It has answered no text yet; this cannot be undone."' in page
    response = post(client, f"/keywords/apps/{app.id}/delete", {}, token_from=f"/keywords/apps/{app.id}",
                    follow_redirects=True)
    assert "App 草稿 deleted." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KeywordApp)) == 0


def test_a_reply_text_over_five_sms_is_refused_on_the_form_and_the_limit_counted_live(client, login, merchant, db):
    """An 18,000-character reply was saved, and every text it answered failed (over 255 parts)."""
    from mcrm.messaging.texts import MAX_TEXT_CHARS, MAX_TEXT_PARTS
    login("manager")
    room = MAX_TEXT_CHARS - len(merchant.signature)  # 5 UCS-2 parts with the signature: 335 characters
    response = post(client, "/keywords/replies", {"reply_id": "stop", "template": "长" * (room + 1),
                                                  "action": "save"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "With the signature this text is 6 SMS long; a text may take at most 5 SMS (335 Chinese characters)" in page
    assert not (merchant.texts or {}).get("replies")
    response = post(client, "/keywords/replies", {"reply_id": "stop", "template": "长" * room, "action": "save"})
    assert response.status_code == 302
    db.session.refresh(merchant)
    assert merchant.texts["replies"]["stop"] == "长" * room
    page = client.get("/keywords/replies").get_data(as_text=True)
    assert f'data-sms-signature="{merchant.signature}" data-sms-most="{MAX_TEXT_PARTS}"' in page
    script = client.get("/static/sms-counter.js")
    script.close()
    assert "sms-counter.js" in page and script.status_code == 200


def test_an_apps_reply_over_five_sms_is_refused_under_its_box(client, login, db):
    login("manager")
    post(client, "/keywords/apps/new", {"kind": "autoreply", "name": "周末特惠"})
    app = db.session.scalar(sa.select(KeywordApp))
    response = post(client, f"/keywords/apps/{app.id}/replies", {"reply": "Hi " * 300})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and '<div class="error">With the signature this text is 14 SMS long' in page
    assert 'data-sms-most="5"' in client.get(f"/keywords/apps/{app.id}/replies").get_data(as_text=True)
    assert db.session.scalar(sa.select(KeywordApp.replies)) == {}
