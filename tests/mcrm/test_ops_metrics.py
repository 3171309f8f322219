"""``/metrics``: parsed with prometheus_client's own parser, the figures move after real actions (an MO
through the keyword engine, sends through the sandbox gateway, job runs, an SMSC error), and only the
machine itself or a bearer of the token may read them."""
from dataclasses import replace

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client.parser import text_string_to_metric_families
from sms_gateway import GatewayConfig, SubmitError

from mcrm import create_app
from mcrm.jobs.models import RunKind
from mcrm.jobs.runner import run_job
from mcrm.jobs.schedule import Job, load_jobs
from mcrm.messaging.models import MessageStatus
from mcrm.messaging.services import enqueue_sms
from mcrm.messaging.store import SqlMessageStore
from mcrm.workers import start_gateway
from tests.conftest import ConsoleClient
from tests.mcrm.keywords_support import phone  # noqa: F401
from tests.smsc_peer import wait_until

TOKEN = "m" * 24


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_an_mo_answered_by_the_engine_moves_the_inbound_figures(client, db, phone, make_member):
    make_member(msisdn="+8613900139000", points=5)
    before = scrape(client)
    assert phone.text("JF")  # the points balance comes back
    after = scrape(client)
    assert value(after, "mcrm_mo_answered_total") == value(before, "mcrm_mo_answered_total") + 1
    assert value(after, "mcrm_inbound_messages", status="done") == value(before, "mcrm_inbound_messages",
                                                                          status="done") + 1
    assert value(after, "mcrm_outbox_messages", status="queued") == value(
        before, "mcrm_outbox_messages", status="queued") + 1


def test_sends_through_the_sandbox_gateway_count_submits_receipts_and_a_bound_gateway(app, client, db, merchant,
                                                                                      now):
    for n in range(3):
        enqueue_sms(merchant, msisdn=f"+861390000000{n}", body="您的积分已到账", kind="transactional", now=now)
    db.session.commit()
    before = scrape(client)
    assert value(before, "mcrm_outbox_messages", status="queued") == 3
    assert value(before, "mcrm_gateways_bound") == 0
    gateway = start_gateway(app, GatewayConfig(transport="sandbox", poll_secs=0.02))
    try:
        wait_until(lambda: value(scrape(client), "mcrm_outbox_messages", status="delivered") == 3, timeout=10,
                   message="three delivered")
        after = scrape(client)
    finally:
        assert gateway.stop(10)
    assert value(after, "mcrm_outbox_messages", status="queued") == 0
    assert value(after, "mcrm_sms_parts_submitted_total") == value(before, "mcrm_sms_parts_submitted_total") + 3
    assert value(after, "mcrm_sms_receipts_total", stat="DELIVRD") == 3
    assert value(after, "mcrm_gateways_bound") == 1
    assert value(scrape(client), "mcrm_gateways_bound") == 0   # it said goodbye on stopping


def test_an_smsc_error_is_counted_by_its_code(app, client, db, merchant, now):
    enqueue_sms(merchant, msisdn="+8613900000001", body="hello", kind="transactional", now=now)
    db.session.commit()
    before = value(scrape(client), "mcrm_smsc_errors_total", code="0x00000058")
    store = SqlMessageStore(app)
    [sms] = store.claim_outbound("w1", 10, now)
    store.mark_failed([SubmitError(sms.id, 0x58, "ESME_RTHROTTLED", 1)])
    assert value(scrape(client), "mcrm_smsc_errors_total", code="0x00000058") == before + 1


def test_job_runs_and_failures_are_counted_per_job(client, db, now):
    def broken(now):
        raise RuntimeError("no")
    failing = Job("broken_job", broken, IntervalTrigger(minutes=1), "interval")
    expire = load_jobs()["expire_points"]
    run_job(expire, now=now, kind=RunKind.MANUAL)
    run_job(failing, now=now, kind=RunKind.MANUAL)
    run_job(failing, now=now, kind=RunKind.MANUAL)
    samples = scrape(client)
    assert value(samples, "mcrm_job_runs_total", job="expire_points", status="ok") == 1
    assert value(samples, "mcrm_job_runs_total", job="broken_job", status="failed") == 2
    assert value(samples, "mcrm_job_failures_total", job="broken_job") == 2
    assert value(samples, "mcrm_job_failures_total", job="expire_points") == 0


def test_http_latency_is_labelled_by_route_template_never_the_raw_path(client, login):
    login("owner")
    client.get("/members/999999").close()    # the request's time counts once its body is sent
    client.get("/no/such/page/13800138000").close()
    client.post("/login", data={"username": "x"}).close()   # refused by the CSRF check before any view
    samples = scrape(client)
    routes = {dict(labels).get("route") for (name, labels) in samples if name.startswith("mcrm_http_request")}
    assert "/members/<int:member_id>" in routes
    assert "<unmatched>" in routes
    assert not any("13800138000" in (route or "") for route in routes)
    assert value(samples, "mcrm_http_request_duration_seconds_count", method="POST", route="/login",
                 status="400") == 1
    assert value(samples, "mcrm_http_request_duration_seconds_count", method="GET",
                 route="/members/<int:member_id>", status="404") >= 1


@pytest.mark.parametrize("environ, headers", [
    ({"REMOTE_ADDR": "10.0.0.5"}, {}),
    ({"REMOTE_ADDR": "127.0.0.1"}, {"X-Forwarded-For": "203.0.113.9"}),   # relayed by a proxy on this machine
])
def test_without_a_token_metrics_answer_only_this_machine(client, environ, headers):
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == 403
    assert "mcrm_" not in response.text


def test_with_a_token_metrics_ask_for_it_from_everyone(settings, db):
    app = create_app(replace(settings, metrics_token=TOKEN))
    app.test_client_class = ConsoleClient
    client = app.test_client()
    assert client.get("/metrics").status_code == 401          # loopback is not enough any more
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 24}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                          environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert response.status_code == 200 and "mcrm_outbox_messages" in response.text


def test_healthz_needs_no_login(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_the_outbox_gauge_lists_every_status_even_at_zero(client, db):
    samples = scrape(client)
    assert {dict(labels)["status"] for name, labels in samples if name == "mcrm_outbox_messages"} == {
        status.value for status in MessageStatus}
    assert sum(value for (name, _labels), value in samples.items() if name == "mcrm_outbox_messages") == 0
