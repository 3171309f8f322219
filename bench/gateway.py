"""Benchmark: messages from mcrm's outbox through the real SMSC peer (tests/smsc_peer) on loopback.

    .venv/bin/python bench/gateway.py [--messages 20000] [--window 100] [--batch 500] [--runs 3]

Each run starts a fresh peer and, against it:

1. raw smpplib, a window of ``--window`` unanswered submit_sm, receipts on: the ceiling;
2. the gateway on SQLite: ``enqueue_sms`` fills the outbox (not timed), then ``Gateway`` with
   ``SqlMessageStore`` sends it; timed to every message submitted and to every receipt stored.

Prints messages/s for both, the ratio (within the run), the CPU seconds the peer (node) and this
process used in each phase, the process RSS before, during and after the gateway phase, and the
load average; with several runs, the medians. The machine is shared: compare ratios within a run.
"""
from __future__ import annotations

import argparse
import os
import resource
import select
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import smpplib.client  # noqa: E402
import smpplib.consts  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from mcrm import create_app  # noqa: E402
from mcrm.settings import Settings  # noqa: E402
from tests.smsc_peer import SmscPeer  # noqa: E402

SYSTEM_ID, PASSWORD = "mcrm", "secret"
TEXT = "【小王烧烤】您好，您的积分已到账，感谢光临"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of ``pid`` (or of this process)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_smpplib(peer: SmscPeer, total: int, window: int) -> tuple[float, float]:
    """Seconds to all submit_sm_resp and to all receipts, with at most ``window`` unanswered."""
    client = smpplib.client.Client(peer.host, peer.port, timeout=30, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
    payload = TEXT.encode("utf-16-be")
    sent = acked = receipts = 0
    submitted_at = None
    start = time.perf_counter()
    while receipts < total or acked < total:
        while sent < total and sent - acked < window:
            client.send_pdu(smpplib.smpp.make_pdu(
                "submit_sm", client=client, source_addr="106571234501", dest_addr_ton=1, dest_addr_npi=1,
                destination_addr="86139%08d" % sent, data_coding=8, registered_delivery=1,
                short_message=payload))
            sent += 1
        select.select([client._socket], [], [], 1.0)
        pdu = client.read_pdu()
        if pdu.command == "submit_sm_resp":
            acked += 1
            if acked == total:
                submitted_at = time.perf_counter()
        elif pdu.command == "deliver_sm":
            # make_pdu(..., sequence=n) keeps the client's own sequence: set it after, or the peer
            # never sees its receipts answered and sends them again after 10 s
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
            receipts += 1
    end = time.perf_counter()
    client.unbind()
    client.disconnect()
    return submitted_at - start, end - start


def gateway_run(peer: SmscPeer, total: int, window: int, batch: int) -> dict:
    from mcrm.db import read_only
    from mcrm.extensions import db
    from mcrm.merchants.services import create_merchant
    from mcrm.messaging.models import MessageStatus, OutboundMessage
    from mcrm.messaging.services import enqueue_sms
    from mcrm.messaging.store import SqlMessageStore
    from sms_gateway import Gateway, GatewayConfig

    instance = tempfile.mkdtemp(prefix="mcrm-bench-")
    app = create_app(Settings(env="test", instance_path=instance, secret_key="b" * 40).with_defaults())
    with app.app_context():
        upgrade()
        merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
        now = datetime.now(UTC)
        for n in range(total):
            enqueue_sms(merchant, msisdn="+86139%08d" % n, body=TEXT[6:], kind="transactional", now=now)
            if n % 1000 == 999:
                db.session.commit()
        db.session.commit()
        db.session.remove()

        def any_left(*statuses) -> bool:
            """One indexed row lookup: cheap enough to poll often, unlike a count over the outbox."""
            with read_only():          # never take SQLite's write lock away from the gateway
                found = db.session.scalar(sa.select(OutboundMessage.id)
                                          .where(OutboundMessage.status.in_(statuses)).limit(1))
                db.session.rollback()
            return found is not None

        rss_before = rss_mb()
        samples = []
        config = GatewayConfig(transport="smpp", host=peer.host, port=peer.port, system_id=SYSTEM_ID,
                               password=PASSWORD, tps=0, window=window, batch_size=batch, poll_secs=0.05)
        gateway = Gateway(config, SqlMessageStore(app))
        peer_cpu, own_cpu = cpu_seconds(peer.proc.pid), cpu_seconds()
        start = time.perf_counter()
        gateway.start()
        submitted_at = None
        while True:
            time.sleep(0.02)
            samples.append(rss_mb())
            if submitted_at is None and not any_left(MessageStatus.QUEUED, MessageStatus.SENDING):
                submitted_at = time.perf_counter()
            if not any_left(MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SUBMITTED):
                delivered_at = time.perf_counter()
                submitted_at = submitted_at or delivered_at     # the last ones went out since the poll before
                break
        peer_cpu, own_cpu = cpu_seconds(peer.proc.pid) - peer_cpu, cpu_seconds() - own_cpu
        gateway.stop(30)
        with read_only():
            delivered = db.session.scalar(sa.select(sa.func.count())
                                          .where(OutboundMessage.status == MessageStatus.DELIVERED))
        if delivered != total:
            raise SystemExit(f"only {delivered} of {total} messages ended DELIVERED")
        return {"submitted": submitted_at - start, "delivered": delivered_at - start,
                "rss_before": rss_before,
                "rss_peak": max(samples), "rss_mid": samples[len(samples) // 2], "rss_end": samples[-1],
                "peer_cpu": peer_cpu, "own_cpu": own_cpu}


def one_run(total: int, window: int, batch: int) -> dict:
    # records off: the bench reads /stats only, and a record per PDU is CPU the peer need not spend
    with SmscPeer(system_id=SYSTEM_ID, password=PASSWORD, records=False) as peer:
        peer_cpu, own_cpu = cpu_seconds(peer.proc.pid), cpu_seconds()
        raw_sub, raw_dlr = raw_smpplib(peer, total, window)
        raw_peer_cpu, raw_own_cpu = cpu_seconds(peer.proc.pid) - peer_cpu, cpu_seconds() - own_cpu
        peer.reset()
        gw = gateway_run(peer, total, window, batch)
        accepted = peer.stats()["accepted"]
    result = {"raw_sub": total / raw_sub, "raw_dlr": total / raw_dlr, "gw_sub": total / gw["submitted"],
              "gw_dlr": total / gw["delivered"], "duplicates": accepted - total, "load": os.getloadavg()[0]}
    result["ratio_sub"] = result["gw_sub"] / result["raw_sub"]
    result["ratio_dlr"] = result["gw_dlr"] / result["raw_dlr"]
    print(f"raw smpplib   : {result['raw_sub']:6.0f} msg/s submitted, {result['raw_dlr']:6.0f} msg/s "
          f"with receipts   (CPU per message: peer {raw_peer_cpu / total * 1e6:.0f} us, "
          f"bench {raw_own_cpu / total * 1e6:.0f} us)")
    print(f"mcrm gateway  : {result['gw_sub']:6.0f} msg/s submitted, {result['gw_dlr']:6.0f} msg/s delivered"
          f"   (CPU per message: peer {gw['peer_cpu'] / total * 1e6:.0f} us, "
          f"bench+gateway {gw['own_cpu'] / total * 1e6:.0f} us)")
    print(f"ratio         : {result['ratio_sub']:.0%} of raw (submitted), {result['ratio_dlr']:.0%} of raw "
          f"(with receipts); SMSC accepted {accepted} submit_sm (duplicates: {result['duplicates']})")
    print(f"RSS (MB)      : before {gw['rss_before']:.0f}, mid-run {gw['rss_mid']:.0f}, "
          f"peak {gw['rss_peak']:.0f}, end {gw['rss_end']:.0f}; load average {result['load']:.1f}",
          flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.messages} messages, window {args.window}, batch {args.batch}, SQLite, receipts on, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for n in range(args.runs):
        if args.runs > 1:
            print(f"-- run {n + 1}/{args.runs}")
        results.append(one_run(args.messages, args.window, args.batch))
    if args.runs > 1:
        med = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(f"median of {args.runs}: raw {med['raw_dlr']:.0f} msg/s, gateway {med['gw_sub']:.0f} msg/s "
              f"submitted, {med['gw_dlr']:.0f} msg/s delivered, ratio {med['ratio_dlr']:.0%} "
              f"(with receipts); load average {med['load']:.1f}")


if __name__ == "__main__":
    main()
