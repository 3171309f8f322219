"""Benchmark: what the members' purchase-time indexes cost a purchase, on SQLite.

    .venv/bin/python bench/purchases.py --from PATH [--purchases 2000] [--rounds 5]

Copies a seeded SQLite file (``bench/segments.py --keep PATH`` makes one) twice, drops the three
``ix_members_live_purchase_*`` indexes from the second copy, then records purchases at the till
(``points.services.record_purchase`` and a commit, one purchase at a time, random live members)
on the two copies in turn (each first in every other round), ``--rounds`` times
``--purchases / --rounds`` each, in one process, so both see the same load. Prints wall and CPU
per purchase (p50, p95) with and without the indexes. A purchase writes the three columns either
way; the difference is the three index entries it moves.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.members import NOW  # noqa: E402
from mcrm import create_app  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.members.models import PURCHASE_TIMES, Member  # noqa: E402
from mcrm.merchants.models import Merchant  # noqa: E402
from mcrm.points.services import SYSTEM, record_purchase  # noqa: E402
from mcrm.settings import Settings  # noqa: E402

INDEXES = [f"ix_members_live_{column.removesuffix('_at')}" for column in PURCHASE_TIMES]


def _app(path: Path):
    settings = Settings(env="test", instance_path=str(path.parent), database_url=f"sqlite:///{path}",
                        secret_key="b" * 40).with_defaults()
    return create_app(settings)


def _purchases(app, member_ids: list[int], at) -> tuple[list[float], list[float]]:
    """Wall and CPU ms of each purchase, commit included."""
    walls, cpus = [], []
    with app.app_context():
        merchant = db.session.scalar(sa.select(Merchant).where(Merchant.sub_code == "01"))
        for n, member_id in enumerate(member_ids):
            wall, cpu = time.perf_counter(), time.process_time()
            member = db.session.get(Member, member_id)
            record_purchase(member, merchant, "88.00", actor=SYSTEM, now=at + timedelta(seconds=n))
            db.session.commit()
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        db.session.remove()
    return walls, cpus


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def run(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mcrm-bench-purchases-", dir=args.tmp))
    copies = {"with the purchase-time indexes": folder / "with.sqlite3",
              "without them": folder / "without.sqlite3"}
    for path in copies.values():
        shutil.copyfile(args.source, path)
    apps = {label: _app(path) for label, path in copies.items()}
    with apps["without them"].app_context():
        for name in INDEXES:
            db.session.execute(sa.text(f"DROP INDEX {name}"))
        db.session.commit()
        ids = db.session.scalars(sa.select(Member.id).where(Member.deleted_at.is_(None))).all()
    rng = random.Random(2026)
    chosen = rng.sample(ids, args.purchases)
    per_round = args.purchases // args.rounds
    times: dict[str, tuple[list, list]] = {label: ([], []) for label in apps}
    for round_ in range(args.rounds):
        batch = chosen[round_ * per_round:(round_ + 1) * per_round]
        at = NOW + timedelta(days=1, hours=round_)
        order = list(apps.items()) if round_ % 2 == 0 else list(apps.items())[::-1]
        for label, app in order:  # the same members on both copies, the same moments, in turn first
            walls, cpus = _purchases(app, batch, at)
            times[label][0].extend(walls)
            times[label][1].extend(cpus)
    print(f"{per_round * args.rounds:,} purchases on each copy of {args.source}; "
          f"load average {os.getloadavg()[0]:.1f}; times in ms per purchase")
    print(f"{'':32} {'wall p50':>8} {'wall p95':>8} {'CPU p50':>8} {'CPU p95':>8}")
    for label, (walls, cpus) in times.items():
        print(f"{label:32} {statistics.median(walls):8.2f} {_p95(walls):8.2f} "
              f"{statistics.median(cpus):8.2f} {_p95(cpus):8.2f}")
    shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="seeded SQLite file (not changed)")
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tmp", help="folder for the two copies (default: the system's)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
