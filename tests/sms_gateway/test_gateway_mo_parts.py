"""Every part of a concatenated MO is stored before the SMSC gets its ack, so a gateway that goes
down between parts loses nothing (MessageStore.save_inbound_part)."""
import threading

from sms_gateway.encoding import ESM_UDHI
from tests.smsc_peer import simulators, wait_until

MSISDN = "+8613800138000"
SERVICE = "1065712345019"
CHINESE = "尊敬的会员您好，本店本周末全场八折，凭短信到店再送积分一百分，欢迎光临！" * 4


class RefusingLaterParts:
    """The shared store, except that the parts after the first never get stored: the gateway on it
    acknowledges part 1 and goes down before the rest."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def save_inbound_part(self, part):
        if part.index > 1:
            raise RuntimeError("gateway going down")
        self._store.save_inbound_part(part)


def test_a_gateway_replaced_between_parts_stores_the_whole_mo_once(smsc, make_gateway, store):
    smsc.configure(mo_retry_ms=50, mo_retries=200)
    first = make_gateway(smsc, gateway_store=RefusingLaterParts(store))
    wait_until(first.worker.bound.is_set, message="first gateway bound")
    results = []
    sender = threading.Thread(target=lambda: results.append(smsc.mo(MSISDN[1:], SERVICE, CHINESE)))
    sender.start()
    wait_until(lambda: any(r["status"] == 0x64 for r in smsc.records("deliver_sm")), message="part 2 refused")
    assert len(store.inbound_parts()) == 1 and store.inbound() == []
    assert first.stop(timeout=10)
    assert store.inbound() == []                 # nothing guessed at shutdown: the part waits in the store

    make_gateway(smsc)
    sender.join(20)
    (result,) = results
    (mo,) = store.inbound()
    assert (mo.text, mo.parts, mo.complete) == (CHINESE, result["parts"], True)
    acked = [r for r in smsc.records("deliver_sm") if r["kind"] == "mo" and r["status"] == 0]
    assert len(acked) == result["parts"]          # part 1 was acknowledged once and never resent


def _part(sim, index, total, ref=0x21, text="积分"):
    user_data = bytes([5, 0, 3, ref, total, index]) + (text * index).encode("utf-16-be")
    return sim.request("deliver_sm", service_type="", source_addr_ton=1, source_addr_npi=1,
                       source_addr=MSISDN[1:], dest_addr_ton=0, dest_addr_npi=0, destination_addr=SERVICE,
                       esm_class=ESM_UDHI, data_coding=8, short_message=user_data)


class ResendsEveryPart(simulators.SimulatedSmsc):
    """Sends each part of a two-part MO twice, as an SMSC does when an ack is lost on the way."""

    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))
        for index in (1, 1, 2, 2):
            self.send(_part(self, index, 2))


def test_a_part_delivered_twice_is_stored_once(make_gateway, store):
    with ResendsEveryPart() as sim:
        make_gateway(sim.port)
        resps = sim.wait_for("deliver_sm_resp", count=4)
        assert [r.status for r in resps] == [0, 0, 0, 0]
        (mo,) = store.inbound()
        assert (mo.text, mo.parts, mo.complete) == ("积分" * 3, 2, True)


class SendsOnePart(simulators.SimulatedSmsc):
    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))
        self.send(_part(self, 1, 2))


def test_a_part_the_store_refuses_is_answered_with_a_temporary_error(make_gateway, store):
    store.fail_inbound = True
    with SendsOnePart() as sim:
        gateway = make_gateway(sim.port)
        (resp,) = sim.wait_for("deliver_sm_resp")
        assert resp.status == 0x64                    # ESME_RX_T_APPN: the SMSC delivers it again
        assert store.inbound_parts() == [] and gateway.stats["mo_store_errors"] == 1
        store.fail_inbound = False
        sim.send(_part(sim, 1, 2))
        resps = sim.wait_for("deliver_sm_resp", count=2)
        assert resps[1].status == 0
        assert [p.index for p in store.inbound_parts()] == [1]
