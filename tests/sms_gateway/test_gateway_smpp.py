"""The SMPP worker against the node SMSC peer (tests/smsc_peer), with the in-memory store."""
import threading
from datetime import UTC, datetime

import pytest

from sms_gateway import InMemoryMessageStore, MessageStatus, PartResult, SubmitError
from tests.smsc_peer import wait_until

MSISDN = "+8613800138000"
CHINESE = "尊敬的会员您好，本店本周末全场八折，凭短信到店再送积分一百分，欢迎光临！" * 4


def all_in(store, status, n):
    return store.counts().get(status, 0) == n


def test_wrong_password_is_refused_and_retried_with_backoff(smsc, make_gateway, store):
    store.add_outbound(MSISDN, "hello")
    gateway = make_gateway(smsc, password="wrong")
    # the peer records a refusal as it answers: the gateway counts it once the answer has arrived
    wait_until(lambda: len([r for r in smsc.records("bind") if r["status"] == 0x0E]) >= 3
               and gateway.stats["bind_failures"] >= 3, message="three refused binds")
    assert not gateway.worker.bound.is_set()
    assert store.counts() == {"QUEUED": 1}           # nothing was claimed for a dead link
    assert not smsc.records("submit_sm")


def test_long_chinese_message_goes_as_udh_parts_that_reassemble(smsc, make_gateway, store):
    mid = store.add_outbound(MSISDN, CHINESE, source_addr="106571234501")
    make_gateway(smsc)
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered")
    subs = smsc.records("submit_sm")
    total = -(-len(CHINESE) // 67)
    assert len(subs) == total
    refs = {s["concat"]["ref"] for s in subs}
    assert len(refs) == 1
    assert sorted(s["concat"]["n"] for s in subs) == list(range(1, total + 1))
    for s in subs:
        assert (s["data_coding"], s["esm_class"] & 0x40, s["concat"]["total"], s["concat"]["bits"]) == (
            8, 0x40, total, 8)
        assert s["sm_length"] <= 140
        assert (s["destination_addr"], s["dest_addr_ton"], s["dest_addr_npi"]) == (MSISDN[1:], 1, 1)
        assert s["source_addr"] == "106571234501" and s["registered_delivery"] == 1
    (message,) = smsc.records("message")
    assert message["text"] == CHINESE
    stored = store.get(mid)
    assert sorted(p.smsc_message_id for p in stored.parts.values()) == sorted(message["message_ids"])


def test_gsm_text_with_extension_characters_arrives_intact(smsc, make_gateway, store):
    text = "Points: {120} [gold] ~ 5€ off | see ^help^ " * 5
    mid = store.add_outbound(MSISDN, text)
    make_gateway(smsc)
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered")
    (message,) = smsc.records("message")
    assert message["text"] == text and message["data_coding"] == 0 and message["parts"] == 2


def test_message_is_delivered_only_when_every_part_has_a_receipt(smsc, make_gateway, store):
    smsc.configure(dlr="never")
    mid = store.add_outbound(MSISDN, CHINESE[:100])                 # two parts
    make_gateway(smsc)
    wait_until(lambda: store.get(mid).status == MessageStatus.SUBMITTED, message="submitted")
    ids = smsc.records("message")[0]["message_ids"]
    smsc.dlr(ids[0], source_addr=MSISDN[1:], destination_addr="10657")
    wait_until(lambda: store.get(mid).parts[1].receipt is not None, message="first receipt")
    assert store.get(mid).status == MessageStatus.SUBMITTED
    smsc.dlr(ids[1])
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered")
    acks = smsc.records("deliver_sm")
    assert [a["status"] for a in acks] == [0, 0]


def test_failed_receipt_fails_the_message(smsc, make_gateway, store):
    smsc.configure(dlr_stat_by_part={"2": "UNDELIV"}, dlr_err="011")
    mid = store.add_outbound(MSISDN, CHINESE[:100])
    ok = store.add_outbound(MSISDN, "short one")
    make_gateway(smsc)
    wait_until(lambda: store.get(mid).status == MessageStatus.FAILED, message="failed by receipt")
    assert "UNDELIV" in store.get(mid).error
    wait_until(lambda: store.get(ok).status == MessageStatus.DELIVERED, message="short delivered")


def test_no_receipt_is_asked_for_when_not_wanted(smsc, make_gateway, store):
    mid = store.add_outbound(MSISDN, "otp 1234", want_receipt=False)
    make_gateway(smsc)
    wait_until(lambda: store.get(mid).status == MessageStatus.SUBMITTED, message="submitted")
    assert smsc.records("submit_sm")[0]["registered_delivery"] == 0
    assert not smsc.records("deliver_sm")


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
def test_concatenated_chinese_mo_is_reassembled_into_the_store(smsc, make_gateway, store, concat):
    gateway = make_gateway(smsc)
    wait_until(gateway.worker.bound.is_set, message="bound")
    result = smsc.mo(MSISDN[1:], "1065712345019", CHINESE, concat=concat)
    assert result["parts"] > 1 and all(r["status"] == 0 for r in result["results"])
    (mo,) = store.inbound()
    assert (mo.text, mo.source_addr, mo.destination_addr, mo.data_coding, mo.parts, mo.complete) == (
        CHINESE, MSISDN, "1065712345019", 8, result["parts"], True)


def test_short_mo_and_out_of_order_parts_land_in_the_store(smsc, make_gateway, store):
    gateway = make_gateway(smsc)
    wait_until(gateway.worker.bound.is_set, message="bound")
    smsc.mo(MSISDN[1:], "1065712345", "JF")
    smsc.mo(MSISDN[1:], "1065712345", "意见 " + CHINESE, order="reverse")
    texts = [m.text for m in store.inbound()]
    assert texts == ["JF", "意见 " + CHINESE]
    assert store.inbound()[0].data_coding == 0


def test_mo_is_acknowledged_only_after_the_store_commits(smsc, make_gateway, store):
    smsc.configure(mo_retry_ms=50)
    gateway = make_gateway(smsc)
    wait_until(gateway.worker.bound.is_set, message="bound")
    store.fail_inbound = True
    sender = threading.Thread(target=smsc.mo, args=(MSISDN[1:], "1065712345", "TD"))
    sender.start()
    wait_until(lambda: any(r["status"] == 0x64 for r in smsc.records("deliver_sm")), message="0x64 answer")
    assert store.inbound() == []
    store.fail_inbound = False
    sender.join(10)
    assert [m.text for m in store.inbound()] == ["TD"]
    statuses = [r["status"] for r in smsc.records("deliver_sm") if r["kind"] == "mo"]
    assert statuses[-1] == 0 and set(statuses[:-1]) == {0x64}


@pytest.mark.parametrize("redelivery_secs", [600, 0])
def test_an_mo_the_smsc_delivers_again_after_its_ack_was_lost_is_stored_once(smsc, make_gateway, store,
                                                                           redelivery_secs):
    """The SMSC cuts the link as our ESME_ROK arrives, so it never saw it, and delivers the MO again
    after the rebind. With the guard off (0) both copies are stored: the fault really redelivers."""
    smsc.configure(lose_mo_resp=1, mo_retry_ms=50)
    gateway = make_gateway(smsc, mo_redelivery_secs=redelivery_secs)
    wait_until(gateway.worker.bound.is_set, message="bound")
    smsc.mo(MSISDN[1:], "1065712345", "XF 13800138000 88")     # the redelivery may still be queued
    wait_until(lambda: smsc.stats()["mo_acked"] == 1, message="the second copy acknowledged")
    assert smsc.stats()["mo_resp_lost"] == 1 and gateway.worker.connects == 2
    copies = 1 if redelivery_secs else 2
    assert [m.text for m in store.inbound()] == ["XF 13800138000 88"] * copies
    assert gateway.stats["mo_redelivered"] == 2 - copies
    # the same text sent again by its sender is a new message: only one copy was in doubt
    smsc.mo(MSISDN[1:], "1065712345", "XF 13800138000 88")
    assert len(store.inbound()) == copies + 1


def _parts_sent(smsc) -> list[tuple[int, int]]:
    """(reference, part number) of every part the SMSC received, in order."""
    return [(r["concat"]["ref"], r["concat"]["n"]) for r in smsc.records("submit_sm") if r["concat"]]


def test_a_retried_long_message_sends_only_the_parts_not_accepted_under_the_same_reference(smsc, make_gateway,
                                                                                         store):
    sms_id = store.add_outbound(MSISDN, CHINESE)                  # three UCS-2 parts
    now = datetime.now(UTC)
    [claimed] = store.claim_outbound("an earlier gateway", 1, now)   # whose part 2 was throttled
    store.record_parts([PartResult(sms_id, 1, 3, 7, "earlier-1")])
    store.mark_retry([SubmitError(sms_id, 0x58, "ESME_RTHROTTLED", 0, now)])
    make_gateway(smsc)
    wait_until(lambda: all_in(store, MessageStatus.SUBMITTED, 1), message="submitted")
    assert _parts_sent(smsc) == [(sms_id & 0xFF, 2), (sms_id & 0xFF, 3)]


def test_a_long_message_cut_off_by_a_lost_link_is_completed_not_sent_again(smsc, make_gateway, store):
    smsc.configure(drop_after=3)          # the bind, part 1 (answered), then part 2: the link dies
    sms_id = store.add_outbound(MSISDN, CHINESE)
    make_gateway(smsc)
    wait_until(lambda: all_in(store, MessageStatus.DELIVERED, 1), timeout=10, message="delivered")
    assert _parts_sent(smsc) == [(sms_id & 0xFF, 1), (sms_id & 0xFF, 2), (sms_id & 0xFF, 3)]
    [message] = smsc.records("message")                       # the handset joins one message of three
    assert message["parts"] == 3 and message["text"] == CHINESE


def test_throttled_submits_are_retried_and_nothing_is_lost(smsc, make_gateway, store):
    smsc.configure(throttle=15)
    ids = [store.add_outbound("+86138000%05d" % i, "promo %d" % i) for i in range(40)]
    gateway = make_gateway(smsc, window=20)
    wait_until(lambda: all_in(store, MessageStatus.DELIVERED, len(ids)), timeout=15, message="all delivered")
    stats = smsc.stats()
    assert stats["rejected"] > 0 and gateway.stats["throttled"] > 0
    assert stats["accepted"] == len(ids)                         # rejected ones were not duplicated
    assert {s["text"] for s in smsc.records("message")} == {"promo %d" % i for i in range(40)}


def test_transient_error_is_retried_and_counts_attempts(smsc, make_gateway, store):
    smsc.configure(fail_next=2, fail_status=0x08)
    mid = store.add_outbound(MSISDN, "hello")
    make_gateway(smsc)
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered")
    assert store.get(mid).attempts == 3
    assert [s["status"] for s in smsc.records("submit_sm")] == [8, 8, 0]


def test_transient_errors_give_up_after_max_attempts(smsc, make_gateway, store):
    smsc.configure(fail_next=10, fail_status=0x14 + 0x31)        # 0x45 submit failed: transient
    mid = store.add_outbound(MSISDN, "hello")
    make_gateway(smsc, max_attempts=3)
    wait_until(lambda: store.get(mid).status == MessageStatus.FAILED, message="failed")
    assert (store.get(mid).attempts, store.get(mid).command_status) == (3, 0x45)


def test_permanent_error_fails_the_message_with_the_smsc_code(smsc, make_gateway, store):
    smsc.configure(fail_next=1, fail_status=0x0B)
    bad = store.add_outbound(MSISDN, "to a bad number")
    good = store.add_outbound(MSISDN, "next one")
    gateway = make_gateway(smsc)
    wait_until(lambda: store.get(good).status == MessageStatus.DELIVERED, message="next delivered")
    m = store.get(bad)
    assert (m.status, m.command_status, m.error, m.attempts) == ("FAILED", 0x0B, "ESME_RINVDSTADR", 1)
    assert gateway.worker.connects == 1                          # the error response did not kill the loop


def test_response_timeout_retries_the_message(smsc, make_gateway, store):
    smsc.configure(silent=True)
    mid = store.add_outbound(MSISDN, "hello")
    gateway = make_gateway(smsc, response_timeout_secs=0.3)
    wait_until(lambda: store.get(mid).attempts >= 1, message="a timed-out attempt")
    smsc.configure(silent=False)
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered")
    assert gateway.stats["response_timeouts"] >= 1


class StallingClaimStore(InMemoryMessageStore):
    """Its claim that finds messages first waits ``stall`` seconds, as a claim on SQLite waits for the
    write lock another process holds (busy_timeout; seconds under load)."""

    def __init__(self, stall: float):
        super().__init__()
        self.stall = stall

    def claim_outbound(self, worker_id, limit, now):
        if self.stall and self.counts().get(MessageStatus.QUEUED):
            threading.Event().wait(self.stall)
            self.stall = 0
        return super().claim_outbound(worker_id, limit, now)


def test_a_claim_that_waits_for_the_database_does_not_time_out_the_submit_it_returns(smsc, make_gateway):
    """The response timer of a submit_sm starts when it goes out, not when the loop turn that
    claimed it began: a claim slower than SMPP_RESPONSE_TIMEOUT_SECS once sent every message twice."""
    store = StallingClaimStore(stall=1.0)
    mid = store.add_outbound(MSISDN, "agenda reminder")
    gateway = make_gateway(smsc, gateway_store=store, response_timeout_secs=0.5)
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered")
    assert len(smsc.records("submit_sm")) == 1
    assert gateway.stats["response_timeouts"] == 0 and store.get(mid).attempts == 1


def test_a_submit_sm_resp_later_than_the_timeout_is_recorded_and_the_retry_sends_nothing(smsc, make_gateway,
                                                                                          store):
    """A slow SMSC that accepts a message after the response timeout: its late ESME_ROK on the live
    session counts, so the message reaches the phone once (it was sent twice, the late resp dropped)."""
    smsc.configure(resp_delay_ms=1300)
    mid = store.add_outbound(MSISDN, "slow SMSC")
    gateway = make_gateway(smsc, response_timeout_secs=1.0)
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, timeout=10, message="delivered")
    assert len(smsc.records("submit_sm")) == 1 and gateway.stats["response_timeouts"] == 1
    assert store.get(mid).parts[1].smsc_message_id == smsc.records("submit_sm")[0]["message_id"]


