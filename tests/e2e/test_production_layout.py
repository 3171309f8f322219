"""The production layout of docs/deployment.md, on this machine: PostgreSQL, gunicorn with three
workers serving wsgi:app, two ``mcrm gateway`` workers against the SMSC peer and one ``mcrm
scheduler``. Traffic runs (3,000 SMS, HTTP clients), then each process gets SIGTERM mid-work: the
request in flight is answered, the gateway finishes its window, unbinds and hands its claims back,
the scheduler finishes its job; nothing is lost or sent twice."""
from __future__ import annotations

import collections
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from mcrm.jobs.models import JobRun, RunStatus
from mcrm.messaging.models import MessageStatus, OutboundMessage
from tests.e2e.test_gateway_smsc import MCRM, count, delivered, fill_outbox, process_env, smpp_env
from tests.e2e.test_gateway_smsc import smsc  # noqa: F401  (the fixture)
from tests.mcrm.test_startup import free_port
from tests.smsc_peer import wait_until

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
TOTAL = 3000


class Layout:
    """The processes, each logging to its own file in ``folder``."""

    def __init__(self, env: dict, folder: Path):
        self.env, self.folder, self.processes = env, folder, {}

    def start(self, name: str, command: list[str], **env) -> subprocess.Popen:
        with (self.folder / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(command, cwd=ROOT, env={**self.env, **env},
                                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return self.processes[name]

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()

    def stop(self, name: str, timeout: float) -> int:
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def kill_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Clients:
    """HTTP clients hitting the console's pages and probes until stopped; counts answers and errors."""

    PATHS = ("/healthz", "/login", "/login/code/", "/readyz", "/metrics")

    def __init__(self, base: str, threads: int = 4):
        self.base, self.stop, self.answers, self.errors = base, threading.Event(), 0, []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]

    def run(self, n: int):
        i = n
        while not self.stop.is_set():
            path = self.PATHS[i % len(self.PATHS)]
            i += 1
            try:
                status, _ = get(self.base + path)
                ok = status == 200 or (path == "/readyz" and status == 503)
            except OSError as error:
                ok, status = False, repr(error)
            with self.lock:
                if ok:
                    self.answers += 1
                else:
                    self.errors.append((path, status))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def slow_post(port: int) -> tuple[socket.socket, bytes]:
    """A POST whose body is partly sent (the worker is inside the request, reading it), and the rest."""
    body = b"username=nobody&password=not-the-right-one"
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
    return sock, body[10:]


def metric_total(text: str, name: str) -> float:
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_production_layout_serves_sends_and_stops_gracefully(db, merchant, settings, smsc, tmp_path):
    numbers = fill_outbox(db, merchant, TOTAL)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = process_env(settings, MCRM_ENV="production", SMPP_TRANSPORT="smpp", MCRM_LOG_FORMAT="json",
                      PROMETHEUS_MULTIPROC_DIR=str(multiproc), MCRM_SCHEDULER_LEASE_SECS="3",
                      PYTHONPATH=str(ROOT), **smpp_env(smsc, SMPP_TPS=250, SMPP_WINDOW=20))
    layout = Layout(env, tmp_path)
    # a job that will be running when the scheduler is told to stop: the points table is locked
    blocker = db.engine.connect()
    blocking = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE points_entries IN ACCESS EXCLUSIVE MODE"))
    try:
        layout.start("web", [GUNICORN, "--config", "deploy/gunicorn.conf.py", "--workers", "3",
                             "--bind", f"127.0.0.1:{port}", "wsgi:app"])
        layout.start("scheduler", [MCRM, "scheduler"])
        wait_until(lambda: _serves(base), timeout=60, message="gunicorn to serve")
        with Clients(base) as clients:
            for n in (1, 2):
                layout.start(f"gw{n}", [MCRM, "gateway"], SMPP_WORKER_ID=f"gw{n}")
            wait_until(lambda: get(base + "/readyz")[0] == 200, timeout=60, message="ready: gateways, scheduler")
            wait_until(lambda: blocked_run(db) is not None, timeout=30, message="a job waiting on the lock")

            # a gateway stopped mid-campaign finishes its window, unbinds and hands back its claims
            wait_until(lambda: smsc.stats()["accepted"] >= TOTAL // 4, timeout=60, message="a quarter sent")
            assert layout.stop("gw1", timeout=30) == 0, layout.log("gw1")
            assert count(db, OutboundMessage.claim_id == "gw1") == 0
            assert "esme" in [r["by"] for r in smsc.records("unbind")]
            wait_until(lambda: delivered(db) == TOTAL, timeout=120, interval=0.2, message="all delivered by gw2")

            status, text = get(base + "/metrics")
            assert status == 200
        # every worker's requests are in one sum (multiprocess mode), not one worker's share
        assert metric_total(text, "mcrm_http_request_duration_seconds_count") >= clients.answers * 0.9
        assert metric_total(text, "mcrm_outbox_messages") == TOTAL
        assert not clients.errors, clients.errors[:5]
        assert clients.answers > 50

        # the scheduler waits for its running job before it exits
        layout.processes["scheduler"].send_signal(signal.SIGTERM)
        time.sleep(2)
        assert layout.processes["scheduler"].poll() is None, "the scheduler left its job unfinished"
        run_id = blocked_run(db)
        blocking.rollback()
        assert layout.processes["scheduler"].wait(60) == 0, layout.log("scheduler")
        db.session.rollback()
        assert db.session.get(JobRun, run_id).status == RunStatus.OK
        assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun).where(
            JobRun.status.in_((RunStatus.RUNNING, RunStatus.INTERRUPTED)))) == 0
        db.session.rollback()

        # gunicorn answers the request in flight, then exits
        sock, rest = slow_post(port)
        time.sleep(1)
        layout.processes["web"].send_signal(signal.SIGTERM)
        time.sleep(1)
        sock.sendall(rest)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
        sock.close()
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]   # no CSRF token: refused, but answered
        assert layout.stop("gw2", timeout=30) == 0
        assert layout.processes["web"].wait(40) == 0, layout.log("web")
    finally:
        if blocker.in_transaction():
            blocking.rollback()
        blocker.close()
        layout.kill_all()

    sent = collections.Counter(r["destination_addr"] for r in smsc.records("submit_sm"))
    assert sorted(sent) == sorted(n[1:] for n in numbers), "every message reached the SMSC"
    assert set(sent.values()) == {1}, "none twice"
    assert count(db, OutboundMessage.status != MessageStatus.DELIVERED) == 0
    assert len({r["session"] for r in smsc.records("submit_sm")}) == 2, "both gateways sent"
    for name in ("gw1", "gw2", "scheduler", "web"):
        lines = layout.log(name).splitlines()
        assert lines and all(json.loads(line)["level"] for line in lines), name   # JSON lines only
        assert "Traceback" not in layout.log(name)


def _serves(base: str) -> bool:
    try:
        return get(base + "/healthz", timeout=30)[0] == 200
    except OSError:   # not listening yet
        return False


def blocked_run(db) -> int | None:
    """The scheduler's run that waits on the locked table."""
    run_id = db.session.scalar(sa.select(JobRun.id).where(JobRun.status == RunStatus.RUNNING,
                                                          JobRun.job_id == "expire_points"))
    db.session.rollback()
    return run_id
