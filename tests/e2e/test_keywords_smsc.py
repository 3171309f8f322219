"""Consumers and staff texting through the real SMSC peer: MO → gateway → inbox → keyword engine →
outbox → gateway → SMSC, with the ``mcrm run`` inbound loop answering as it does in production."""
from __future__ import annotations

import threading
from datetime import datetime, UTC

import pytest
import sqlalchemy as sa

from mcrm.members.services import find_member_by_msisdn
from mcrm.messaging.models import MessageStatus, OutboundMessage
from mcrm.messaging.services import enqueue_sms
from mcrm.workers import start_inbound_loop
from tests.e2e.test_gateway_smsc import SERVICE_NUMBER, gateway, smsc  # noqa: F401  (fixtures)
from tests.smsc_peer import wait_until

CONSUMER = "8613900139000"
STAFF_PHONE = "8613700137000"


@pytest.fixture
def running(app, db, gateway):
    """The gateway and the keyword loop, as ``mcrm run`` starts them."""
    stop = threading.Event()
    thread = start_inbound_loop(app, stop, idle_wait=0.02)
    gateway()
    yield
    stop.set()
    thread.join(5)
    db.session.rollback()


def texts_to(smsc, number: str, count: int) -> list[str]:
    """Wait for ``count`` SMS the SMSC received for ``number``; their texts in order."""
    def received():
        found = [r["text"] for r in smsc.records("message") if r["destination_addr"] == number]
        return found if len(found) >= count else None
    return wait_until(received, timeout=15, message=f"{count} SMS to {number}")


def fresh(db, query):
    value = db.session.scalar(query)
    db.session.rollback()  # SQLite: never hold a lock the gateway and the loop need
    return value


def test_join_by_sms_enrols_and_the_welcome_reaches_the_phone(db, merchant, smsc, running):
    smsc.mo(CONSUMER, SERVICE_NUMBER, "ZC 张三 19900315")
    [welcome] = texts_to(smsc, CONSUMER, 1)
    assert welcome.startswith("【小王烧烤】") and "张三" in welcome and "100" in welcome
    member = find_member_by_msisdn(merchant, "+" + CONSUMER)
    assert member.name == "张三" and member.points_balance == 100 and member.consent_channel == "sms"
    db.session.rollback()


def test_points_query_in_full_width_chinese_gets_the_balance(db, merchant, make_member, smsc, running):
    make_member(msisdn="+" + CONSUMER, name="老王", points=321)
    smsc.mo(CONSUMER, SERVICE_NUMBER, "ＪＦ")
    [reply] = texts_to(smsc, CONSUMER, 1)
    assert "321" in reply and "老王" in reply


def test_stop_confirms_and_a_later_marketing_sms_never_reaches_the_phone(db, merchant, make_member, smsc, running):
    make_member(msisdn="+" + CONSUMER)
    smsc.mo(CONSUMER, SERVICE_NUMBER, "退订")
    [confirmation] = texts_to(smsc, CONSUMER, 1)
    assert "退订" in confirmation
    message = enqueue_sms(merchant, msisdn="+" + CONSUMER, body="周末八折", kind="marketing",
                          now=datetime(2026, 11, 22, 4, 0, tzinfo=UTC))
    assert message.status == MessageStatus.SUPPRESSED
    db.session.commit()  # and nothing read after it: SQLite's write lock stays free for the gateway
    smsc.mo(CONSUMER, SERVICE_NUMBER, "JF")  # a later reply still arrives, and the marketing one never does
    texts = texts_to(smsc, CONSUMER, 2)
    assert len(texts) == 2 and not any("八折" in text for text in texts)


def test_staff_purchase_by_sms_awards_points_and_both_phones_hear(db, merchant, make_staff, make_member, smsc,
                                                                   running):
    make_staff("clerk", msisdn="+" + STAFF_PHONE)
    member = make_member(msisdn="+8613800138000", points=12)
    smsc.mo(STAFF_PHONE, SERVICE_NUMBER, "XF 13800138000 88")
    [to_staff] = texts_to(smsc, STAFF_PHONE, 1)
    [to_member] = texts_to(smsc, "8613800138000", 1)
    assert "100" in to_staff and "88" in to_member
    assert fresh(db, sa.select(type(member).points_balance).where(type(member).id == member.id)) == 100


