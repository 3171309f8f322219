"""Console: message log, one message, daily figures and the phone simulator; scoped to the merchant."""
import re
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from mcrm import create_app
from mcrm.messaging.models import InboundMessage, InboundStatus, MessageStatus
from mcrm.messaging.services import enqueue_sms
from mcrm.messaging.store import SqlMessageStore
from sms_gateway import DeliveryReceipt, PartResult
from tests.conftest import csrf_token


def send(db, merchant, now, msisdn="13800138000", body="您好", kind="transactional", **kw):
    """Queue one MT; returns (id, status) and ends the test's transaction: on SQLite every
    transaction holds the write lock, and the store writes from its own connection."""
    message = enqueue_sms(merchant, msisdn=msisdn, body=body, kind=kind, now=now, **kw)
    db.session.commit()
    snapshot = SimpleNamespace(id=message.id, status=message.status)
    db.session.rollback()
    return snapshot


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_the_console_needs_a_manager(client, login):
    login("clerk")
    for url in ("/messages/", "/messages/daily", "/messages/simulator"):
        assert client.get(url).status_code == 403


def test_the_log_lists_this_merchants_messages_only_newest_first(client, db, login, merchant, make_merchant, now):
    login("manager")
    first = send(db, merchant, now, body="第一条")
    second = send(db, merchant, now, msisdn="13800138001", body="第二条")
    other = send(db, make_merchant(), now, body="别家的")
    html = page(client, "/messages/")
    assert html.index(f'data-message="{second.id}"') < html.index(f'data-message="{first.id}"')
    assert f'data-message="{other.id}"' not in html and "别家的" not in html


def test_the_log_filters_by_status_kind_number_and_day(client, db, login, merchant, make_member, now):
    login("manager")
    make_member(msisdn="13800138009", opted_out=True)
    suppressed = send(db, merchant, now, msisdn="13800138009", kind="marketing")
    queued = send(db, merchant, now, msisdn="13800138001")
    yesterday = send(db, merchant, now - timedelta(days=1), msisdn="13800138002")
    html = page(client, "/messages/?status=suppressed")
    assert f'data-message="{suppressed.id}"' in html and f'data-message="{queued.id}"' not in html
    assert "opted out" in html
    html = page(client, "/messages/?kind=transactional")
    assert f'data-message="{suppressed.id}"' not in html and f'data-message="{queued.id}"' in html
    html = page(client, "/messages/?msisdn=138-0013-8001")
    assert f'data-message="{queued.id}"' in html and f'data-message="{yesterday.id}"' not in html
    html = page(client, "/messages/?day=2026-11-19")
    assert f'data-message="{yesterday.id}"' in html and f'data-message="{queued.id}"' not in html


def test_a_bad_number_in_the_filter_is_explained(client, login):
    login("manager")
    html = page(client, "/messages/?msisdn=12345")
    assert "Not a valid phone number" in html


def test_the_log_pages_with_a_keyset(client, db, login, merchant, now):
    login("manager")
    ids = [send(db, merchant, now, msisdn=f"1380013{n:04d}").id for n in range(55)]
    html = page(client, "/messages/?kind=transactional")
    assert html.count("data-message=") == 50 and f"before=o{ids[5]}" in html
    html = page(client, f"/messages/?kind=transactional&before=o{ids[5]}")
    assert html.count("data-message=") == 5 and 'rel="next"' not in html


def receive(db, merchant, at, msisdn="13800138000", text="JF", destination=None):
    """Store one MO as the gateway does (routed by its destination); returns its id."""
    from mcrm.messaging.services import store_inbound
    row = store_inbound(source_addr=msisdn, destination_addr=destination or "1065712345" + merchant.sub_code,
                        text=text, data_coding=8, received_at=at, access_number="1065712345")
    db.session.commit()
    row_id = row.id
    db.session.rollback()
    return row_id


def test_the_log_shows_received_texts_and_sent_ones_merged_by_time(client, db, login, merchant, make_merchant, now):
    login("manager")
    mo = receive(db, merchant, now - timedelta(minutes=2), text="积分查询")
    reply = send(db, merchant, now - timedelta(minutes=1), body="您的积分：120")
    later_mo = receive(db, merchant, now, msisdn="13800138001", text="TD")
    receive(db, make_merchant(), now, text="别家的短信")
    html = page(client, "/messages/")
    assert html.index(f'data-inbound="{later_mo}"') < html.index(f'data-message="{reply.id}"') \
        < html.index(f'data-inbound="{mo}"')
    assert "积分查询" in html and "别家的短信" not in html
    assert 'href="/messages/numbers/+8613800138000"' in html     # each number opens its conversation

    html = page(client, "/messages/?direction=in")
    assert f'data-inbound="{mo}"' in html and 'data-message=' not in html
    html = page(client, "/messages/?direction=out")
    assert 'data-inbound=' not in html and f'data-message="{reply.id}"' in html
    html = page(client, "/messages/?msisdn=13800138001")
    assert f'data-inbound="{later_mo}"' in html and f'data-inbound="{mo}"' not in html
    html = page(client, "/messages/?status=queued")      # an MT's status: received texts have none
    assert 'data-inbound=' not in html and f'data-message="{reply.id}"' in html


