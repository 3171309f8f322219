"""Benchmark: the keyword engine on SQLite with 100,000 members.

    .venv/bin/python bench/keywords.py [--members 100000] [--mos 10000] [--latency-mos 2000] [--batch 50]
                                       [--profile FILE]

1. builds a temporary SQLite file with the migrations, one merchant, a staff phone and ``--members``
   members with their ledgers (bulk inserts from bench/members.py, not timed);
2. stores ``--mos`` MOs in the inbox (not timed) with a realistic mix: points queries, joins from new
   numbers, STOP/START, help, feedback, unknown texts, staff purchases;
3. throughput: runs ``process_inbound_sms`` (the job the ``mcrm run`` loop calls) in batches of
   ``--batch`` until the inbox is empty, and prints MO/s;
4. latency: ``--latency-mos`` more MOs one at a time, each timed from the moment it is committed to
   the inbox until its reply is committed to the outbox (claim, engine, enqueue, done), p50/p99.
Targets (issue 4): at least 500 MO/s, p99 under 20 ms.
"""
from __future__ import annotations

import argparse
import cProfile
import random
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

from members import NOW, msisdn, seed  # noqa: E402  (bench/members.py: the same seeded members)
from mcrm import create_app  # noqa: E402
from mcrm.auth.services import create_staff  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.jobs.tasks import process_inbound_sms  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.messaging.models import InboundMessage, InboundStatus, OutboundMessage  # noqa: E402
from mcrm.messaging.services import store_inbound  # noqa: E402
from mcrm.settings import Settings  # noqa: E402

STAFF_PHONE = "+8613700137000"


def mo_mix(rng: random.Random, members: int, counter):
    """(sender, text) of the next MO: mostly members asking for points, a realistic tail of the rest."""
    member = msisdn(rng.randrange(members))
    roll = rng.random()
    if roll < 0.40:
        return member, rng.choice(["JF", "积分", "jf", "ＪＦ"])
    if roll < 0.60:
        name = rng.choice(["张三", "李四", "王五"])
        return f"+86199{next(counter):08d}", f"ZC {name} 1990{rng.randint(1, 12):02d}15"
    if roll < 0.67:
        return member, rng.choice(["TD", "退订", "STOP"])
    if roll < 0.72:
        return member, "DY"
    if roll < 0.80:
        return member, rng.choice(["BZ", "?", "帮助"])
    if roll < 0.88:
        return member, rng.choice(["YJ 菜有点咸", "TS 上菜太慢了", "BY 服务很好"])
    if roll < 0.95:
        return member, rng.choice(["你们几点关门", "有包间吗", "谢谢"])
    return STAFF_PHONE, f"XF {member.removeprefix('+86')} {rng.choice([38, 88, 128])}"


def store(merchant, access_number: str, sender: str, text: str) -> InboundMessage:
    inbound = store_inbound(source_addr=sender, destination_addr=access_number + merchant.sub_code, text=text,
                            data_coding=8, received_at=NOW, access_number=access_number)
    db.session.commit()
    return inbound


def floor_run(database: str, merchant_id: int, batch: int) -> tuple[float, float]:
    """The floor, on the same database file and stored MOs: by hand with sqlite3 and the same pragmas,
    what any engine must do per MO (read the sender's member row, claim the MO, insert one reply),
    committed per batch. Everything it writes is undone afterwards (not timed). Returns (wall, CPU)."""
    import sqlite3
    connection = sqlite3.connect(database, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
        connection.execute(f"PRAGMA {pragma}")
    mos = connection.execute("SELECT id, msisdn, text FROM inbound_messages WHERE status = 'new' "
                             "ORDER BY id").fetchall()
    if not mos:
        raise SystemExit("the floor found no stored MO")
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(mos), batch):
        connection.execute("BEGIN IMMEDIATE")
        for inbound_id, sender, text in mos[first:first + batch]:
            member = connection.execute(
                "SELECT id, name, points_balance FROM members WHERE merchant_id = ? "
                "AND msisdn = ? AND deleted_at IS NULL", (merchant_id, sender)).fetchone()
            connection.execute("UPDATE inbound_messages SET claim_id = 'floor' WHERE id = ?", (inbound_id,))
            body = f"{member[1]}您好，当前积分{member[2]}。" if member else f"回复：{text}"
            connection.execute(
                "INSERT INTO outbound_messages (merchant_id, member_id, msisdn, body, text, kind, parts, "
                "status, attempts, idempotency_key, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'transactional', 1, 'queued', 0, ?, ?)",
                (merchant_id, member[0] if member else None, sender, body, "【小王烧烤】" + body,
                 f"floor:{inbound_id}", NOW.isoformat(sep=" ")))
        connection.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    connection.execute("DELETE FROM outbound_messages WHERE idempotency_key LIKE 'floor:%'")
    connection.execute("UPDATE inbound_messages SET claim_id = NULL WHERE claim_id = 'floor'")
    connection.close()
    return elapsed, cpu


