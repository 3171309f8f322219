"""Benchmark: segment counts at a million members, on SQLite and (when given) PostgreSQL.

    .venv/bin/python bench/segments.py [--members 1000000] [--samples 20] [--database-url URL]
                                       [--keep PATH] [--reuse]

Seeds members with their ledgers and tags the way bench/members.py does (Core bulk inserts, not
timed), then times ``segments.services.count_members`` (one query each) for five segments of
different shapes and prints p50/p95 per segment and the count, after checking that the count
equals the number of rows ``member_ids_select`` gives. PostgreSQL: pass
``--database-url`` or set ``MCRM_BENCH_DATABASE_URL`` (``sh scripts/with-postgres.sh`` gives one
as MCRM_TEST_DATABASE_URL, which is used too); the schema there is dropped and rebuilt unless
``--reuse`` is given and it already holds the seeded members.
Seeding a million members takes minutes: ``--keep PATH`` seeds SQLite into PATH once and later
runs reuse it (the migrations still run first, so new indexes are built on the kept members).
Target (issue 12): every count p95 under 300 ms.
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
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from members import NOW, analyze, seed  # noqa: E402  (bench/members.py: the same million members)
from mcrm import create_app  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.merchants.models import Merchant  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.segments.services import count_members, describe, member_ids_select  # noqa: E402
from mcrm.settings import Settings  # noqa: E402

SEGMENTS = {
    "one indexed value: tier 金卡": {"type": "tier", "tiers": ["金卡"]},
    "AND of two: 金卡 and May birthday": {"op": "and", "items": [
        {"type": "tier", "tiers": ["金卡"]}, {"type": "birthday_month", "month": 5}]},
    "OR of three: tag, recent visit, points": {"op": "or", "items": [
        {"type": "tags", "tags": ["常客"]}, {"type": "last_visit", "op": "within", "days": 30},
        {"type": "points", "min": 1000}]},
    "aggregate: ≥2 visits in a year, not opted out": {"op": "and", "items": [
        {"type": "visits", "min": 2, "period": {"days": 365}}, {"type": "opted_out", "value": False}]},
    "nested: (birthday in 7 days or lapsed 180 days) and not 黑卡, spend ≥ ¥500": {"op": "and", "items": [
        {"op": "or", "items": [{"type": "birthday_soon", "days": 7},
                               {"type": "last_visit", "op": "not_within", "days": 180}]},
        {"op": "not", "items": [{"type": "tags", "tags": ["黑卡"]}]}, {"type": "spend", "min": "500"}]},
}


def _seeded(url: str) -> int | None:
    """Members of the bench merchant a database already holds; None when it holds no seeded schema."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("members"):
                return None
            return conn.scalar(sa.text("SELECT count(*) FROM members JOIN merchants ON merchants.id ="
                                       " members.merchant_id WHERE merchants.sub_code = '01'"))
    finally:
        engine.dispose()


def _database(args) -> tuple[str, Path, bool]:
    """(URL, instance folder, whether to seed). A kept or reused database must hold exactly the
    members asked for: a half-seeded one (a killed run) would give figures for another size."""
    folder = Path(tempfile.mkdtemp(prefix="mcrm-bench-segments-"))
    if args.database_url:
        url = args.database_url
        if args.reuse and _seeded(url) is not None:
            return url, folder, _check_size(_seeded(url), args.members)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        return url, folder, True
    if args.keep:
        url = f"sqlite:///{Path(args.keep).resolve()}"
        if Path(args.keep).exists():
            return url, folder, _check_size(_seeded(url), args.members)
        return url, folder, True
    return f"sqlite:///{folder / 'bench.sqlite3'}", folder, True


def _check_size(members: int | None, wanted: int) -> bool:
    if members != wanted:
        sys.exit(f"the kept database holds {members} members, not {wanted}: remove it to seed again")
    return False


class Timing(NamedTuple):
    p50: float  #: wall, ms
    p95: float
    #: this process's CPU, ms: SQLite's own work, whatever else runs (PostgreSQL works in its server)
    cpu95: float
    members: int


def time_counts(merchant_id: int, samples: int, now=NOW) -> dict[str, Timing]:
    """Segment name → timing of ``count_members`` for each of SEGMENTS."""
    results = {}
    for name, definition in SEGMENTS.items():
        count = count_members(merchant_id, definition, now=now)  # warm the caches
        # count_members may count in parts (a top-level OR): the members it selects must agree
        members = db.session.scalar(sa.select(sa.func.count()).select_from(
            member_ids_select(merchant_id, definition, now=now).subquery()))
        if count != members:
            sys.exit(f"{name}: count_members says {count:,}, member_ids_select gives {members:,}")
        walls, cpus = [], []
        for _ in range(samples):
            wall, cpu = time.perf_counter(), time.process_time()
            count_members(merchant_id, definition, now=now)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            db.session.rollback()
        results[name] = Timing(statistics.median(walls), statistics.quantiles(walls, n=20)[18],
                               statistics.quantiles(cpus, n=20)[18], count)
    return results


def run(args) -> None:
    url, folder, fresh = _database(args)
    settings = Settings(env="test", instance_path=str(folder), database_url=url,
                        secret_key="b" * 40).with_defaults()
    app = create_app(settings)
    rng = random.Random(2026)
    with app.app_context():
        start = time.perf_counter()
        upgrade()
        if fresh:
            merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
            db.session.commit()
            seed(merchant, 0, args.members, rng)
        analyze()
        seconds = time.perf_counter() - start
        done = "seeded" if fresh else "migrated and analysed the kept"
        print(f"{db.engine.dialect.name}: {done} {args.members:,} members in {seconds:.0f} s", flush=True)
        merchant_id = db.session.scalar(sa.select(Merchant.id).where(Merchant.sub_code == "01"))
        print(f"load average {os.getloadavg()[0]:.1f}; times in ms")
        print(f"{'segment':76} {'p50':>7} {'p95':>7} {'CPU p95':>7} {'members':>9}")
        for name, t in time_counts(merchant_id, args.samples).items():
            flag = "" if t.p95 < 300 else "   OVER 300 ms"
            print(f"{name:76} {t.p50:7.1f} {t.p95:7.1f} {t.cpu95:7.1f} {t.members:9,}{flag}", flush=True)
            print(f"    {describe(merchant_id, SEGMENTS[name], locale='zh')}")
    shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("MCRM_BENCH_DATABASE_URL")
                        or os.environ.get("MCRM_TEST_DATABASE_URL"))
    parser.add_argument("--keep", metavar="PATH",
                        help="SQLite file to seed once and keep; reused when it exists")
    parser.add_argument("--reuse", action="store_true",
                        help="PostgreSQL: keep the schema when it already holds the seeded members")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
