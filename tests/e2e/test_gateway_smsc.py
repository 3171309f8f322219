"""The outbox and inbox through the real SMSC peer (tests/smsc_peer, node-smpp): in-process gateway
for the message paths, ``mcrm gateway`` processes for SIGTERM, ``kill -9`` and scale-out."""
from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime, UTC
from pathlib import Path

import pytest
import sqlalchemy as sa

from mcrm.messaging.models import InboundMessage, InboundStatus, MessageStatus, OutboundMessage
from mcrm.messaging.services import enqueue_sms
from mcrm.messaging.store import SqlMessageStore
from sms_gateway import Gateway, GatewayConfig
from tests.smsc_peer import SmscPeer, wait_until

SYSTEM_ID, PASSWORD = "mcrm", "secret"
SERVICE_NUMBER = "106571234501"      # the default access number + the `merchant` fixture's sub-code
MCRM = str(Path(sys.executable).with_name("mcrm"))
#: fast timings for tests (SMPP_* variables)
FAST_ENV = {"SMPP_POLL_SECS": "0.02", "SMPP_RECONNECT_MIN_SECS": "0.05", "SMPP_RECONNECT_MAX_SECS": "0.5",
            "SMPP_RESPONSE_TIMEOUT_SECS": "2", "SMPP_RETRY_DELAY_SECS": "0.05", "SMPP_RETRY_MAX_SECS": "0.5",
            "SMPP_THROTTLE_PAUSE_SECS": "0.2", "SMPP_TPS": "0", "SMPP_WINDOW": "20", "SMPP_BATCH_SIZE": "100"}


@pytest.fixture
def smsc():
    why = SmscPeer.available()
    if why is not None:
        if shutil.which("node") is None:
            pytest.skip(f"SMSC peer needs node: {why}")
        pytest.fail(f"SMSC peer not installed ({why})", pytrace=False)
    peer = SmscPeer(system_id=SYSTEM_ID, password=PASSWORD, max_records=200000).start()
    yield peer
    peer.stop()


def smpp_env(smsc, **extra) -> dict:
    env = {"SMPP_HOST": smsc.host, "SMPP_PORT": str(smsc.port), "SMPP_SYSTEM_ID": SYSTEM_ID,
           "SMPP_PASSWORD": PASSWORD, **FAST_ENV}
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def gateway(app, db, smsc):
    """start(**SMPP_overrides) runs a gateway thread on the app's store against the peer."""
    started = []

    def start(**extra):
        gw = Gateway(GatewayConfig.from_env(smpp_env(smsc, **extra), transport="smpp"), SqlMessageStore(app))
        gw.start()
        started.append(gw)
        wait_until(lambda: gw.worker.bound.is_set(), timeout=10, message="gateway bound")
        return gw
    yield start
    db.session.rollback()          # SQLite: the gateway's last writes need the lock the test's reads hold
    for gw in started:
        assert gw.stop(10)


def count(db, *where, model=OutboundMessage) -> int:
    value = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
    db.session.rollback()          # SQLite: never hold the write lock the gateway needs
    return value


def delivered(db) -> int:
    return count(db, OutboundMessage.status == MessageStatus.DELIVERED)


def fill_outbox(db, merchant, total: int, body: str = "您好，您的积分已到账") -> list[str]:
    now = datetime.now(UTC)
    numbers = [f"+86139{n:08d}" for n in range(total)]
    for msisdn in numbers:
        enqueue_sms(merchant, msisdn=msisdn, body=body, kind="transactional", now=now)
    db.session.commit()
    return numbers


# ------------------------------------------------------------------------------- message paths


def test_long_chinese_message_goes_as_udh_parts_and_is_delivered_when_every_part_is(db, merchant, smsc, gateway):
    body = "亲爱的会员，感谢您一直以来的支持！本周六全场菜品八折，欢迎携亲友光临小王烧烤。" * 3
    [msisdn] = fill_outbox(db, merchant, 1, body=body)
    gateway()
    wait_until(lambda: delivered(db) == 1, timeout=10, message="delivered")
    [record] = smsc.records("message")
    message = db.session.scalar(sa.select(OutboundMessage))
    assert message.parts == 2 and record["parts"] == 2
    assert record["text"] == "【小王烧烤】" + body
    assert record["destination_addr"] == msisdn.lstrip("+") and record["source_addr"] == SERVICE_NUMBER
    assert [(p.index, p.smsc_message_id, p.receipt_stat) for p in message.part_rows] == [
        (n, mid, "DELIVRD") for n, mid in enumerate(record["message_ids"], start=1)]


def test_a_failed_receipt_for_one_part_fails_the_message(db, merchant, smsc, gateway):
    smsc.configure(dlr_stat_by_part={"2": "UNDELIV"}, dlr_err="011")
    fill_outbox(db, merchant, 1, body="好" * 100)
    gateway()
    wait_until(lambda: count(db, OutboundMessage.status == MessageStatus.FAILED) == 1, timeout=10)
    message = db.session.scalar(sa.select(OutboundMessage))
    assert message.last_error == "receipt UNDELIV err:011"
    assert [p.status for p in message.part_rows] == ["delivered", "failed"]


def test_a_permanent_submit_error_fails_the_message_with_the_smscs_code(db, merchant, smsc, gateway):
    smsc.configure(fail_next=1, fail_status=0x0B)
    fill_outbox(db, merchant, 1)
    gateway()
    wait_until(lambda: count(db, OutboundMessage.status == MessageStatus.FAILED) == 1, timeout=10)
    message = db.session.scalar(sa.select(OutboundMessage))
    assert message.error_code == 0x0B and message.attempts == 1