def test_a_staff_purchase_whose_acknowledgement_is_lost_awards_the_points_once(db, merchant, make_staff, make_member,
                                                                               smsc, running):
    from mcrm.messaging.models import InboundMessage
    make_staff("clerk", msisdn="+" + STAFF_PHONE)
    member = make_member(msisdn="+8613800138000", points=12)
    smsc.configure(lose_mo_resp=1, mo_retry_ms=50)     # the link dies as our ESME_ROK arrives: sent again
    smsc.mo(STAFF_PHONE, SERVICE_NUMBER, "XF 13800138000 88")
    wait_until(lambda: smsc.stats()["mo_acked"] == 1, timeout=10, message="the SMSC's second copy acknowledged")
    # a reply submitted while the SMSC drops the link may be sent again on the new link (its
    # submit_sm_resp was lost): the SMS may come twice, the points once
    [to_staff] = set(texts_to(smsc, STAFF_PHONE, 1))
    assert "100" in to_staff and smsc.stats()["mo_resp_lost"] == 1
    assert fresh(db, sa.select(type(member).points_balance).where(type(member).id == member.id)) == 100
    assert fresh(db, sa.select(sa.func.count()).select_from(InboundMessage)) == 1


def test_a_wizard_made_app_answers_through_the_smsc(db, merchant, smsc, running):
    from mcrm.keywords import services
    app = services.create_keyword_app(merchant, kind="vote", name="新菜投票")
    services.set_app_keywords(app, merchant, ["TP", "投票"])
    services.set_app_config(app, options="1 红烧肉\n2 糖醋鱼")
    services.set_app_replies(app, {"voted": "已投：{option}"})
    services.activate_keyword_app(app)
    db.session.commit()
    smsc.mo(CONSUMER, SERVICE_NUMBER, "投票 2")
    smsc.mo("8613900139001", SERVICE_NUMBER, "tp 1")
    assert texts_to(smsc, CONSUMER, 1) == ["【小王烧烤】已投：糖醋鱼"]
    assert texts_to(smsc, "8613900139001", 1) == ["【小王烧烤】已投：红烧肉"]
    wait_until(lambda: fresh(db, sa.select(sa.func.count()).select_from(OutboundMessage)
                             .where(OutboundMessage.status == MessageStatus.DELIVERED)) == 2,
               timeout=10, message="both replies delivered")


def test_the_mcrm_gateway_process_answers_texts_too(db, merchant, make_member, settings, smsc, tmp_path):
    """A split deployment (web, scheduler and gateway processes) needs nothing else to answer MOs."""
    import signal
    from tests.e2e.test_gateway_smsc import smpp_env, start_gateway_process
    make_member(msisdn="+" + CONSUMER, points=77)
    proc = start_gateway_process(settings, tmp_path / "gw.log", MCRM_SMS_TRANSPORT="smpp", **smpp_env(smsc))
    try:
        wait_until(lambda: smsc.sessions(), timeout=20, message="gateway bound")
        smsc.mo(CONSUMER, SERVICE_NUMBER, "JF")
        [reply] = texts_to(smsc, CONSUMER, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    assert "77" in reply
    assert code == 0, (tmp_path / "gw.log").read_text()


def test_an_mo_and_its_reply_through_the_smsc_both_show_in_the_console_conversation(
        db, merchant, make_member, client, login, smsc, running):
    """With a real SMSC (no simulator), the texts a number sent are in the message log too."""
    login("manager")
    make_member(msisdn="+" + CONSUMER, name="老王", points=321)
    smsc.mo(CONSUMER, SERVICE_NUMBER, "JF")
    [reply] = texts_to(smsc, CONSUMER, 1)
    wait_until(lambda: fresh(db, sa.select(OutboundMessage.status)) == MessageStatus.DELIVERED, timeout=10,
               message="the reply delivered")
    html = client.get(f"/messages/numbers/+{CONSUMER}").get_data(as_text=True)
    db.session.rollback()
    assert html.index('<div class="body">JF</div>') < html.index(reply) and "321" in reply
    assert html.count('class="bubble theirs"') == 1 and html.count('class="bubble mine"') == 1
    log = client.get("/messages/?direction=in").get_data(as_text=True)
    db.session.rollback()
    assert f"+{CONSUMER}" in log and ">JF<" in log
