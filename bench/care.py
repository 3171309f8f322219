"""Benchmark: the care runs at a million members on SQLite: birthdays, churn warning, win-back.

    .venv/bin/python bench/care.py [--members 1000000] [--small 100000] [--from PATH | --keep PATH]

Seeds the members of bench/members.py (Core bulk inserts, not timed), or copies ``--from PATH``
(a file ``bench/segments.py --keep`` seeded: it is only read, the copy is migrated to this
schema), or seeds ``--keep PATH`` once and copies it on later runs. Every tenth member with a
birthday is made lunar (the lunar month is the solar one's, the day spread over 1-30), so about
one member in 400 has a solar or lunar birthday on the bench's day, as in life. Then, through
``run_due_greetings`` (the care job's own work) with one greeting switched on at a time:

1. the day's birthday greetings, with gift points (more for 金卡): queued, suppressed, gifts;
2. the churn warning (30-day periods, spend fallen by 50 %): the scan of every member's spend in
   the last two periods, and queueing the warnings; again the next day (the same periods: the scan
   again, every warning already sent);
3. the win-back (no visit for 90 days): the first day (every lapsed member), and the next day (the
   scan again, nearly all greeted already).

Each phase prints wall and CPU seconds, members put in the outbox and the RSS before and at its
peak (sampled every 20 ms), first for ``--small`` members, then for ``--members`` in the same
process: the ratio of the two times says how a run grows with the members, and the two peaks
whether memory stays flat. The load average is printed at each phase (the machine is shared).
Targets (issue 13): the birthday run under 10 s including queueing, the churn scan under 30 s.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import time as day_time, timedelta
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from campaigns import RssSampler  # noqa: E402  (bench/campaigns.py)
from gateway import rss_mb  # noqa: E402  (bench/gateway.py)
from members import NOW, seed  # noqa: E402  (bench/members.py: the same million members)
from mcrm import create_app  # noqa: E402
from mcrm.care.models import CareKind  # noqa: E402
from mcrm.care.services import DEFAULT_BODIES, run_due_greetings, save_greeting  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.members.models import Member  # noqa: E402
from mcrm.merchants.models import Merchant  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.messaging.models import OutboundMessage  # noqa: E402
from mcrm.points.models import PointsEntry  # noqa: E402
from mcrm.settings import Settings  # noqa: E402

TARGETS = {"birthday": 10.0, "churn": 30.0, "churn, next day": 30.0}
#: the phases: name, greeting kind, its settings, days after the bench's day
PHASES = (
    ("birthday", CareKind.BIRTHDAY, dict(gift_points=50, gift_points_by_tier={"金卡": 200}), 0),
    ("churn", CareKind.CHURN, dict(days=30, drop_percent=50), 0),
    ("churn, next day", CareKind.CHURN, dict(days=30, drop_percent=50), 1),
    ("win-back", CareKind.WIN_BACK, dict(days=90), 0),
    ("win-back, next day", CareKind.WIN_BACK, dict(days=90), 1),
)


class Figure(NamedTuple):
    wall: float
    cpu: float
    #: members put in the outbox (queued or suppressed with the reason)
    members: int
    rss_before: float
    rss_peak: float
    load: float


def _seeded_members(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM members"))
    finally:
        engine.dispose()


def database(members: int, source: str | None, keep: str | None) -> tuple[Path, Path, bool]:
    """(SQLite file to run on, its temporary folder, whether to seed it). A given file is copied,
    never written: each run starts from the same members and an empty outbox."""
    folder = Path(tempfile.mkdtemp(prefix="mcrm-bench-care-"))
    path = folder / "bench.sqlite3"
    given = source or (keep if keep and Path(keep).exists() else None)
    if given is None:
        return path, folder, True
    if (found := _seeded_members(f"sqlite:///{Path(given).resolve()}")) != members:
        sys.exit(f"{given} holds {found} members, not {members}")
    shutil.copyfile(given, path)
    return path, folder, False


def give_birthdays() -> None:
    """Every tenth member with a birthday keeps it in the lunar calendar (month as it was, day
    1-30), so the day has solar and lunar birthdays in about the share it has in life."""
    db.session.execute(sa.update(Member).where(Member.birthday.is_not(None), Member.id % 10 == 3).values(
        birthday_is_lunar=True, birthday_lunar_month=Member.birthday_month,
        birthday_lunar_day=Member.id * 7919 % 30 + 1, birthday_day=Member.id * 7919 % 30 + 1, birthday=None))
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def prepare(members: int, source: str | None, keep: str | None):
    """An app on a database with ``members`` members of one merchant whose window is the whole day
    (so the figures do not depend on the hour) and the birthdays of ``give_birthdays``."""
    path, folder, fresh = database(members, source, keep)
    settings = Settings(env="test", instance_path=str(folder), database_url=f"sqlite:///{path}",
                        secret_key="b" * 40).with_defaults()
    app = create_app(settings)
    start = time.perf_counter()
    with app.app_context():
        upgrade()
        if fresh:
            merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
            db.session.commit()
            seed(merchant, 0, members, random.Random(2026))
            if keep:
                db.session.commit()
                shutil.copyfile(path, keep)
        merchant = db.session.scalar(sa.select(Merchant).where(Merchant.sub_code == "01"))
        merchant.send_window_start, merchant.send_window_end = day_time(0, 0), day_time(23, 59, 59)
        give_birthdays()
    print(f"{members:,} members {'seeded' if fresh else 'copied and migrated'} in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return app, folder


def time_phase(merchant_id: int, kind: CareKind, settings: dict, days_later: int) -> Figure:
    """Switch on one greeting (every other off) and time the care job for the bench's day."""
    merchant = db.session.get(Merchant, merchant_id)
    for other in (CareKind.BIRTHDAY, CareKind.CHURN, CareKind.WIN_BACK):
        save_greeting(merchant, kind=other, enabled=other is kind, body=DEFAULT_BODIES[other], hour=10,
                      now=NOW, **(settings if other is kind else {}))
    db.session.commit()
    now = NOW + timedelta(days=days_later)
    load, sampler = os.getloadavg()[0], RssSampler()
    before = rss_mb()
    sampler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    count = run_due_greetings(now=now, merchant_id=merchant_id)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Figure(wall, cpu, count, before, sampler.stop(), load)


