"""Login rate limits: per client address behind trusted proxies, and shared between web workers
through a real Redis server (MCRM_RATELIMIT_STORAGE)."""
import shutil
import socket
import subprocess
from dataclasses import replace

import pytest

from mcrm import create_app
from tests.conftest import csrf_token
from tests.smsc_peer import wait_until


def attempt(client, address=None) -> int:
    """One wrong login, as seen through a proxy that forwards ``address``."""
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/login", data={"username": "nobody", "password": "wrong-password",
                                       "csrf_token": csrf_token(client)}, headers=headers).status_code


@pytest.mark.parametrize("trusted_proxies, statuses", [
    (0, [200, 200, 429, 429, 429]),   # X-Forwarded-For is anyone's to write: the proxy's address counts
    (1, [200, 200, 200, 200, 429]),   # one trusted proxy: each client has its own limit
])
def test_forwarded_clients_are_limited_separately_only_behind_trusted_proxies(settings, db, trusted_proxies,
                                                                              statuses):
    app = create_app(replace(settings, login_rate_limit="2 per minute", trusted_proxies=trusted_proxies))
    db.session.commit()
    client = app.test_client()
    addresses = ["198.51.100.7", "198.51.100.7", "203.0.113.9", "203.0.113.9", "198.51.100.7"]
    assert [attempt(client, address) for address in addresses] == statuses


@pytest.fixture
def redis_url(tmp_path):
    """A throwaway redis-server on a free loopback port."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    return conn.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        wait_until(answers, timeout=10, message="redis-server")
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_web_workers_share_login_limits_through_redis(settings, db, redis_url):
    worker_settings = replace(settings, login_rate_limit="3 per minute", ratelimit_storage=redis_url)
    first = create_app(worker_settings).test_client()
    db.session.commit()
    assert [attempt(first) for _ in range(2)] == [200, 200]
    # another worker: a fresh storage object, so only a count kept in Redis can stop it
    second = create_app(worker_settings).test_client()
    assert [attempt(second) for _ in range(2)] == [200, 429]