def test_dropped_connection_mid_batch_loses_nothing(smsc, make_gateway, store):
    smsc.configure(drop_after=40)
    ids = [store.add_outbound("+86138000%05d" % i, "batch %d" % i) for i in range(150)]
    gateway = make_gateway(smsc, window=10)
    wait_until(lambda: all_in(store, MessageStatus.DELIVERED, len(ids)), timeout=20, message="all delivered")
    assert gateway.stats["link_lost"] == 1 and gateway.worker.connects == 2
    accepted = smsc.stats()["accepted"]
    assert len(ids) <= accepted <= len(ids) + 10                   # at most the window duplicated
    assert {s["text"] for s in smsc.records("message")} == {"batch %d" % i for i in range(150)}


def test_smsc_restart_is_survived(own_smsc, make_gateway, store):
    first = [store.add_outbound(MSISDN, "before %d" % i) for i in range(10)]
    gateway = make_gateway(own_smsc)
    wait_until(lambda: all_in(store, MessageStatus.DELIVERED, 10), message="first batch")
    own_smsc.restart()
    second = [store.add_outbound(MSISDN, "after %d" % i) for i in range(10)]
    wait_until(lambda: all_in(store, MessageStatus.DELIVERED, len(first) + len(second)), timeout=15,
               message="second batch after restart")
    assert gateway.worker.connects >= 2
    assert {m["text"] for m in own_smsc.records("message")} == {"after %d" % i for i in range(10)}


