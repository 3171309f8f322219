"""``/healthz`` and ``/readyz``: ready only with the database answering, a gateway bound recently
(its heartbeat, written by the gateway's callback) and a scheduler holding an unexpired lease;
otherwise 503 with one reason per failing part."""
import socket
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sms_gateway import GatewayConfig

from mcrm import create_app
from mcrm.core.clock import now_utc
from mcrm.jobs.services import acquire_lease, release_lease
from mcrm.ops.health import GATEWAY_STALE, record_gateway_heartbeat
from mcrm.workers import start_gateway
from tests.conftest import ConsoleClient
from tests.mcrm.test_startup import free_port
from tests.smsc_peer import wait_until

GATEWAY_REASON = "no gateway bound to the SMSC in the last 60 s"
SCHEDULER_REASON = "no scheduler holds an unexpired lease"


@pytest.fixture
def now():
    """The real time: /readyz measures heartbeats and leases against the clock."""
    return now_utc()


def beat(db, now, *, bound=True, worker_id="gw1"):
    record_gateway_heartbeat(worker_id, bound=bound, transport="smpp", host="h", pid=1, now=now)
    db.session.commit()


def lease(db, now, seconds=30):
    assert acquire_lease("sched", now=now, seconds=seconds)
    db.session.commit()


def readiness(client):
    response = client.get("/readyz")
    return response.status_code, response.json


def test_healthz_answers_while_the_process_runs_even_when_nothing_else_is_ready(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_ready_with_a_bound_gateway_and_a_leading_scheduler(client, db, now):
    beat(db, now)
    lease(db, now)
    assert readiness(client) == (200, {"status": "ready"})


def test_no_gateway_heartbeat_at_all_is_not_ready(client, db, now):
    lease(db, now)
    assert readiness(client) == (503, {"status": "not ready", "reasons": [GATEWAY_REASON]})


def test_a_stale_gateway_heartbeat_is_not_ready(client, db, now):
    beat(db, now - GATEWAY_STALE - timedelta(seconds=1))
    lease(db, now)
    assert readiness(client)[1]["reasons"] == [GATEWAY_REASON]


def test_a_gateway_that_said_it_is_unbound_is_not_ready_though_another_bound_one_is(client, db, now):
    beat(db, now, bound=False)
    lease(db, now)
    assert readiness(client)[1]["reasons"] == [GATEWAY_REASON]
    beat(db, now, worker_id="gw2")
    assert readiness(client)[0] == 200


def test_an_expired_or_released_scheduler_lease_is_not_ready(client, db, now):
    beat(db, now)
    lease(db, now - timedelta(seconds=31))
    assert readiness(client) == (503, {"status": "not ready", "reasons": [SCHEDULER_REASON]})
    lease(db, now)
    assert readiness(client)[0] == 200
    release_lease("sched", now=now)
    db.session.commit()
    assert readiness(client)[1]["reasons"] == [SCHEDULER_REASON]


def test_a_database_that_does_not_answer_is_not_ready_and_says_no_more(settings, tmp_path):
    gone = replace(settings, database_url=f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.sqlite3'}")
    app = create_app(gone)
    app.test_client_class = ConsoleClient
    with app.app_context():
        client = app.test_client()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json == {"status": "not ready", "reasons": ["database unreachable"]}
        assert client.get("/healthz").status_code == 200


def test_the_gateway_worker_writes_its_heartbeat_through_the_callback(app, client, db, now):
    lease(db, now)
    gateway = start_gateway(app, GatewayConfig(transport="sandbox", poll_secs=0.02, worker_id="gw-test"))
    try:
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10, message="ready")
    finally:
        assert gateway.stop(10)
    assert readiness(client)[1]["reasons"] == [GATEWAY_REASON]


@pytest.fixture
def silent_postgres():
    """A TCP port that accepts connections and never says a word: a PostgreSQL server that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"postgresql+psycopg://mcrm:secret@127.0.0.1:{server.getsockname()[1]}/mcrm"
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


def _readyz_within(app, seconds: float):
    """/readyz's answer, or None when none came within ``seconds`` (the request is left hanging)."""
    answer = []

    def ask():
        with app.app_context():
            answer.append(app.test_client().get("/readyz"))

    asking = threading.Thread(target=ask, daemon=True)
    started = time.monotonic()
    asking.start()
    asking.join(seconds)
    return (answer[0] if answer else None), time.monotonic() - started


def test_a_database_that_accepts_and_never_answers_is_not_ready_within_3_seconds(settings, silent_postgres):
    app = create_app(replace(settings, database_url=silent_postgres))
    response, took = _readyz_within(app, 10)
    assert response is not None, "/readyz hung"
    assert response.status_code == 503 and took < 3, took
    assert response.json == {"status": "not ready", "reasons": ["database did not answer within 2 s"]}


def test_a_closed_postgresql_port_is_unreachable_at_once(settings):
    app = create_app(replace(settings, database_url=f"postgresql+psycopg://mcrm:secret@127.0.0.1:{free_port()}/mcrm"))
    response, took = _readyz_within(app, 10)
    assert response.json == {"status": "not ready", "reasons": ["database unreachable"]} and took < 3
