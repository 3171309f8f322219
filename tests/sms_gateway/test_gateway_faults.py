"""smpplib's traps, each against a one-failure-mode simulator (tests/smsc_peer/simulators.py)."""
import pytest

from sms_gateway import MessageStatus
from tests.smsc_peer import simulators, wait_until


@pytest.fixture
def simulator(request):
    sim = request.param().start()
    yield sim
    sim.stop()


def sim(cls):
    return pytest.mark.parametrize("simulator", [cls], indirect=True, ids=[cls.__name__])


@sim(simulators.DeliverSmDuringBind)
def test_deliver_sm_before_bind_resp_is_stored_and_acknowledged(simulator, make_gateway, store):
    gateway = make_gateway(simulator.port)
    (resp,) = simulator.wait_for("deliver_sm_resp")
    assert resp.status == 0
    assert [m.text for m in store.inbound()] == ["JF"]
    assert gateway.worker.bound.is_set() and gateway.worker.connects == 1


@sim(simulators.DeliverSmDuringUnbind)
def test_deliver_sm_while_unbinding_is_stored_and_acknowledged(simulator, make_gateway, store):
    gateway = make_gateway(simulator.port)
    wait_until(gateway.worker.bound.is_set, message="bound")
    assert gateway.stop(timeout=5)
    (resp,) = simulator.wait_for("deliver_sm_resp")
    assert resp.status == 0
    assert [m.text for m in store.inbound()] == ["TD"]
    assert simulator.commands()[-2:] == ["unbind", "deliver_sm_resp"]


@sim(simulators.SmscUnbinds)
def test_smsc_initiated_unbind_gets_unbind_resp_and_a_new_bind(simulator, make_gateway, store):
    gateway = make_gateway(simulator.port)
    simulator.wait_for("unbind_resp")
    simulator.wait_for("bind_transceiver", count=2)
    mid = store.add_outbound("+8613800138000", "after the unbind")
    wait_until(lambda: store.get(mid).status == MessageStatus.SUBMITTED, message="submitted")
    assert gateway.stats["smsc_unbinds"] == 1


@sim(simulators.ErrorResponses)
def test_error_responses_do_not_kill_the_loop(simulator, make_gateway, store):
    mid = store.add_outbound("+8613800138000", "hello")
    gateway = make_gateway(simulator.port)
    wait_until(lambda: store.get(mid).status == MessageStatus.SUBMITTED, message="submitted on retry")
    assert store.get(mid).attempts == 2
    assert gateway.worker.connects == 1 and simulator.connections == 1


@sim(simulators.UnknownTlvMo)
def test_unknown_and_unexpected_tlvs_do_not_lose_the_mo(simulator, make_gateway, store):
    make_gateway(simulator.port)
    (resp,) = simulator.wait_for("deliver_sm_resp")
    assert resp.status == 0
    assert [m.text for m in store.inbound()] == ["HELP"]


@sim(simulators.BrokenPdu)
def test_unknown_command_gets_generic_nack_and_the_session_goes_on(simulator, make_gateway, store):
    gateway = make_gateway(simulator.port)
    (nack,) = simulator.wait_for("generic_nack")
    assert (nack.sequence, nack.status) == (77, 0x03)
    simulator.wait_for("deliver_sm_resp")
    assert [m.text for m in store.inbound()] == ["DY"]
    assert gateway.worker.connects == 1


@sim(simulators.SilentAfterBind)
def test_a_hung_smsc_is_detected_and_the_message_retried(simulator, make_gateway, store):
    mid = store.add_outbound("+8613800138000", "hello")
    gateway = make_gateway(simulator.port, response_timeout_secs=0.3, max_attempts=10)
    wait_until(lambda: gateway.worker.connects >= 2, message="reconnect after the enquire_link timeout")
    assert gateway.stats["response_timeouts"] >= 1
    assert store.get(mid).attempts >= 1 and store.get(mid).status in ("QUEUED", "SENDING")


def test_only_the_gateway_thread_touches_the_socket(smsc, make_gateway, store, monkeypatch):
    """smpplib is not thread-safe: every read and write must happen on the worker's own thread,
    whatever other threads do to the store and the gateway meanwhile."""
    import threading

    from sms_gateway.client import GatewayClient
    threads = set()
    real_send, real_read = GatewayClient.send_bytes, GatewayClient.read_available

    def send_bytes(self, data):
        threads.add(threading.current_thread().name)
        return real_send(self, data)

    def read_available(self):
        threads.add(threading.current_thread().name)
        return real_read(self)

    monkeypatch.setattr(GatewayClient, "send_bytes", send_bytes)
    monkeypatch.setattr(GatewayClient, "read_available", read_available)
    gateway = make_gateway(smsc)
    for i in range(50):
        store.add_outbound("+86138000%05d" % i, "t %d" % i)
        gateway.wake()
    smsc.mo("8613800138000", "10657", "JF")
    wait_until(lambda: store.counts().get("DELIVERED") == 50, message="all delivered")
    assert gateway.stop(timeout=5)
    assert threads == {"sms-gateway"}


def test_an_incomplete_concatenated_mo_is_stored_after_the_reassembly_deadline(smsc, make_gateway, store):
    gateway = make_gateway(smsc, mo_reassembly_secs=0.2)
    wait_until(gateway.worker.bound.is_set, message="bound")
    part1 = bytes([5, 0, 3, 9, 2, 1]) + "积分查询".encode("utf-16-be")
    smsc.mo("8613800138000", "10657", hex=part1.hex(), esm_class=0x40, data_coding=8)
    wait_until(store.inbound, message="partial MO stored")
    (mo,) = store.inbound()
    assert (mo.text, mo.parts, mo.complete) == ("积分查询", 1, False)


@sim(simulators.MessagePayloadMo)
def test_mo_in_message_payload_tlv_is_stored(simulator, make_gateway, store):
    make_gateway(simulator.port)
    (resp,) = simulator.wait_for("deliver_sm_resp")
    assert resp.status == 0
    assert [m.text for m in store.inbound()] == [simulators.MessagePayloadMo.payload_text]
