"""Benchmark: the members console at a million members, on SQLite, through the Flask test client.

    .venv/bin/python bench/members.py [--members 1000000] [--baseline 10000] [--import-rows 100000]

1. builds a temporary SQLite file with the migrations, one merchant and a signed-in owner;
2. seeds ``--baseline`` members with their ledgers (Core bulk inserts, not timed) and times every page;
3. seeds up to ``--members`` and times the same pages again: p50/p95 per page and the ratio to the
   baseline, so a page that grows with the table shows up as a ratio well above 1;
4. imports a ``--import-rows`` line GB18030 CSV (new numbers, known numbers, repeats and bad lines)
   through the real import service (csv_io.create_import → start_import → run_import) and times it.
Targets (issue 2): every page p95 under 100 ms; the import under 30 s.
"""
from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from mcrm import create_app  # noqa: E402
from mcrm.auth.services import create_staff  # noqa: E402
from mcrm.demo import _GIVEN, _PREFIXES, _SURNAMES, _TAGS  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.members import csv_io  # noqa: E402
from mcrm.members.models import PURCHASE_TIMES, Member, MemberTag  # noqa: E402
from mcrm.members.name_keys import name_sort_key  # noqa: E402
from mcrm.merchants.models import Merchant  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.points import rules  # noqa: E402
from mcrm.points.models import PointsEntry  # noqa: E402
from mcrm.points.services import Actor  # noqa: E402
from mcrm.settings import Settings  # noqa: E402

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
PASSWORD = "bench-pass-2026"
CHUNK = 20_000


def msisdn(i: int) -> str:
    """The i-th seeded number: unique, valid, spread over the usual mobile prefixes."""
    prefix = _PREFIXES[i % len(_PREFIXES)]
    return f"+86{prefix}{(i // len(_PREFIXES)) * 7919 % 10**8:08d}"


def seed(merchant, start: int, stop: int, rng: random.Random) -> None:
    """Members start..stop-1 (ids start+1..stop) with 1 to 3 ledger entries each, straight into the tables."""
    members, tags, entries = [], [], []
    tiers, merchant_id = merchant.tier_thresholds, merchant.id

    def flush():
        for table, rows in ((Member.__table__, members), (MemberTag.__table__, tags),
                            (PointsEntry.__table__, entries)):
            if rows:
                db.session.execute(sa.insert(table), rows)
            rows.clear()
        db.session.commit()

    for i in range(start, stop):
        member_id = i + 1
        number = msisdn(i)
        joined = NOW - timedelta(days=rng.randint(0, 4 * 365), minutes=rng.randint(0, 1440))
        balance, spend, last_visit, visits = 100, 0, None, []
        # every row names the same columns: one executemany inserts the columns of its first row only
        entries.append(dict(merchant_id=merchant_id, member_id=member_id, kind="gift", points=100,
                            balance_after=100, amount=None, reason="注册礼", actor="system",
                            created_at=joined,
                            expires_at=rules.add_months(joined, 12)))
        for _visit in range(rng.choice((0, 1, 1, 2))):
            amount = rng.choice((38, 58, 88, 128, 168, 236, 388, 520, 888, 1288))
            moment = joined + timedelta(days=rng.randint(1, max(1, (NOW - joined).days)))
            balance += amount
            spend += amount
            last_visit = max(last_visit or moment, moment)
            visits.append(moment)
            entries.append(dict(merchant_id=merchant_id, member_id=member_id, kind="earn", points=amount,
                                balance_after=balance, amount=amount, reason=f"消费 ¥{amount}",
                                actor="收银员", created_at=moment, expires_at=rules.add_months(moment, 12)))
        birthday = None
        if rng.random() < 0.8:
            birthday = datetime(rng.randint(1960, 2006), rng.randint(1, 12), rng.randint(1, 28)).date()
        opted_out = rng.random() < 0.03
        name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))
        members.append(dict(
            id=member_id, merchant_id=merchant_id, msisdn=number, msisdn_rev=number[::-1],
            name=name, name_key=name_sort_key(name),
            gender=rng.choice("fmu"), birthday=birthday, birthday_year_known=True, birthday_is_lunar=False,
            birthday_month=birthday.month if birthday else None,
            birthday_day=birthday.day if birthday else None, custom_fields={}, joined_at=joined,
            source=rng.choice(("sms", "console", "import")), consent_at=joined, consent_channel="sms",
            consent_detail="ZC", opted_out=opted_out, opted_out_at=NOW if opted_out else None,
            last_visit_at=last_visit, total_spend=spend,
            **dict(zip(PURCHASE_TIMES, [*sorted(visits, reverse=True), None, None, None][:3], strict=True)),
            tier=rules.tier_for(balance * 2, tiers),
            tier_score=balance * 2, points_balance=balance, created_at=joined, updated_at=joined))
        rare = ["黑卡"] if i % 2000 == 0 else []
        chosen = rng.sample(_TAGS, rng.choice((0, 0, 1, 2))) + rare
        for tag in chosen:
            tags.append(dict(member_id=member_id, tag=tag, merchant_id=merchant_id))
        if len(members) >= CHUNK:
            flush()
    flush()


