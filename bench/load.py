"""Bounded load test (issue 15): tills recording purchases through the API while a campaign sends.

    scripts/with-postgres.sh .venv/bin/python bench/load.py [--minutes 5] [--clients 200]
        [--campaign 100000] [--workers 4] [--gateways 2] [--hot-members 2000] [--retries 0.05]
        [--database-url URL]

On loopback, the production layout of docs/deployment.md: PostgreSQL (``--database-url``, else
``MCRM_TEST_DATABASE_URL`` as scripts/with-postgres.sh exports it; the bench works in a schema of
its own, ``mcrm_load``, dropped and made afresh), gunicorn with ``--workers`` workers serving
wsgi:app, ``--gateways`` ``mcrm gateway`` processes bound to the project's SMSC peer
(tests/smsc_peer) and one ``mcrm scheduler``.

1. seeds ``--campaign`` members (bench/members.py, none opted out) and one write token per client;
2. launches a campaign to every member through the API and has ``mcrm jobs run
   dispatch_campaigns`` queue it at once (the scheduler would start it within its minute);
3. ``--clients`` threads, each a till with its own token and keep-alive connection, record
   purchases (``POST /api/v1/purchases`` with a client key) for ``--minutes`` minutes on
   ``--hot-members`` members, so that many land on the same member at once. A request that fails
   on the way (timeout, lost connection, 5xx) is sent again with its key until answered; a share
   ``--retries`` of the answered ones is sent again too (a till that lost the answer), and must be
   answered ``Idempotent-Replayed`` with the same ledger entry;
4. prints requests/s, p50/p95/p99, answers and errors by code, and the campaign's messages/s
   (queued, and delivered from the launch to its last receipt), with the load average;
5. checks that no purchase was lost or doubled (each accepted key's entry is in the ledger, and
   every purchase line of the run belongs to exactly one stored key) and that every member's
   balance equals the sum of its ledger, and exits 1 when not (2 when the layout never got ready).
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, time as day_time, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from gateway import PASSWORD, SYSTEM_ID  # noqa: E402  (bench/gateway.py)
from members import seed  # noqa: E402  (bench/members.py)
from mcrm import create_app  # noqa: E402
from mcrm.api.models import ApiRequest  # noqa: E402
from mcrm.api.services import create_token  # noqa: E402
from mcrm.auth.services import create_staff  # noqa: E402
from mcrm.db import read_only  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.jobs.models import JobRun, RunStatus  # noqa: E402
from mcrm.members.models import Member  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.messaging.models import MessageKind, MessageStatus, OutboundMessage  # noqa: E402
from mcrm.points.models import EntryKind, PointsEntry  # noqa: E402
from mcrm.settings import Settings  # noqa: E402
from tests.smsc_peer import SmscPeer, wait_until  # noqa: E402

BIN = Path(sys.executable).parent
SCHEMA = "mcrm_load"
AMOUNTS = (18, 38, 58, 88, 128, 168, 236, 388)
KEY_PREFIX = "load-"


def in_schema(url: str) -> str:
    """``url`` with the bench's own schema first on the search path: the database's other
    tables (a test suite's) are never touched."""
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{SCHEMA}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------ set-up
def prepare(url: str, folder: Path, members: int, clients: int) -> tuple[object, int, list[str]]:
    """The app on a fresh ``mcrm_load`` schema, the merchant, its members and one token per client."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    app = create_app(Settings(env="test", instance_path=str(folder), database_url=in_schema(url),
                              secret_key="b" * 40).with_defaults())
    with app.app_context():
        upgrade()
        merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
        # the whole day is the sending window: the bench measures the same whatever its hour
        merchant.send_window_start, merchant.send_window_end = day_time(0, 0), day_time(23, 59, 59)
        db.session.commit()
        seed(merchant, 0, members, random.Random(2026))
        now = datetime.now(UTC)
        db.session.execute(sa.update(Member).values(opted_out=False, opted_out_at=None))
        # the seeded points last a year from now: a new scheduler first runs each job it finds no
        # run of, and expiring the seeded ledger would hold members locked for minutes (and has
        # deadlocked with that catch-up's refresh_tiers on PostgreSQL)
        db.session.execute(sa.update(PointsEntry).values(expires_at=now + timedelta(days=365)))
        owner = create_staff(merchant, username="owner", password="load-test-2026", role="owner")
        tokens = [create_token(merchant, name=f"till {n}", scope="write", actor=owner, now=now)[1]
                  for n in range(clients)]
        db.session.commit()
        merchant_id = merchant.id
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return app, merchant_id, tokens


class Layout:
    """gunicorn, the gateways and the scheduler, each logging to a file in ``folder``."""

    def __init__(self, env: dict, folder: Path):
        self.env, self.folder, self.processes = env, folder, {}

    def start(self, name: str, command: list[str], **env) -> None:
        with (self.folder / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(command, cwd=ROOT, env={**self.env, **env},
                                                    stdin=subprocess.DEVNULL, stdout=log,
                                                    stderr=subprocess.STDOUT)

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to each (web last: the others may still be finishing), then their exit codes."""
        codes = {}
        for name in sorted(self.processes, key=lambda n: n == "web"):
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                codes[name] = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait(10)
        return codes


def ready(base: str) -> bool:
    try:
        return requests.get(base + "/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def wait_for_catch_up(app, quiet: float = 3.0, timeout: float = 300) -> None:
    """Until the scheduler's first runs (a new scheduler runs each job it finds no run of: the
    seeded ledger's expiry, tiers) are over: they lock members, so their minutes are not the
    tills' figures."""
    def running() -> int | None:
        with app.app_context():
            runs = db.session.execute(sa.select(sa.func.count(), sa.func.count().filter(
                JobRun.status == RunStatus.RUNNING))).one()
            db.session.rollback()
        return runs[1] if runs[0] else None

    deadline = time.monotonic() + timeout
    calm_since = None
    while time.monotonic() < deadline:
        if running() == 0:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= quiet:
                return
        else:
            calm_since = None
        time.sleep(0.5)


# ------------------------------------------------------------------------------------------ tills
@dataclass
class Till:
    """One client's record: every answer's time, status and outcome, its accepted keys and entries."""
    latencies: list[float] = field(default_factory=list)
    codes: collections.Counter = field(default_factory=collections.Counter)
    accepted: dict[str, int] = field(default_factory=dict)        # key → ledger entry id
    unresolved: list[str] = field(default_factory=list)           # never answered despite retries
    replays: int = 0
    replay_mismatches: list[str] = field(default_factory=list)


def run_till(number: int, base: str, token: str, args, deadline: float, rng: random.Random) -> Till:
    till = Till()
    session = requests.Session()
    session.trust_env = False          # loopback only, never through a proxy from the environment
    session.headers["Authorization"] = f"Bearer {token}"
    url = base + "/api/v1/purchases"

    def send(payload) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = session.post(url, json=payload, timeout=30)
        except requests.RequestException as error:
            till.codes[type(error).__name__] += 1
            return None
        till.latencies.append(time.perf_counter() - started)
        till.codes[response.status_code] += 1
        return response

    sale = 0
    while time.monotonic() < deadline:
        sale += 1
        key = f"{KEY_PREFIX}{number}-{sale}"
        payload = {"member_id": rng.randint(1, args.hot_members), "amount": rng.choice(AMOUNTS),
                   "client_key": key, "confirmed": True}
        for attempt in range(8):
            response = send(payload)
            if response is not None and response.status_code == 201:
                till.accepted[key] = response.json()["entry"]["id"]
                break
            if response is not None and response.status_code == 429:
                time.sleep(min(float(response.headers.get("Retry-After", 1)), 1.0))
            elif response is not None and response.status_code < 500:
                break                    # refused: nothing was stored, the till would correct it
            else:
                time.sleep(0.2 * (attempt + 1))
        else:
            till.unresolved.append(key)
        if key in till.accepted and rng.random() < args.retries:
            again = send(payload)
            till.replays += 1
            if (again is None or again.status_code != 201
                    or again.headers.get("Idempotent-Replayed") != "true"
                    or again.json()["entry"]["id"] != till.accepted[key]):
                till.replay_mismatches.append(key)
    session.close()
    return till


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0.95: p95; 1.0: the largest) of ``values``, 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# ------------------------------------------------------------------------------------------ checks
def check(app, merchant_id: int, tills: list[Till], started_at: datetime) -> list[str]:
    """What is wrong with the ledger afterwards: lost, doubled or mismatched purchases, balances
    that are not the sum of their ledger. Empty when all holds."""
    accepted = {key: entry for till in tills for key, entry in till.accepted.items()}
    problems = []
    with app.app_context(), read_only():
        stored = {key: ((body or {}).get("entry") or {}).get("id") for key, body in db.session.execute(
            sa.select(ApiRequest.key, ApiRequest.body).where(ApiRequest.merchant_id == merchant_id,
                                                             ApiRequest.key.startswith(KEY_PREFIX)))}
        entries = collections.Counter(db.session.scalars(sa.select(PointsEntry.id).where(
            PointsEntry.merchant_id == merchant_id, PointsEntry.kind == EntryKind.EARN,
            PointsEntry.created_at >= started_at)))
        lost = [key for key, entry in accepted.items() if entry not in entries]
        mismatched = [key for key, entry in accepted.items() if stored.get(key) != entry]
        owners = collections.Counter(entry for entry in stored.values() if entry is not None)
        doubled = [entry for entry in entries if owners[entry] != 1]
        balances = db.session.execute(sa.text(
            "SELECT count(*) FROM members m WHERE m.merchant_id = :merchant AND m.points_balance <> "
            "(SELECT coalesce(sum(e.points), 0) FROM points_entries e WHERE e.member_id = m.id)"),
            {"merchant": merchant_id}).scalar_one()
        db.session.rollback()
    if lost:
        problems.append(f"{len(lost)} accepted purchases are not in the ledger, e.g. {lost[:3]}")
    if mismatched:
        problems.append(f"{len(mismatched)} keys stored another entry than answered, e.g. {mismatched[:3]}")
    if doubled:
        problems.append(f"{len(doubled)} purchase lines of the run belong to no key or to several, "
                        f"e.g. entries {doubled[:3]}")
    if balances:
        problems.append(f"{balances} members' balances differ from the sum of their ledger")
    replay_mismatches = [key for till in tills for key in till.replay_mismatches]
    if replay_mismatches:
        problems.append(f"{len(replay_mismatches)} retries were not answered with the first answer, "
                        f"e.g. {replay_mismatches[:3]}")
    return problems


def campaign_figures(app, merchant_id: int, launched_at: datetime) -> dict:
    with app.app_context():
        row = db.session.execute(sa.select(
            sa.func.count(), sa.func.count(OutboundMessage.delivered_at),
            sa.func.max(OutboundMessage.created_at), sa.func.max(OutboundMessage.delivered_at),
            sa.func.count().filter(OutboundMessage.status.in_((MessageStatus.FAILED, MessageStatus.EXPIRED))))
            .where(OutboundMessage.merchant_id == merchant_id,
                   OutboundMessage.kind == MessageKind.MARKETING)).one()
        db.session.rollback()
    queued, delivered, last_queued, last_delivered, failed = row
    return {"queued": queued, "delivered": delivered, "failed": failed,
            "queued_per_s": queued / max((last_queued - launched_at).total_seconds(), 1e-3) if queued else 0,
            "delivered_per_s": delivered / max((last_delivered - launched_at).total_seconds(), 1e-3)
            if delivered else 0,
            "seconds_to_last_receipt": (last_delivered - launched_at).total_seconds() if delivered else None}


# ------------------------------------------------------------------------------------------ the run
def run(args) -> int:
    url = args.database_url or os.environ.get("MCRM_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        print("bench/load.py needs PostgreSQL: --database-url, or run it under scripts/with-postgres.sh",
              file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="mcrm-bench-load-"))
    seeding = time.perf_counter()
    app, merchant_id, tokens = prepare(url, folder, args.campaign, args.clients)
    print(f"seeded {args.campaign:,} members and {args.clients} tokens in "
          f"{time.perf_counter() - seeding:.0f} s; logs in {folder}", flush=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    peer = SmscPeer(system_id=SYSTEM_ID, password=PASSWORD, records=False).start()
    env = {**os.environ, "MCRM_ENV": "production", "DATABASE_URL": in_schema(url),
           "SECRET_KEY": secrets.token_hex(32), "MCRM_INSTANCE_PATH": str(folder), "MCRM_LOG_FORMAT": "json",
           # one limit per till, and the tills are the load: the limit must not be what is measured
           "MCRM_API_RATE_LIMIT": "100000 per minute", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "SMPP_TRANSPORT": "smpp", "SMPP_HOST": peer.host, "SMPP_PORT": str(peer.port),
           "SMPP_SYSTEM_ID": SYSTEM_ID, "SMPP_PASSWORD": PASSWORD, "SMPP_TPS": "0", "SMPP_WINDOW": "50",
           "SMPP_BATCH_SIZE": "200"}
    layout = Layout(env, folder)
    tills: list[Till] = []
    loads = [os.getloadavg()[0]]
    try:
        layout.start("web", [str(BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "--workers",
                             str(args.workers), "--bind", f"127.0.0.1:{port}", "wsgi:app"])
        layout.start("scheduler", [str(BIN / "mcrm"), "scheduler"])
        for n in range(1, args.gateways + 1):
            layout.start(f"gw{n}", [str(BIN / "mcrm"), "gateway"], SMPP_WORKER_ID=f"gw{n}")
        try:
            wait_until(lambda: ready(base), timeout=120, interval=0.5, message="/readyz")
        except AssertionError:
            print(f"the layout never got ready: see the logs in {folder}", file=sys.stderr)
            return 2
        catching_up = time.perf_counter()
        wait_for_catch_up(app)
        print(f"ready; the scheduler's first runs took {time.perf_counter() - catching_up:.0f} s", flush=True)

        started_at = datetime.now(UTC)
        answer = requests.post(base + "/api/v1/campaigns", timeout=60, headers={
            "Authorization": f"Bearer {tokens[0]}", "Idempotency-Key": "load-campaign"},
            json={"name": "周末特惠", "body": "{name}您好，本周末全场八折，欢迎光临", "launch": True})
        answer.raise_for_status()
        layout.start("dispatch", [str(BIN / "mcrm"), "jobs", "run", "dispatch_campaigns"])
        print(f"campaign {answer.json()['id']} launched; {args.clients} tills for {args.minutes:g} min "
              f"(gunicorn {args.workers} workers, {args.gateways} gateways)", flush=True)

        deadline = time.monotonic() + args.minutes * 60
        results: list[Till | None] = [None] * args.clients
        sampler_stop = threading.Event()

        def sample_load():
            while not sampler_stop.wait(10):
                loads.append(os.getloadavg()[0])

        def till(n):
            results[n] = run_till(n, base, tokens[n], args, deadline, random.Random(n))

        threads = [threading.Thread(target=till, args=(n,), name=f"till-{n}") for n in range(args.clients)]
        sampler = threading.Thread(target=sample_load, daemon=True)
        sampler.start()
        clock = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - clock
        sampler_stop.set()
        loads.append(os.getloadavg()[0])
        tills = [result for result in results if result is not None]
        during = campaign_figures(app, merchant_id, started_at)

        def finished() -> bool:
            figures = campaign_figures(app, merchant_id, started_at)
            return figures["delivered"] + figures["failed"] >= args.campaign

        try:   # the campaign goes on until its last receipt (or --campaign-wait), for its own rate
            wait_until(finished, timeout=args.campaign_wait, interval=1,
                       message="the campaign's last receipt")
        except AssertionError as error:
            print(f"note: {error}", flush=True)
    finally:
        codes = layout.stop()
        peer.stop()

    campaign = campaign_figures(app, merchant_id, started_at)
    latencies = [s for till in tills for s in till.latencies]
    answered = len(latencies)
    by_code = collections.Counter()
    for till in tills:
        by_code.update(till.codes)
    errors = {code: count for code, count in by_code.items() if code not in (200, 201)}
    accepted = sum(len(till.accepted) for till in tills)
    print(f"requests: {answered:,} answered in {seconds:.0f} s = {answered / seconds:,.1f} requests/s; "
          f"purchases accepted {accepted:,} ({accepted / seconds:,.1f}/s), retries of answered ones "
          f"{sum(t.replays for t in tills):,}, never answered {sum(len(t.unresolved) for t in tills)}")
    p50, p95, p99, most = (quantile(latencies, q) * 1000 for q in (0.50, 0.95, 0.99, 1.0))
    print(f"latency ms: p50 {p50:.0f}, p95 {p95:.0f}, p99 {p99:.0f}, max {most:.0f}")
    print(f"answers by code: {dict(sorted(by_code.items(), key=str))}; errors: {errors or 'none'}")
    print(f"campaign: {campaign['queued']:,} queued at {campaign['queued_per_s']:,.0f} msg/s; "
          f"{during['delivered']:,} delivered during the load, {campaign['delivered']:,} in all at "
          f"{campaign['delivered_per_s']:,.0f} msg/s from the launch to the last receipt "
          f"({campaign['seconds_to_last_receipt'] or 0:.0f} s); failed {campaign['failed']}")
    print(f"load average (1 min) over the run: {min(loads):.1f} to {max(loads):.1f}, "
          f"median {statistics.median(loads):.1f}; exit codes {codes}")
    problems = check(app, merchant_id, tills, started_at) if tills else ["no till ran"]
    bad_exits = {name: code for name, code in codes.items() if code != 0}
    if bad_exits:
        problems.append(f"processes that did not stop cleanly: {bad_exits} (logs in {folder})")
    for problem in problems:
        print(f"FAILED: {problem}")
    if not problems:
        print(f"OK: no purchase lost or doubled ({accepted:,} accepted), every balance equals its ledger")
    with app.app_context():
        db.engine.dispose()
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--campaign", type=int, default=100_000, help="members, each sent the campaign")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--hot-members", type=int, default=2000, help="the members the tills buy for")
    parser.add_argument("--retries", type=float, default=0.05, help="share of answered purchases sent again")
    parser.add_argument("--campaign-wait", type=float, default=600,
                        help="seconds to wait after the load for the campaign's last receipt")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)
    args.hot_members = min(args.hot_members, args.campaign)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
