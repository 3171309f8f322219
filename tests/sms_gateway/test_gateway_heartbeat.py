"""``on_heartbeat``: the gateway tells its host whether it is bound, on each change and every
``heartbeat_secs`` meanwhile, without knowing who listens (the host writes it for ``/readyz``)."""
import threading

from sms_gateway import Gateway, GatewayConfig
from tests.sms_gateway.conftest import FAST, PASSWORD, SYSTEM_ID
from tests.smsc_peer import wait_until


class Beats:
    def __init__(self):
        self.seen: list[bool] = []
        self.lock = threading.Lock()

    def __call__(self, bound: bool) -> None:
        with self.lock:
            self.seen.append(bound)


def smpp_gateway(smsc, beats, store, **overrides):
    values = dict(FAST, transport="smpp", host="127.0.0.1", port=smsc.port, system_id=SYSTEM_ID, password=PASSWORD)
    values.update(overrides)
    return Gateway(GatewayConfig(**values), store, on_heartbeat=beats, heartbeat_secs=0.05)


def test_a_bound_gateway_beats_true_repeatedly_then_false_when_it_stops(smsc, store):
    beats = Beats()
    gateway = smpp_gateway(smsc, beats, store)
    gateway.start()
    try:
        wait_until(lambda: beats.seen.count(True) >= 3, message="three heartbeats while bound")
    finally:
        assert gateway.stop(10)
    assert beats.seen[0] is True and beats.seen[-1] is False


def test_a_refused_bind_beats_only_false(smsc, store):
    beats = Beats()
    gateway = smpp_gateway(smsc, beats, store, password="wrong")
    gateway.start()
    try:
        wait_until(lambda: gateway.stats["bind_failures"] >= 2, message="two refused binds")
    finally:
        assert gateway.stop(10)
    assert beats.seen and set(beats.seen) == {False}


def test_a_failing_heartbeat_never_stops_the_gateway(smsc, store):
    calls = []

    def broken(bound):
        calls.append(bound)
        raise RuntimeError("database gone")
    mid = store.add_outbound("+8613800138000", "hello")
    gateway = smpp_gateway(smsc, broken, store)
    gateway.start()
    try:
        wait_until(lambda: store.get(mid).status == "DELIVERED", message="delivered all the same")
    finally:
        assert gateway.stop(10)
    assert calls


def test_the_sandbox_beats_while_it_runs(store):
    beats = Beats()
    gateway = Gateway(GatewayConfig(transport="sandbox", poll_secs=0.01), store, on_heartbeat=beats,
                      heartbeat_secs=0.02)
    gateway.start()
    try:
        wait_until(lambda: beats.seen.count(True) >= 2, message="two heartbeats")
    finally:
        assert gateway.stop(10)
    assert beats.seen[-1] is False