def run_size(members: int, source: str | None, keep: str | None, phases: list[str]) -> dict[str, Figure]:
    app, folder = prepare(members, source, keep)
    figures = {}
    with app.app_context():
        merchant_id = db.session.scalar(sa.select(Merchant.id).where(Merchant.sub_code == "01"))
        for name, kind, settings, days_later in PHASES:
            if phases and name.split(",")[0] not in phases:
                continue
            figures[name] = figure = time_phase(merchant_id, kind, settings, days_later)
            print(f"  {name:20} {figure.wall:7.2f} s wall {figure.cpu:7.2f} s CPU {figure.members:9,} members"
                  f"  RSS {figure.rss_before:5.0f} → {figure.rss_peak:5.0f} MB  load {figure.load:4.1f}",
                  flush=True)
        gifts = db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                                  .where(PointsEntry.idempotency_key.like("care:%")))
        by_status = db.session.execute(sa.select(OutboundMessage.status, sa.func.count())
                                       .group_by(OutboundMessage.status)).all()
        print(f"  outbox: {', '.join(f'{status} {count:,}' for status, count in by_status)}; "
              f"birthday gifts {gifts:,}", flush=True)
        db.engine.dispose()
    shutil.rmtree(folder)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000,
                        help="members of the first, smaller run (0: none), for the ratios and memory")
    parser.add_argument("--from", dest="source", metavar="PATH",
                        help="a seeded SQLite file of --members members to copy (never written)")
    parser.add_argument("--keep", metavar="PATH", help="SQLite file to seed once and copy on later runs")
    parser.add_argument("--phases", nargs="*", default=[], choices=("birthday", "churn", "win-back"),
                        help="time only these (default: all)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    small = run_size(args.small, None, None, args.phases) if args.small else {}
    large = run_size(args.members, args.source, args.keep, args.phases)
    print(f"\n{'phase':20} {'wall':>8} {'members':>9} {'×time':>6} {'×members':>8} {'RSS peak Δ':>14}")
    for name, figure in large.items():
        flag = "   OVER TARGET" if figure.wall > TARGETS.get(name, float("inf")) else ""
        ratio = members = peak = ""
        if name in small:
            base = small[name]
            ratio = f"{figure.wall / base.wall:6.1f}"
            members = f"{figure.members / base.members:8.1f}" if base.members else ""
            peak = f"{base.rss_peak - base.rss_before:+5.0f} / {figure.rss_peak - figure.rss_before:+5.0f} MB"
        print(f"{name:20} {figure.wall:7.2f}s {figure.members:9,} {ratio:>6} {members:>8} {peak:>14}{flag}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
