"""Benchmark: re-evaluating every member's tier (the monthly job, and the owner's settings page after a
change of tier rules, which runs it inside the request), on SQLite.

    .venv/bin/python bench/tiers.py [--members 100000] [--runs 3]

Seeds ``--members`` members with 1 to 3 ledger entries each (``bench/members.py``'s seeder) and scores
them as the monthly job would have (not timed), then, a year later so scores move: the baseline,
the one-member rule applied to every member as ORM objects (``refresh_tier``, what
``refresh_all_tiers`` did before it read plain rows), rolled back; then ``refresh_all_tiers``, rolled
back. Prints wall and CPU seconds, members per second, and the ratio;
both must find the same number of tier changes.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from flask_migrate import upgrade

from bench.members import NOW, seed
from mcrm import create_app
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.merchants.services import create_merchant
from mcrm.points.services import _spend_between, refresh_all_tiers, refresh_tier, tier_rule
from mcrm.settings import Settings

LATER = NOW + timedelta(days=365)


def one_at_a_time(merchant, batch: int = 1000) -> int:
    """Every member as an ORM object through ``refresh_tier``, spend read a batch at a time: the
    code of ``refresh_all_tiers`` before 2026-12-06."""
    changed, last_id = 0, 0
    since, until = tier_rule(merchant).spend_window(LATER)
    while True:
        members = db.session.scalars(sa.select(Member).where(Member.merchant_id == merchant.id,
                                                             Member.deleted_at.is_(None), Member.id > last_id)
                                     .order_by(Member.id).limit(batch)).all()
        if not members:
            return changed
        spend = _spend_between([m.id for m in members], since, until)
        changed += sum(refresh_tier(member, merchant, now=LATER, spend=spend.get(member.id, 0))
                       for member in members)
        last_id = members[-1].id
        db.session.flush()


def timed(work) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    changed = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    db.session.rollback()
    return wall, cpu, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcrm-bench-tiers-") as folder:
        settings = Settings(env="test", instance_path=folder, database_url=f"sqlite:///{folder}/bench.sqlite3",
                            secret_key="b" * 40).with_defaults()
        with create_app(settings).app_context():
            upgrade()
            merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
            db.session.commit()
            seed(merchant, 0, args.members, random.Random(2026))
            refresh_all_tiers(merchant, now=NOW)  # the seeder's tier scores are placeholders
            db.session.commit()
            results = {"one member at a time (ORM objects)": [], "refresh_all_tiers (plain rows)": []}
            for _ in range(args.runs):
                results["one member at a time (ORM objects)"].append(timed(lambda: one_at_a_time(merchant)))
                results["refresh_all_tiers (plain rows)"].append(
                    timed(lambda: refresh_all_tiers(merchant, now=LATER)))
    print(f"{args.members:,} members, median of {args.runs} runs")
    medians = {}
    for name, runs in results.items():
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        changes = {r[2] for r in runs}
        medians[name] = wall
        print(f"{name:36} {wall:6.2f} s wall {cpu:6.2f} s CPU {args.members / wall:9,.0f} members/s; "
              f"tier changes {', '.join(map(str, sorted(changes)))}")
    baseline, new = medians.values()
    print(f"ratio: {baseline / new:.1f} times faster than one member at a time")


if __name__ == "__main__":
    main()
