"""Benchmark: what the members' segment indexes cost a purchase, on SQLite and PostgreSQL.

    .venv/bin/python bench/purchases.py --from PATH [--purchases 2000] [--rounds 5]
    .venv/bin/python bench/purchases.py --database-url postgresql+psycopg://…/DB [--purchases …] [--rounds …]

Copies a seeded database twice (SQLite: the file ``bench/segments.py --keep PATH`` makes;
PostgreSQL: the database ``bench/segments.py --database-url`` seeded, as a template, which needs
a role that may create databases and no one else connected to it) and drops indexes from the second
copy: on SQLite the three ``ix_members_live_purchase_*``, on PostgreSQL ``ix_members_live_id``
(the members by id with their segment columns). It then records purchases at the till
(``points.services.record_purchase`` and a commit, one purchase at a time, random live members)
on the two copies in turn (each first in every other round), ``--rounds`` times
``--purchases / --rounds`` each, in one process, so both see the same load. Prints wall and CPU
per purchase (p50, p95) with and without the indexes. A purchase writes the same columns either
way; the difference is the index entries it moves.
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

#: the indexes the second copy goes without, by database
INDEXES = {"sqlite": [f"ix_members_live_{column.removesuffix('_at')}" for column in PURCHASE_TIMES],
           "postgresql": ["ix_members_live_id"]}


def _app(url: str, folder: Path):
    settings = Settings(env="test", instance_path=str(folder), database_url=url,
                        secret_key="b" * 40).with_defaults()
    return create_app(settings)


#: label → the name of each copy
COPIES = {"with the indexes": "with", "without them": "without"}


def _copies(args, folder: Path) -> dict[str, str]:
    """label → URL of the two copies of the seeded database."""
    if not args.database_url:
        for name in COPIES.values():
            shutil.copyfile(args.source, folder / f"{name}.sqlite3")
        return {label: f"sqlite:///{folder / name}.sqlite3" for label, name in COPIES.items()}
    url = sa.engine.make_url(args.database_url)
    server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        for name in COPIES.values():
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}_{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{url.database}_{name}" TEMPLATE "{url.database}"'))
    server.dispose()
    return {label: url.set(database=f"{url.database}_{name}").render_as_string(hide_password=False)
            for label, name in COPIES.items()}


def _drop_copies(args) -> None:
    if args.database_url:
        url = sa.engine.make_url(args.database_url)
        server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            for name in COPIES.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}_{name}" WITH (FORCE)'))
        server.dispose()


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
    apps = {label: _app(url, folder) for label, url in _copies(args, folder).items()}
    try:
        with apps["without them"].app_context():
            dropped = INDEXES[db.engine.dialect.name]
            for name in dropped:
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
        for app in apps.values():
            with app.app_context():
                db.engine.dispose()
    finally:
        _drop_copies(args)
        shutil.rmtree(folder)
    print(f"{per_round * args.rounds:,} purchases on each copy of {args.source or 'the database'}; without "
          f"{', '.join(dropped)}; load average {os.getloadavg()[0]:.1f}; times in ms per purchase "
          f"(CPU: this process's)")
    print(f"{'':32} {'wall p50':>8} {'wall p95':>8} {'CPU p50':>8} {'CPU p95':>8}")
    for label, (walls, cpus) in times.items():
        print(f"{label:32} {statistics.median(walls):8.2f} {_p95(walls):8.2f} "
              f"{statistics.median(cpus):8.2f} {_p95(cpus):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", help="seeded SQLite file (not changed)")
    parser.add_argument("--database-url", help="seeded PostgreSQL database (not changed: it is the template)")
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tmp", help="folder for the two copies (default: the system's)")
    args = parser.parse_args()
    if bool(args.source) == bool(args.database_url):
        parser.error("give --from PATH (SQLite) or --database-url URL (PostgreSQL)")
    run(args)


if __name__ == "__main__":
    main()