def test_smsc_initiated_unbind_is_answered_and_the_gateway_rebinds(smsc, make_gateway, store):
    gateway = make_gateway(smsc)
    wait_until(gateway.worker.bound.is_set, message="bound")
    smsc.unbind()
    wait_until(lambda: smsc.records("unbind_resp"), message="unbind_resp")
    assert smsc.records("unbind_resp")[0]["status"] == 0
    wait_until(lambda: gateway.worker.connects == 2 and smsc.sessions(), message="rebound")
    mid = store.add_outbound(MSISDN, "still working")
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered after rebind")
    assert gateway.stats["smsc_unbinds"] == 1


def test_stop_finishes_the_window_then_unbinds(smsc, make_gateway, store):
    smsc.configure(resp_delay_ms=300, dlr="never")
    ids = [store.add_outbound("+86138000%05d" % i, "bye %d" % i) for i in range(30)]
    gateway = make_gateway(smsc, window=5, batch_size=30)
    wait_until(lambda: len(smsc.records("submit_sm")) >= 5, message="window full")
    assert gateway.stop(timeout=10)
    sent = len(smsc.records("submit_sm"))
    counts = store.counts()
    assert counts.get("SUBMITTED", 0) == sent                      # every response in the window was read
    assert counts.get("QUEUED", 0) == len(ids) - sent              # the rest released, not lost
    assert "SENDING" not in counts
    assert [u["by"] for u in smsc.records("unbind")] == ["esme"]


