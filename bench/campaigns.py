"""Benchmark: campaigns at a million members on SQLite (and PostgreSQL when given).

    .venv/bin/python bench/campaigns.py [--members 1000000] [--send-members 100000] [--database-url URL]
                                        [--keep PATH | --reuse] [--no-baseline]

1. seeds ``--members`` members with ledgers and tags as bench/members.py does (Core bulk inserts,
   not timed) and times the five segment counts of bench/segments.py (p50/p95);
2. a campaign with the member's name and points to every member: launched and queued through
   ``dispatch_due`` (the job's own work: the segment's snapshot, batches, the marketing rules per
   batch, the outbox inserts). Prints messages queued per second, the CPU, and the process's RSS
   before, at its peak while queuing (sampled every 20 ms) and after; then (unless
   ``--no-baseline``) the same the next day with every text built in Python, for a ratio;
3. ``--send-members`` members in a fresh database (a copy of ``--keep`` when it is as many as
   ``--members``): the same campaign from the click (create, launch, dispatch) through the gateway
   to the SMSC peer until the last receipt is stored.
   Prints messages/s end to end. (The gateway does some 2,000-3,000 msg/s here, so a million would
   take minutes; the default sends a tenth of it.)
Seeding a million takes minutes: ``--keep PATH`` keeps a seeded SQLite file (each run queues into a
copy), ``--reuse`` keeps PostgreSQL's schema when it holds the seeded members (its outbox and
campaigns are emptied first; the send phase, which needs a fresh database, is then left out).
Targets (issue 12): counts p95 under 300 ms; at least 50,000 messages/s queued, memory flat.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, time as day_time, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from gateway import PASSWORD, SYSTEM_ID, rss_mb  # noqa: E402  (bench/gateway.py)
from members import NOW, analyze, seed  # noqa: E402  (bench/members.py: the same million members)
from segments import SEGMENTS  # noqa: E402  (bench/segments.py: the same five segments)
from mcrm import create_app  # noqa: E402
from mcrm.campaigns import services as campaigns  # noqa: E402
from mcrm.db import read_only  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.members.models import Member  # noqa: E402
from mcrm.merchants.models import Merchant  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.messaging.models import MessageStatus, OutboundMessage  # noqa: E402
from mcrm.messaging.store import SqlMessageStore  # noqa: E402
from mcrm.segments.services import count_members  # noqa: E402
from mcrm.settings import Settings  # noqa: E402
from sms_gateway import Gateway, GatewayConfig  # noqa: E402
from tests.smsc_peer import SmscPeer  # noqa: E402

BODY = "{name}您好，您有{points}积分，本周末全场八折，欢迎光临"


class RssSampler(threading.Thread):
    """The process's resident memory every 20 ms while it runs: the peak of a phase, not of the run."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running, self.samples = rss_mb(), True, []

    def run(self):
        while self.running:
            self.samples.append(rss_mb())
            self.peak = max(self.peak, self.samples[-1])
            time.sleep(0.02)

    def at(self, fraction: float) -> float:
        """RSS that far into the phase (0.5: half-way), to tell a plateau from a climb."""
        return self.samples[min(len(self.samples) - 1, int(len(self.samples) * fraction))]

    def stop(self) -> float:
        self.running = False
        self.join()
        return self.peak


def _app(url: str | None, label: str, keep: str | None = None, reuse: bool = False):
    """The app on a fresh database: ``url``'s schema emptied, or a new SQLite file; with ``keep``, a
    copy of that kept SQLite file (queuing then never changes the kept members); with ``reuse``,
    ``url``'s members as they are, its outbox and campaigns emptied."""
    folder = Path(tempfile.mkdtemp(prefix=f"mcrm-bench-campaigns-{label}-"))
    if url and reuse:
        engine = sa.create_engine(url)
        if sa.inspect(engine).has_table("outbound_messages"):   # (else the run seeds it)
            with engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE outbound_messages, campaign_recipients, campaign_runs, "
                                     "campaigns CASCADE"))
        engine.dispose()
    elif url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    elif keep and Path(keep).exists():
        shutil.copyfile(keep, folder / "bench.sqlite3")
    url = url or f"sqlite:///{folder / 'bench.sqlite3'}"
    settings = Settings(env="test", instance_path=str(folder), database_url=url,
                        secret_key="b" * 40).with_defaults()
    return create_app(settings), folder


