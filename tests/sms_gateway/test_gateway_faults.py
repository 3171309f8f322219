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
