"""``/metrics`` in Prometheus' text format: what the database holds, read at each scrape, and what
each process counts for itself (HTTP latency; the SMSC errors counted in ``messaging.store``).

Figures that live in the database (the outbox, parts submitted and their receipts, MOs, job runs,
gateway heartbeats, the scheduler's lease) are read by ``DatabaseCollector`` when scraped, so every
web worker answers the same whichever one is asked. Per-process counters are summed over the
processes of one machine by prometheus_client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR``
is set (docs/operations.md, Metrics).
"""
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from mcrm.extensions import db
from mcrm.jobs.models import JobRun, RunStatus
from mcrm.messaging.models import InboundMessage, InboundStatus, MessageStatus, OutboundMessage, OutboundPart
from mcrm.ops.health import has_fresh_scheduler, list_bound_gateways

#: request methods kept as a label; any other is "other", so a client cannot grow the label set
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: the route label of a request that matched no route (a 404): never the raw path
UNMATCHED = "<unmatched>"

HTTP_LATENCY = Histogram(
    "mcrm_http_request_duration_seconds", "Time from a request's start until its body was sent, by route "
    "template", ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def observe_request(method: str, route: str | None, status: str, seconds: float) -> None:
    HTTP_LATENCY.labels(method if method in _METHODS else "other", route or UNMATCHED, status).observe(seconds)


def _grouped(*columns, where=()):
    return db.session.execute(sa.select(*columns, sa.func.count()).where(*where).group_by(*columns)).all()


def database_metrics(now: datetime) -> list:
    """The metric families read from the database at ``now``."""
    outbox = GaugeMetricFamily("mcrm_outbox_messages", "Outbound messages by status", labels=["status"])
    by_status = {status: count for status, count in _grouped(OutboundMessage.status)}
    for status in MessageStatus:
        outbox.add_metric([status.value], by_status.get(status, 0))

    submitted = CounterMetricFamily("mcrm_sms_parts_submitted", "SMS parts the SMSC accepted (submit_sm_resp OK)")
    submitted.add_metric([], db.session.scalar(sa.select(sa.func.count()).select_from(OutboundPart)))
    receipts = CounterMetricFamily("mcrm_sms_receipts", "Delivery receipts by their stat", labels=["stat"])
    for stat, count in _grouped(OutboundPart.receipt_stat, where=[OutboundPart.receipt_stat.is_not(None)]):
        receipts.add_metric([stat], count)

    inbound = GaugeMetricFamily("mcrm_inbound_messages", "Inbound messages (MO) by status", labels=["status"])
    by_status = {status: count for status, count in _grouped(InboundMessage.status)}
    for status in InboundStatus:
        inbound.add_metric([status.value], by_status.get(status, 0))
    answered = CounterMetricFamily("mcrm_mo_answered", "MOs the keyword engine has handled")
    answered.add_metric([], by_status.get(InboundStatus.DONE, 0))

    runs = CounterMetricFamily("mcrm_job_runs", "Job runs by job and outcome", labels=["job", "status"])
    failures = CounterMetricFamily("mcrm_job_failures", "Job runs that raised", labels=["job"])
    for job_id, status, count in _grouped(JobRun.job_id, JobRun.status):
        runs.add_metric([job_id, status.value], count)
        if status == RunStatus.FAILED:
            failures.add_metric([job_id], count)

    gateways = GaugeMetricFamily("mcrm_gateways_bound", "Gateway workers bound to the SMSC (heartbeat fresh)")
    gateways.add_metric([], len(list_bound_gateways(now)))
    scheduler = GaugeMetricFamily("mcrm_scheduler_leader", "1 when a scheduler holds an unexpired lease")
    scheduler.add_metric([], int(has_fresh_scheduler(now)))
    return [outbox, submitted, receipts, inbound, answered, runs, failures, gateways, scheduler]


class _Collected:
    """A collector yielding given families (``collect`` is all prometheus_client asks of one)."""

    def __init__(self, collect):
        self.collect = collect


def render_metrics(now: datetime, multiproc_dir: str) -> bytes:
    """The exposition text: this machine's processes' counters (or this process's alone), then the
    database's figures."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(_Collected(REGISTRY.collect))
    registry.register(_Collected(lambda: database_metrics(now)))
    try:
        return generate_latest(registry)
    finally:
        db.session.rollback()