def _seeded(members: int) -> Merchant:
    """The bench merchant with ``members`` members: seeded, or found in a kept copy (then migrated)."""
    upgrade()
    merchant = db.session.scalar(sa.select(Merchant).where(Merchant.sub_code == "01"))
    if merchant is None:
        merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
        db.session.commit()
        start = time.perf_counter()
        seed(merchant, 0, members, random.Random(2026))
        analyze()
        print(f"{db.engine.dialect.name}: seeded {members:,} members in {time.perf_counter() - start:.0f} s",
              flush=True)
    elif (kept := db.session.scalar(sa.select(sa.func.count()).where(
            Member.merchant_id == merchant.id))) != members:
        sys.exit(f"the kept database holds {kept:,} members, not {members:,}: remove it to seed again")
    # the whole day is the sending window, so that the bench measures the same whatever its hour
    merchant.send_window_start, merchant.send_window_end = day_time(0, 0), day_time(23, 59, 59)
    db.session.commit()
    return db.session.get(Merchant, merchant.id)


def segment_counts(merchant_id: int, samples: int) -> None:
    print(f"{'segment':76} {'p50':>7} {'p95':>7} {'members':>9}")
    for name, definition in SEGMENTS.items():
        count = count_members(merchant_id, definition, now=NOW)
        walls = []
        for _ in range(samples):
            wall = time.perf_counter()
            count_members(merchant_id, definition, now=NOW)
            walls.append((time.perf_counter() - wall) * 1000)
            db.session.rollback()
        p95 = statistics.quantiles(walls, n=20)[18] if len(walls) > 1 else walls[0]
        print(f"{name:76} {statistics.median(walls):7.1f} {p95:7.1f} {count:9,}", flush=True)


def queue_everyone(merchant_id: int, baseline: bool) -> None:
    """A campaign to every member, queued by the dispatch job's work; messages/s, CPU and RSS. With
    ``baseline``, the same again the next day with every text built in Python (the way before the
    INSERT ... SELECT), for a ratio taken in the same process at the same load."""
    sql = queue_campaign(merchant_id, NOW, "texts in SQL")
    if baseline:
        in_sql, campaigns._texts_in_sql = campaigns._texts_in_sql, lambda campaign, merchant: None
        try:
            python = queue_campaign(merchant_id, NOW + timedelta(days=1), "texts in Python")
        finally:
            campaigns._texts_in_sql = in_sql
        print(f"texts in SQL / texts in Python: {sql / python:.2f} times the messages/s", flush=True)
    raw = raw_insert(merchant_id, min(100_000, db.session.scalar(
        sa.select(sa.func.count()).select_from(OutboundMessage))))
    print(f"raw INSERT of such rows into the same outbox (the driver's executemany, 2,000 a transaction, "
          f"nothing else): {raw:,.0f} rows/s; the campaign (texts in SQL) queued at {sql / raw:.0%} of that",
          flush=True)


def queue_campaign(merchant_id: int, now: datetime, label: str) -> float:
    """One campaign to every member queued at ``now``; prints and returns its messages/s."""
    db.session.remove()
    merchant = db.session.get(Merchant, merchant_id)
    rss_before = rss_mb()
    sampler = RssSampler()
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    campaign = campaigns.create_campaign(merchant, name=label, body=BODY, now=now, actor_label="bench")
    campaigns.launch_campaign(campaign, now=now)
    db.session.commit()
    launched = time.perf_counter()
    queued = campaigns.dispatch_due(now=now)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = sampler.stop()
    occasions = [run.occasion for run in db.session.get(type(campaign), campaign.id).runs]
    suppressed = db.session.execute(sa.select(OutboundMessage.suppressed_reason, sa.func.count()).where(
        OutboundMessage.occasion.in_(occasions), OutboundMessage.status == MessageStatus.SUPPRESSED)
        .group_by(OutboundMessage.suppressed_reason)).all()
    reasons = ", ".join(f"{count:,} {reason}" for reason, count in suppressed) or "none"
    print(f"{label}: queued {queued:,} messages (suppressed: {reasons}) in {seconds:.1f} s, CPU {cpu:.1f} s "
          f"(launch and preview {launched - start:.1f} s): {queued / seconds:,.0f} messages/s, "
          f"{queued / cpu:,.0f} per CPU second; RSS before {rss_before:.0f} MB, peak {peak:.0f} MB, after "
          f"{rss_mb():.0f} MB; at 10/50/90% of the time {sampler.at(0.1):.0f}/{sampler.at(0.5):.0f}/"
          f"{sampler.at(0.9):.0f} MB; load average {os.getloadavg()[0]:.1f}", flush=True)
    return queued / seconds