def test_tx_rx_binds_two_sessions_and_still_gets_receipts_and_mo(smsc, make_gateway, store):
    mid = store.add_outbound(MSISDN, "two sessions")
    gateway = make_gateway(smsc, bind="tx+rx")
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered via rx")
    assert sorted(s["bind"] for s in smsc.sessions()) == ["bind_receiver", "bind_transmitter"]
    smsc.mo(MSISDN[1:], "1065712345", "JF")
    assert [m.text for m in store.inbound()] == ["JF"]
    assert gateway.worker.connects == 1


def test_enquire_link_keeps_an_idle_link_alive(smsc, make_gateway):
    gateway = make_gateway(smsc, enquire_link_secs=0.1)
    wait_until(gateway.worker.bound.is_set, message="bound")
    wait_until(lambda: gateway.worker.stats["link_lost"] == 0 and _enquires(gateway) >= 3,
               message="enquire_links")
    assert gateway.worker.connects == 1


def _enquires(gateway):
    session = gateway.worker._sessions[0] if gateway.worker._sessions else None
    return session.client.sequence if session else 0


@pytest.mark.parametrize("source, destination",
                         [("商店", MSISDN), ("10657", "+86138001380001234567890"), ("10657", "")])
def test_an_address_smpp_cannot_carry_fails_that_message_only(smsc, make_gateway, store, source, destination):
    bad = store.add_outbound(destination, "hello", source_addr=source)
    good = store.add_outbound(MSISDN, "fine")
    make_gateway(smsc)
    wait_until(lambda: store.get(good).status == MessageStatus.DELIVERED, message="good one delivered")
    assert store.get(bad).status == MessageStatus.FAILED
    assert store.get(bad).command_status in (0x0A, 0x0B)
    assert len(smsc.records("submit_sm")) == 1