def test_the_log_pages_through_both_directions_without_losing_a_text(client, db, login, merchant, now):
    """An MO and its reply at the same moment (a page boundary among them): each appears once, the MO
    before the reply it caused."""
    login("manager")
    expected = []
    for n in range(30):
        at = now + timedelta(seconds=n)
        expected.append(f'data-inbound="{receive(db, merchant, at, text=f"问{n}")}"')
        expected.append(f'data-message="{send(db, merchant, at, body=f"答{n}").id}"')
    expected.append(f'data-message="{send(db, merchant, now + timedelta(minutes=5), body="晚安").id}"')
    seen, url = [], "/messages/"
    while url:
        html = page(client, url)
        seen += re.findall(r'data-(?:inbound|message)="\d+"', html)
        older = re.search(r'href="([^"]+)" rel="next"', html)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert seen == expected[::-1]


def test_a_page_link_to_another_merchants_text_or_a_forged_one_starts_again(client, db, login, make_merchant, now):
    login("manager")
    other = receive(db, make_merchant(), now)
    for cursor in (f"i{other}", "i999999"):
        response = client.get(f"/messages/?before={cursor}")
        assert response.status_code == 302 and "before" not in response.headers["Location"]
    assert 'data-message=' not in page(client, "/messages/?before=x1")      # not a cursor: nothing listed


def test_a_conversation_shows_both_directions_in_time_order(client, db, login, merchant, make_member, make_merchant,
                                                         now):
    login("manager")
    member = make_member(msisdn="13800138000", name="老王")
    receive(db, merchant, now - timedelta(minutes=3), text="JF")
    send(db, merchant, now - timedelta(minutes=3), body="您的积分：120")       # the same second: after the MO
    receive(db, merchant, now - timedelta(minutes=1), text="谢谢\n再见")
    send(db, merchant, now, msisdn="13800138001", body="别人的")
    receive(db, make_merchant(), now, text="别家的短信")
    html = page(client, "/messages/numbers/13800138000")
    assert html.index(">JF<") < html.index("【小王烧烤】您的积分：120") < html.index("谢谢\n再见")
    assert html.count('class="bubble theirs"') == 2 and html.count('class="bubble mine"') == 1
    assert "别人的" not in html and "别家的短信" not in html
    assert f'href="/members/{member.id}"' in html and "老王" in html


def test_a_long_conversation_pages_back_to_its_first_text(client, db, login, merchant, now):
    login("manager")
    for n in range(55):
        receive(db, merchant, now + timedelta(seconds=n), text=f"第{n}条")
    html = page(client, "/messages/numbers/+8613800138000")
    assert "第54条" in html and "第5条<" in html and "第4条<" not in html
    earlier = re.search(r'href="([^"]+)" rel="prev"', html).group(1).replace("&amp;", "&")
    html = page(client, earlier)
    assert "第0条<" in html and "第4条<" in html and "第5条<" not in html and 'rel="prev"' not in html


def test_the_conversation_needs_a_manager(client, login):
    login("clerk")
    assert client.get("/messages/numbers/13800138000").status_code == 403


def test_one_message_shows_its_parts_and_receipts(app, client, db, login, merchant, now):
    login("manager")
    message = send(db, merchant, now, body="好" * 100)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 10, now)
    store.record_parts([PartResult(message.id, 1, 2, 1, "smsc-a"), PartResult(message.id, 2, 2, 2, "smsc-b")])
    store.mark_submitted([message.id], now)
    store.save_receipts([DeliveryReceipt("smsc-a", "DELIVRD", "000", now),
                         DeliveryReceipt("smsc-b", "UNDELIV", "011", now)])
    html = page(client, f"/messages/{message.id}")
    assert 'data-status="failed"' in html and "receipt UNDELIV err:011" in html
    assert "smsc-a" in html and "smsc-b" in html and 'data-part="2"' in html
    # each part's receipt in words, its SMPP code beside it
    assert 'undeliverable <small class="muted">UNDELIV error 011</small>' in html
    assert 'data-part-status="delivered">delivered<' in html


