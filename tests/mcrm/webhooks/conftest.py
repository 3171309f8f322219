"""Fixtures of the webhook tests: a real HTTP receiver on loopback, endpoints, the delivery run."""
import http.server
import json
import threading
import time
from collections import deque
from dataclasses import replace

import pytest

from mcrm.webhooks import services
from mcrm.webhooks.delivery import deliver_due


@pytest.fixture
def settings(settings):
    """The suite's settings, with webhooks let to loopback (the receiver) and a short timeout."""
    return replace(settings, webhook_allow_private=True, webhook_timeout_secs=1, webhook_max_attempts=3)


class Receiver:
    """An HTTP server in a thread on 127.0.0.1 that records every POST and answers as scripted:
    ``answers`` holds, per request, a status code, ``("slow", seconds)`` (answers 200 after that
    long) or ``"hang"`` (answers only when the test ends); when empty, 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: deque = deque()
        self.released = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = receiver.answers.popleft() if receiver.answers else 200
                if answer == "hang":
                    receiver.released.wait(30)
                    answer = 200
                elif isinstance(answer, tuple):
                    time.sleep(answer[1])
                    answer = 200
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def events(self, path=None) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if path is None or r["path"] == path]

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app):
    """A Receiver, stopped before the app fixture ends (which waits for the test's threads)."""
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_endpoint(db, merchant, make_staff, now):
    """make_endpoint(url, events=[…], merchant=…) → (endpoint, secret), committed."""
    def make(url, events=("member.joined",), merchant=merchant):
        owner = make_staff("owner", merchant=merchant)
        endpoint, secret = services.create_endpoint(merchant, url=url, events=list(events), actor=owner, now=now,
                                                    allow_private=True)
        db.session.commit()
        return endpoint, secret
    return make


@pytest.fixture
def deliver(app, settings):
    """deliver(now) runs the delivery job's work once, as the scheduler would (budget: one pass)."""
    def run(now, **kwargs):
        return deliver_due(settings, now=now, **kwargs)
    return run
