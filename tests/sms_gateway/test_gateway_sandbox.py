"""The sandbox transport (the embedded default) and the Gateway facade."""
from datetime import UTC, datetime

import pytest

from sms_gateway import Gateway, GatewayConfig, MessageStatus, count_parts
from tests.smsc_peer import wait_until

LONG = "会员日快乐！" * 30


@pytest.fixture
def sandbox(store):
    gateway = Gateway(GatewayConfig(poll_secs=5.0), store)     # long poll: wake() must be enough
    gateway.start()
    wait_until(lambda: gateway.running, message="running")
    yield gateway
    assert gateway.stop(timeout=5)


def test_default_transport_is_the_sandbox():
    assert GatewayConfig.from_env({}).transport == "sandbox"


def test_sandbox_delivers_every_part_with_a_receipt(sandbox, store):
    short = store.add_outbound("+8613800138000", "hello")
    long_ = store.add_outbound("+8613800138000", LONG)
    quiet = store.add_outbound("+8613800138000", "no receipt", want_receipt=False)
    sandbox.wake()
    wait_until(lambda: store.get(quiet).status == MessageStatus.SUBMITTED, message="sandbox claimed")
    assert store.get(short).status == MessageStatus.DELIVERED
    assert store.get(long_).status == MessageStatus.DELIVERED
    assert len(store.get(long_).parts) == count_parts(LONG).parts == 3


def test_sandbox_mo_injection_reaches_the_store(sandbox, store):
    sandbox.inject_mo("+8613800138000", "1065712345", "积分")
    wait_until(store.inbound, message="MO stored")
    (mo,) = store.inbound()
    assert (mo.source_addr, mo.destination_addr, mo.text, mo.data_coding) == (
        "+8613800138000", "1065712345", "积分", 8)


def test_sandbox_keeps_an_mo_the_store_refused_and_saves_it_later(sandbox, store):
    store.fail_inbound = True
    sandbox.inject_mo("+8613800138000", "1065712345", "TD")
    wait_until(lambda: sandbox.stats["mo_store_errors"] >= 1, message="refused once")
    store.fail_inbound = False
    sandbox.wake()
    wait_until(store.inbound, message="stored on the next turn")


def test_sandbox_releases_stale_claims_on_start(store):
    mid = store.add_outbound("+8613800138000", "left over")
    store.claim_outbound("gateway", 10, datetime.now(UTC))    # a crashed run's claim
    assert store.get(mid).status == MessageStatus.SENDING
    gateway = Gateway(GatewayConfig(), store)
    gateway.start()
    try:
        wait_until(lambda: store.get(mid).status == MessageStatus.DELIVERED, message="re-sent")
    finally:
        assert gateway.stop(timeout=5)


def test_inject_mo_needs_the_sandbox(smsc, make_gateway):
    gateway = make_gateway(smsc, start=False)
    with pytest.raises(RuntimeError, match="sandbox"):
        gateway.inject_mo("+8613800138000", "10657", "hi")