def test_another_merchants_message_is_not_found(client, db, login, make_merchant, now):
    login("manager")
    other = send(db, make_merchant(), now)
    assert client.get(f"/messages/{other.id}").status_code == 404
    assert client.get("/messages/999999").status_code == 404


def test_daily_figures_count_this_merchants_messages_per_local_day(app, client, db, login, merchant, make_merchant,
                                                                 now, monkeypatch):
    login("manager")
    monkeypatch.setattr("mcrm.messaging.views.now_utc", lambda: now)
    delivered = send(db, merchant, now)
    send(db, merchant, now, msisdn="13800138001")
    send(db, make_merchant(), now, msisdn="13800138002")
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 1, now)
    store.record_parts([PartResult(delivered.id, 1, 1, 1, "d1")])
    store.mark_submitted([delivered.id], now)
    store.save_receipts([DeliveryReceipt("d1", "DELIVRD", "000", now)])
    html = page(client, "/messages/daily")
    row = html[html.index('data-day="2026-11-20"'):]
    row = row[:row.index("</tr>")]
    assert '<td data-label="Messages" class="num">2</td>' in row
    assert 'data-stat="delivered">1<' in row and "100.0%" in row


# ------------------------------------------------------------------------------- phone simulator


def text_in(client, msisdn, text, extension=""):
    return client.post("/messages/simulator", data={"msisdn": msisdn, "text": text, "extension": extension,
                                                    "csrf_token": csrf_token(client, "/messages/simulator")})


def test_the_simulator_stores_the_mo_as_the_gateway_would(client, db, login, merchant):
    login("manager")
    response = text_in(client, "138 0013 8000", "JF", extension="9")
    assert response.status_code == 302 and "msisdn=%2B8613800138000" in response.headers["Location"]
    row = db.session.scalar(sa.select(InboundMessage))
    assert (row.merchant_id, row.msisdn, row.destination_addr, row.extension, row.text, row.status) == (
        merchant.id, "+8613800138000", "1065712345019", "9", "JF", InboundStatus.NEW)


def test_the_simulator_shows_the_conversation_as_the_phone_sees_it(client, db, login, merchant, make_merchant):
    from mcrm.core.clock import now_utc
    login("manager")
    text_in(client, "13800138000", "积分")           # stored at the real time, as the simulator does
    answered = now_utc() + timedelta(seconds=1)      # so the answer comes after it whatever today's date
    send(db, merchant, answered, body="您的积分：120")
    send(db, make_merchant(), answered, body="别家的回复")
    html = page(client, "/messages/simulator?msisdn=%2B8613800138000")
    assert html.index("积分") < html.index("【小王烧烤】您的积分：120")
    assert "别家的回复" not in html and "data-poll=" in html
    thread = page(client, "/messages/simulator/thread?msisdn=%2B8613800138000")
    assert "【小王烧烤】您的积分：120" in thread and 'class="bubble mine"' in thread and "<html" not in thread
    assert "别家的回复" not in thread


def test_the_simulator_refuses_a_bad_number_and_stores_nothing(client, db, login):
    login("manager")
    response = text_in(client, "12345", "JF")
    assert response.status_code == 200 and "Not a valid phone number" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0
    assert client.get("/messages/simulator/thread?msisdn=abc").status_code == 400


@pytest.fixture
def smpp_client(settings):
    app = create_app(replace(settings, sms_transport="smpp"))
    with app.app_context():
        yield app.test_client()


def test_the_simulator_exists_only_in_sandbox_mode(db, smpp_client, make_staff):
    username = make_staff("manager").username
    db.session.rollback()          # the other app writes the login through its own connection
    smpp_client.post("/login", data={"username": username, "password": "correct-horse-1",
                                     "csrf_token": csrf_token(smpp_client)})
    assert smpp_client.get("/messages/").status_code == 200
    assert smpp_client.get("/messages/simulator").status_code == 404
    assert smpp_client.get("/messages/simulator/thread?msisdn=13800138000").status_code == 404


def test_suppressed_marketing_never_shows_on_the_phone(client, db, login, merchant, make_member, now):
    login("manager")
    make_member(msisdn="13800138000", opted_out=True)
    assert send(db, merchant, now, kind="marketing", body="八折").status is MessageStatus.SUPPRESSED
    assert "八折" not in page(client, "/messages/simulator/thread?msisdn=13800138000")