def run(args) -> None:
    rng = random.Random(20261122)
    counter = iter(range(10**8))
    with tempfile.TemporaryDirectory(prefix="mcrm-bench-keywords-") as folder:
        settings = Settings(env="test", instance_path=folder, database_url=f"sqlite:///{folder}/bench.sqlite3",
                            secret_key="b" * 40).with_defaults()
        app = create_app(settings)
        with app.app_context():
            upgrade()
            merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
            create_staff(merchant, username="bench", password="bench-pass-2026", role="clerk",
                         msisdn=STAFF_PHONE)
            db.session.commit()
            started = time.perf_counter()
            seed(merchant, 0, args.members, rng)
            print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s", flush=True)

            for _ in range(args.mos):
                store(merchant, settings.access_number, *mo_mix(rng, args.members, counter))
            merchant_id = merchant.id
            db.session.commit()  # the session holds no transaction while the floor writes
            floor, floor_cpu = floor_run(f"{folder}/bench.sqlite3", merchant_id, args.batch)
            print(f"floor (same MOs by hand with sqlite3: member read, claim, one reply insert): "
                  f"{args.mos / floor:,.0f} MO/s, CPU {floor_cpu / args.mos * 1000:.2f} ms per MO",
                  flush=True)
            profiler = cProfile.Profile() if args.profile else None
            started, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            while process_inbound_sms("bench", limit=args.batch, now=NOW):
                pass
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            failed = db.session.scalar(sa.select(sa.func.count())
                                       .where(InboundMessage.status == InboundStatus.FAILED))
            replies = db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage))
            print(f"throughput: {args.mos:,} MO in {elapsed:.2f} s = {args.mos / elapsed:,.0f} MO/s "
                  f"(batches of {args.batch}; {replies:,} replies queued, {failed} failed); "
                  f"CPU {cpu / args.mos * 1000:.2f} ms per MO = {args.mos / cpu:,.0f} MO/s of one core",
                  flush=True)
            print(f"engine / floor: {floor / elapsed:.0%} of the floor's MO/s, "
                  f"{cpu / floor_cpu:.1f} times its CPU per MO", flush=True)

            latencies, cpus = [], []
            for _ in range(args.latency_mos):
                store(merchant, settings.access_number, *mo_mix(rng, args.members, counter))
                # the MO is committed: the clock runs until its reply is
                started, cpu = time.perf_counter(), time.process_time()
                process_inbound_sms("bench", limit=1, now=NOW)
                latencies.append((time.perf_counter() - started) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
            p50, p99 = statistics.median(latencies), statistics.quantiles(latencies, n=100)[98]
            print(f"latency stored MO → queued reply over {args.latency_mos:,} MO: p50 {p50:.1f} ms, "
                  f"p99 {p99:.1f} ms, max {max(latencies):.1f} ms (CPU p50 {statistics.median(cpus):.1f} ms, "
                  f"p99 {statistics.quantiles(cpus, n=100)[98]:.1f} ms)")
            ok = args.mos / elapsed >= 500 and p99 < 20
            print("targets (>= 500 MO/s, p99 < 20 ms):", "met" if ok else "NOT met")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--mos", type=int, default=10_000)
    parser.add_argument("--latency-mos", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--profile", metavar="FILE", help="cProfile the throughput run into FILE (pstats)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