def test_throttling_loses_nothing(db, merchant, smsc, gateway):
    smsc.configure(throttle=50)
    numbers = fill_outbox(db, merchant, 150)
    gateway()
    wait_until(lambda: delivered(db) == len(numbers), timeout=30, message="all delivered")
    assert smsc.stats()["rejected"] > 0
    assert sorted(r["destination_addr"] for r in smsc.records("message")) == sorted(n[1:] for n in numbers)


def test_the_smsc_dropping_the_connection_mid_batch_loses_nothing(db, merchant, smsc, gateway):
    numbers = fill_outbox(db, merchant, 500)
    smsc.configure(drop_after=200)
    gateway()
    wait_until(lambda: delivered(db) == len(numbers), timeout=30, message="all delivered")
    assert smsc.stats()["drops"] == 1
    seen = {r["destination_addr"] for r in smsc.records("message")}
    assert seen == {n[1:] for n in numbers}


def test_concatenated_chinese_mo_lands_in_the_inbox_routed_to_the_merchant(db, merchant, smsc, gateway):
    gateway()
    text = "我想咨询一下你们店周末是否营业，以及是否可以预订十人的包间，谢谢！" * 3
    smsc.mo("+8613800138000", SERVICE_NUMBER + "9", text)
    smsc.mo("8613800138001", "1065799", "JF")
    wait_until(lambda: count(db, model=InboundMessage) == 2, timeout=10)
    rows = db.session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)).all()
    assert (rows[0].text, rows[0].parts, rows[0].merchant_id, rows[0].extension, rows[0].status) == (
        text, 2, merchant.id, "9", InboundStatus.NEW)
    assert rows[0].msisdn == "+8613800138000" and rows[0].complete
    assert (rows[1].merchant_id, rows[1].status) == (None, InboundStatus.UNROUTED)


# ------------------------------------------------------------------------------- processes


def process_env(settings, **extra) -> dict:
    env = dict(os.environ)
    env.update({"MCRM_ENV": "test", "MCRM_INSTANCE_PATH": settings.instance_path,
                "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key,
                "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_gateway_process(settings, log: Path, **env) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([MCRM, "gateway"], env=process_env(settings, **env), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)


def test_mcrm_gateway_sends_the_outbox_and_exits_cleanly_on_sigterm(db, merchant, settings, smsc, tmp_path):
    numbers = fill_outbox(db, merchant, 50)
    proc = start_gateway_process(settings, tmp_path / "gw.log", MCRM_SMS_TRANSPORT="smpp", **smpp_env(smsc))
    try:
        wait_until(lambda: delivered(db) == len(numbers), timeout=20, message="all delivered")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    assert code == 0, (tmp_path / "gw.log").read_text()
    assert [r["by"] for r in smsc.records("unbind")] == ["esme"]


def test_mcrm_gateway_refuses_a_bad_setting_at_start(settings, tmp_path):
    result = subprocess.run([MCRM, "gateway"], env=process_env(settings, SMPP_TPS="fast"), capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "Configuration error: SMPP_TPS='fast'" in result.stderr


@pytest.mark.slow
def test_kill_9_mid_batch_then_restart_delivers_every_message_with_at_most_the_window_duplicated(
        db, merchant, settings, smsc, tmp_path):
    total, window = 10_000, 50
    numbers = fill_outbox(db, merchant, total)
    env = dict(MCRM_SMS_TRANSPORT="smpp", SMPP_WORKER_ID="gw-crash",
               **smpp_env(smsc, SMPP_WINDOW=window, SMPP_BATCH_SIZE=200))
    log = tmp_path / "gw.log"
    proc = start_gateway_process(settings, log, **env)
    try:
        wait_until(lambda: smsc.stats()["accepted"] >= total // 3, timeout=60, message="a third submitted")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        in_flight = count(db, OutboundMessage.status == MessageStatus.SENDING)
        proc = start_gateway_process(settings, log, **env)
        wait_until(lambda: delivered(db) == total, timeout=120, interval=0.2, message="all delivered")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    sent = collections.Counter(r["destination_addr"] for r in smsc.records("message"))
    assert set(sent) == {n[1:] for n in numbers}, "every message reached the SMSC"
    duplicates = sum(sent.values()) - total
    print(f"\nkill -9 with {in_flight} messages claimed: {duplicates} duplicate(s) (window {window})")
    assert duplicates <= window
    assert count(db, OutboundMessage.status != MessageStatus.DELIVERED) == 0


@pytest.mark.slow
@pytest.mark.postgres
def test_three_gateway_workers_share_the_outbox_and_send_each_message_exactly_once(
        db, merchant, settings, smsc, tmp_path):
    total = 10_000
    numbers = fill_outbox(db, merchant, total)
    procs = [start_gateway_process(settings, tmp_path / f"gw{n}.log", MCRM_SMS_TRANSPORT="smpp",
                                   SMPP_WORKER_ID=f"gw{n}", **smpp_env(smsc, SMPP_BATCH_SIZE=50))
             for n in range(3)]
    try:
        wait_until(lambda: delivered(db) == total, timeout=180, interval=0.2, message="all delivered")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(15) for proc in procs]
    assert codes == [0, 0, 0]
    records = smsc.records("submit_sm")
    sent = collections.Counter(r["destination_addr"] for r in records)
    assert sorted(sent) == sorted(n[1:] for n in numbers) and set(sent.values()) == {1}
    assert len({r["session"] for r in records}) == 3, "all three workers sent"