def raw_insert(merchant_id: int, total: int) -> float:
    """The database's own ceiling for the outbox rows a campaign writes, with its indexes as they
    are: rows like the campaign's (a new occasion and keys) through the driver, nothing else."""
    rows = db.session.execute(sa.select(OutboundMessage.member_id, OutboundMessage.msisdn,
                                        OutboundMessage.body,
                                        OutboundMessage.text).order_by(OutboundMessage.id).limit(total)).all()
    db.session.rollback()
    columns = ("merchant_id", "member_id", "msisdn", "body", "text", "kind", "parts", "status", "attempts",
               "idempotency_key", "occasion", "created_at")
    mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO outbound_messages ({', '.join(columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))}) "
           "ON CONFLICT (idempotency_key) DO NOTHING")
    created = OutboundMessage.__table__.c.created_at.type.bind_processor(db.engine.dialect)(NOW)
    start = time.perf_counter()
    for first in range(0, total, 2000):
        with db.engine.begin() as conn:
            conn.exec_driver_sql(sql, [(merchant_id, member_id, msisdn, body, text, "marketing", 1,
                                        "queued", 0,
                                        f"raw:{member_id:010d}", "raw", created)
                                       for member_id, msisdn, body, text in rows[first:first + 2000]])
    return total / (time.perf_counter() - start)


def send_through_gateway(url: str | None, members: int, keep: str | None = None) -> None:
    """From the click to the last receipt stored, through the gateway and the SMSC peer; on a copy of
    ``keep`` (the kept SQLite file of as many members), or a fresh database."""
    app, folder = _app(url, "send", keep)
    with app.app_context(), SmscPeer(system_id=SYSTEM_ID, password=PASSWORD, records=False) as peer:
        merchant_id = _seeded(members).id
        config = GatewayConfig(transport="smpp", host=peer.host, port=peer.port, system_id=SYSTEM_ID,
                               password=PASSWORD, tps=0, window=100, batch_size=500, poll_secs=0.05)
        gateway = Gateway(config, SqlMessageStore(app))
        gateway.start()
        db.session.remove()
        merchant = db.session.get(Merchant, merchant_id)
        start = time.perf_counter()
        now = datetime.now(UTC)
        campaign = campaigns.create_campaign(merchant, name="全员", body=BODY, now=now, actor_label="bench")
        campaigns.launch_campaign(campaign, now=now)
        db.session.commit()
        queued = campaigns.dispatch_due(now=now)
        queued_at = time.perf_counter()
        db.session.remove()
        while True:
            time.sleep(0.05)
            with read_only():
                waiting = db.session.scalar(sa.select(OutboundMessage.id).where(OutboundMessage.status.in_(
                    (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SUBMITTED))).limit(1))
                db.session.rollback()
            if waiting is None:
                break
        seconds = time.perf_counter() - start
        gateway.stop(30)
        with read_only():
            delivered = db.session.scalar(sa.select(sa.func.count()).where(
                OutboundMessage.status == MessageStatus.DELIVERED))
        print(f"sent {delivered:,} of {queued:,} (the rest opted out) from the click to the last receipt in "
              f"{seconds:.1f} s (queued after {queued_at - start:.1f} s): "
              f"{delivered / seconds:,.0f} messages/s; "
              f"SMSC accepted {peer.stats()['accepted']:,}", flush=True)
    shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--send-members", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("MCRM_BENCH_DATABASE_URL")
                        or os.environ.get("MCRM_TEST_DATABASE_URL"))
    parser.add_argument("--keep", metavar="PATH",
                        help="SQLite file of seeded members (bench/segments.py --keep makes the same): "
                             "seeded once, then each run queues into a copy of it")
    parser.add_argument("--reuse", action="store_true",
                        help="PostgreSQL: keep the schema of a run before (its members seeded; its outbox "
                             "and campaigns are emptied)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the second campaign with every text built in Python")
    args = parser.parse_args()
    if args.reuse and (not args.database_url or args.send_members):
        parser.error("--reuse is for PostgreSQL's seeded members, with --send-members 0")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    keep = None if args.database_url else args.keep
    app, folder = _app(args.database_url, "queue", keep, args.reuse)
    with app.app_context():
        merchant_id = _seeded(args.members).id
        if keep and not Path(keep).exists():
            db.session.remove()
            with sqlite3.connect(folder / "bench.sqlite3") as seeded, sqlite3.connect(keep) as kept:
                seeded.backup(kept)   # (with what the WAL holds)
        segment_counts(merchant_id, args.samples)
        queue_everyone(merchant_id, args.baseline)
    shutil.rmtree(folder)
    if args.send_members:
        send_through_gateway(args.database_url, args.send_members,
                             keep if keep and args.send_members == args.members else None)


if __name__ == "__main__":
    main()
