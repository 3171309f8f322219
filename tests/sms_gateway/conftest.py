"""Fixtures for the gateway tests: the node SMSC peer, gateways with fast timings, a store.

The peer is one node process per test session (``smsc``), reset before every test; tests that
restart or kill the SMSC get their own process (``own_smsc``). All ports are free loopback ports.
"""
from __future__ import annotations

import logging
import shutil

import pytest

from sms_gateway import Gateway, GatewayConfig, InMemoryMessageStore
from tests.smsc_peer import SmscPeer

SYSTEM_ID = "mcrm"
PASSWORD = "secret"

# timings scaled for tests: fast reconnects and retries, short timeouts
FAST = dict(poll_secs=0.02, reconnect_min_secs=0.05, reconnect_max_secs=0.5, response_timeout_secs=2.0,
            retry_delay_secs=0.05, retry_max_secs=0.5, throttle_pause_secs=0.2, enquire_link_secs=30.0,
            tps=0, window=10, batch_size=50)


def _require_peer() -> None:
    why = SmscPeer.available()
    if why is None:
        return
    if shutil.which("node") is None:
        pytest.skip("SMSC peer needs node: %s" % why)
    pytest.fail("SMSC peer not installed (%s)" % why, pytrace=False)


@pytest.fixture(scope="session")
def _session_smsc():
    _require_peer()
    peer = SmscPeer(system_id=SYSTEM_ID, password=PASSWORD).start()
    yield peer
    peer.stop()


@pytest.fixture
def smsc(_session_smsc):
    """The shared node SMSC, reset to its startup settings with empty records."""
    if not _session_smsc.running:          # a test killed it: bring it back on the same port
        _session_smsc.restart()
    _session_smsc.reset()
    yield _session_smsc


@pytest.fixture
def own_smsc():
    """A private SMSC process for tests that restart or stop it."""
    _require_peer()
    peer = SmscPeer(system_id=SYSTEM_ID, password=PASSWORD).start()
    yield peer
    peer.stop()


@pytest.fixture
def store():
    return InMemoryMessageStore()


@pytest.fixture
def make_gateway(store):
    """``make_gateway(peer_or_port, **config_overrides)`` → a started smpp Gateway on ``store``.
    Every gateway is stopped at teardown and must have finished."""
    started = []

    def make(peer, start=True, gateway_store=None, **overrides):
        port = peer if isinstance(peer, int) else peer.port
        values = dict(FAST, transport="smpp", host="127.0.0.1", port=port, system_id=SYSTEM_ID,
                      password=PASSWORD)
        values.update(overrides)
        gateway = Gateway(GatewayConfig(**values), gateway_store if gateway_store is not None else store)
        started.append(gateway)
        if start:
            gateway.start()
        return gateway

    yield make
    for gateway in started:
        assert gateway.stop(timeout=10), "gateway thread did not finish"


@pytest.fixture(autouse=True)
def _gateway_logs(caplog):
    caplog.set_level(logging.INFO, logger="sms_gateway")
