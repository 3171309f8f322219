"""Benchmark: segment counts at a million members, on SQLite and (when given) PostgreSQL.

    .venv/bin/python bench/segments.py [--members 1000000] [--samples 20] [--database-url URL]

Seeds members with their ledgers and tags the way bench/members.py does (Core bulk inserts, not
timed), then times ``segments.services.count_members`` (one query each) for five segments of
different shapes and prints p50/p95 per segment and the count. PostgreSQL: pass
``--database-url`` or set ``MCRM_BENCH_DATABASE_URL`` (``sh scripts/with-postgres.sh`` gives one
as MCRM_TEST_DATABASE_URL, which is used too); the schema there is dropped and rebuilt.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from members import NOW, seed  # noqa: E402  (bench/members.py: the same million members)
from mcrm import create_app  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.merchants.models import Merchant  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.segments.services import count_members, describe  # noqa: E402
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


def _database(url: str | None) -> tuple[str, Path]:
    folder = Path(tempfile.mkdtemp(prefix="mcrm-bench-segments-"))
    if not url:
        return f"sqlite:///{folder / 'bench.sqlite3'}", folder
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url, folder


def run(args) -> None:
    url, folder = _database(args.database_url)
    settings = Settings(env="test", instance_path=str(folder), database_url=url,
                        secret_key="b" * 40).with_defaults()
    app = create_app(settings)
    rng = random.Random(2026)
    with app.app_context():
        upgrade()
        merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
        db.session.commit()
        start = time.perf_counter()
        seed(merchant, 0, args.members, rng)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        seconds = time.perf_counter() - start
        print(f"{db.engine.dialect.name}: seeded {args.members:,} members in {seconds:.0f} s", flush=True)
        merchant_id = db.session.get(Merchant, merchant.id).id
        print(f"{'segment':76} {'p50':>7} {'p95':>7} {'members':>9}")
        for name, definition in SEGMENTS.items():
            count = count_members(merchant_id, definition, now=NOW)  # warm the caches
            walls = []
            for _ in range(args.samples):
                wall = time.perf_counter()
                count_members(merchant_id, definition, now=NOW)
                walls.append((time.perf_counter() - wall) * 1000)
                db.session.rollback()
            p95 = statistics.quantiles(walls, n=20)[18]
            flag = "" if p95 < 300 else "   OVER 300 ms"
            print(f"{name:76} {statistics.median(walls):7.1f} {p95:7.1f} {count:9,}{flag}", flush=True)
            print(f"    {describe(merchant_id, definition, locale='zh')}")
    if not args.keep:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("MCRM_BENCH_DATABASE_URL")
                        or os.environ.get("MCRM_TEST_DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the SQLite folder for a look afterwards")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