def analyze() -> None:
    """Fresh planner statistics after a bulk seed, as a production database would have them."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def pages(rng: random.Random, members: int) -> dict:
    """Page name → a function giving the next URL to time (searches vary their term)."""
    digits = lambda: f"{rng.randint(0, 9999):04d}"  # noqa: E731
    return {
        "list newest": lambda: "/members/",
        "list by name": lambda: "/members/?sort=name",
        "list by points": lambda: "/members/?sort=points",
        "list by last visit": lambda: "/members/?sort=last_visit",
        "list by spend": lambda: "/members/?sort=spend",
        "filter tier 银卡": lambda: "/members/?tier=银卡",
        "filter tag 常客 by points": lambda: "/members/?tag=常客&sort=points",
        "filter opted out": lambda: "/members/?opted_out=yes",
        "filter rare tag 黑卡 by spend": lambda: "/members/?tag=黑卡&sort=spend",
        "filter tag nobody has, by name": lambda: "/members/?tag=没有这个标签&sort=name",
        "filter tier 钻石卡 by last visit": lambda: "/members/?tier=钻石卡&sort=last_visit",
        "filter birthday month by name": lambda: f"/members/?birthday_month={rng.randint(1, 12)}&sort=name",
        "msisdn suffix search": lambda: f"/members/?q={digits()}",
        "name search": lambda: f"/members/?q={rng.choice(_SURNAMES)}{rng.choice(_GIVEN)}",
        "member page": lambda: f"/members/{rng.randint(1, members)}",
    }


def _quantiles(walls: list[float], cpus: list[float]) -> tuple[float, float, float]:
    """p50 and p95 of the wall times, p95 of the CPU times (the CPU figure ignores other processes)."""
    p95 = statistics.quantiles(walls, n=20)[18]
    return statistics.median(walls), p95, statistics.quantiles(cpus, n=20)[18]


def _timed_get(client, url: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def time_pages(client, rng, members: int, samples: int) -> dict[str, tuple[float, float, float]]:
    results = {}
    for name, next_url in pages(rng, members).items():
        for _ in range(3):  # warm the caches
            client.get(next_url())
        walls, cpus = zip(*(_timed_get(client, next_url()) for _ in range(samples)), strict=True)
        results[name] = _quantiles(walls, cpus)
    # page 2 of some sorts: a keyset cursor, not an OFFSET, so it costs what page 1 costs
    for sort in ("newest", "points", "last_visit"):
        first = client.get(f"/members/?sort={sort}").get_data(as_text=True)
        next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
        walls, cpus = zip(*(_timed_get(client, next_url) for _ in range(samples)), strict=True)
        results[f"list by {sort}, page 2"] = _quantiles(walls, cpus)
    return results


def import_file(rows: int, seeded: int, rng: random.Random) -> bytes:
    """A GB18030 CSV: ~85% new numbers, ~5% known members, ~5% repeats within the file, ~5% bad lines."""
    lines = ["手机号,姓名,性别,生日,标签,积分"]
    new_numbers = []
    for n in range(rows):
        roll = rng.random()
        if roll < 0.05:
            number = msisdn(rng.randrange(seeded))[3:]
        elif roll < 0.10 and new_numbers:
            number = rng.choice(new_numbers)
        elif roll < 0.13:
            number = f"1{rng.randint(0, 99999):05d}"       # invalid phone
        else:
            number = f"166{n:08d}"
            new_numbers.append(number)
        birthday = f"19{rng.randint(60, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        if rng.random() < 0.02:
            birthday = "19901345"                            # bad date
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        lines.append(",".join([number, name, rng.choice("男女"), birthday, rng.choice(_TAGS),
                               str(rng.randint(0, 5000))]))
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


def run(args) -> None:
    rng = random.Random(2026)
    folder = Path(tempfile.mkdtemp(prefix="mcrm-bench-members-"))
    settings = Settings(env="test", instance_path=str(folder),
                        database_url=f"sqlite:///{folder / 'bench.sqlite3'}", secret_key="b" * 40,
                        login_rate_limit="1000 per minute").with_defaults()
    app = create_app(settings)
    # no app context stays open around the client: each request then gets its own session, as in production
    with app.app_context():
        upgrade()
        merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
        create_staff(merchant, username="bench", password=PASSWORD, role="owner", display_name="王老板")
        db.session.commit()
        merchant_id = merchant.id
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    assert client.post("/login", data={"username": "bench", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302

    figures = {}
    done = 0
    for size in (args.baseline, args.members):
        start = time.perf_counter()
        print(f"seeding {size:,} members ...", flush=True)
        with app.app_context():
            seed(db.session.get(Merchant, merchant_id), done, size, rng)
        done = size
        print(f"seeded {size:,} members in {time.perf_counter() - start:.0f} s", flush=True)
        figures[size] = time_pages(client, rng, size, args.samples)

    print(f"\nwall-clock and CPU milliseconds per request at {args.members:,} members; "
          f"the ratio compares the CPU p95 with the same page at {args.baseline:,}")
    print(f"{'page':34} {'p50':>7} {'p95':>7} {'CPU p95':>8} {'base CPU p95':>13} {'ratio':>6}")
    for name, (p50, p95, cpu95) in figures[args.members].items():
        base = figures[args.baseline][name][2]
        flag = "" if p95 < 100 else "   OVER 100 ms"
        print(f"{name:34} {p50:7.1f} {p95:7.1f} {cpu95:8.1f} {base:13.1f} {cpu95 / base:6.2f}{flag}")

    data = import_file(args.import_rows, args.members, rng)
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        start, cpu = time.perf_counter(), time.process_time()
        job = csv_io.create_import(merchant, staff_id=None, filename="bench.csv", data=data)
        csv_io.start_import(job, job.mapping)
        db.session.commit()
        csv_io.run_import(job, merchant, actor=Actor("bench"), region="CN", clock=lambda: datetime.now(UTC))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert job.imported + job.updated + job.failed == job.total_lines == args.import_rows, job.status
        print(f"\nimport of {args.import_rows:,} CSV lines (GB18030) into {args.members:,} members: "
              f"{elapsed:.1f} s ({args.import_rows / elapsed:,.0f} lines/s): {job.imported:,} new, "
              f"{job.updated:,} updated, {job.failed:,} failed; status {job.status}; CPU time {cpu:.1f} s")
    print(f"database file: {(folder / 'bench.sqlite3').stat().st_size / 2**20:,.0f} MB")
    if args.keep:
        print(f"kept in {folder}")
    else:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the database folder for a look afterwards")
    args = parser.parse_args()
    if args.baseline >= args.members:
        parser.error("--baseline must be smaller than --members")
    run(args)


if __name__ == "__main__":
    main()