class FlakyStore(InMemoryMessageStore):
    """Fails the first N calls of chosen methods, like a database that is briefly away."""

    def __init__(self, **failures):
        super().__init__()
        self.failures = dict(failures)

    def __getattribute__(self, name):
        failures = object.__getattribute__(self, "__dict__").get("failures", {})
        if failures.get(name):
            failures[name] -= 1
            raise ConnectionError("database away (%s)" % name)
        return object.__getattribute__(self, name)


def test_a_briefly_unavailable_store_loses_nothing(smsc, make_gateway):
    smsc.configure(mo_retry_ms=50)
    flaky = FlakyStore(release_claims=2, record_parts=1, save_receipts=2)
    ids = [flaky.add_outbound("+86138000%05d" % i, "db %d" % i) for i in range(5)]
    gateway = make_gateway(smsc, gateway_store=flaky)
    wait_until(lambda: flaky.counts().get("DELIVERED") == len(ids), timeout=10, message="all delivered")
    assert gateway.stats["store_errors"] >= 2
    assert any(r["status"] == 0x64 for r in smsc.records("deliver_sm"))     # receipts refused, then resent


def test_logs_never_show_bodies_or_full_msisdns(smsc, make_gateway, store, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    smsc.configure(fail_next=1, fail_status=0x08)
    mid = store.add_outbound("+8613912345678", "SECRET-BODY-42")
    gateway = make_gateway(smsc)
    wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="delivered")
    smsc.mo("8613912345678", "1065712345", "MO-SECRET-77")
    wait_until(store.inbound, message="MO stored")
    assert gateway.stop(timeout=5)
    text = caplog.text
    assert "SECRET-BODY-42" not in text and "MO-SECRET-77" not in text
    assert "13912345678" not in text and "+86139****5678" in text
