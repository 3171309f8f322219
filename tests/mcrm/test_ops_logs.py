"""Structured logs: JSON lines when MCRM_LOG_FORMAT=json, plain lines otherwise, and never a message
body, a password, a login code or a whole phone number, whichever logger writes (the request log,
the gateway, the keyword engine, the inbox, the jobs), in messages and tracebacks alike."""
import io
import json
import logging
import re
from dataclasses import replace

import pytest
import sqlalchemy as sa
from apscheduler.triggers.interval import IntervalTrigger
from sms_gateway import GatewayConfig

from mcrm.core.clock import now_utc
from mcrm.extensions import db as _db
from mcrm.jobs.models import RunKind
from mcrm.jobs.runner import run_job
from mcrm.jobs.schedule import Job
from mcrm.jobs.tasks import process_inbound_sms
from mcrm.messaging.models import InboundMessage, MessageStatus, OutboundMessage
from mcrm.ops.logs import configure_logging
from mcrm.workers import start_gateway
from tests.conftest import csrf_token
from tests.smsc_peer import wait_until

PASSWORD = "Pw-never-logged-5521"
MEMBER = "+8613912345678"
STAFF_PHONE = "+8613811112222"
BODY = "SECRET-BODY 我的卡号 6222020200112233445"


@pytest.fixture
def captured():
    """Configure the process's logging as ``mcrm`` does, into a buffer; ``captured(format)``."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()

    def configure(settings):
        configure_logging(settings, stream=buffer)
        root.setLevel(logging.DEBUG)   # the engine's and the gateway's DEBUG lines too
        return buffer
    yield configure
    root.handlers[:] = handlers   # pytest's own capture handlers among them
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_and_message(captured, settings):
    buffer = captured(replace(settings, log_format="json"))
    logging.getLogger("mcrm.test").warning("claimed %d for %s", 3, "+8613800138000")
    try:
        raise ValueError("bad number 13800138000")
    except ValueError:
        logging.getLogger("sms_gateway.session").exception("failed for %s", "8613800138000")
    first, second = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert first["level"] == "WARNING" and first["logger"] == "mcrm.test"
    assert first["message"] == "claimed 3 for +86138****8000"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", first["time"])
    assert second["message"] == "failed for 86138****8000"
    assert "ValueError: bad number 138****8000" in second["exception"]
    assert "13800138000" not in buffer.getvalue()


def test_plain_lines_are_the_default(captured, settings):
    buffer = captured(settings)
    logging.getLogger("mcrm.test").info("to %s", "+8613800138000")
    assert re.fullmatch(r"\S+ INFO mcrm\.test: to \+86138\*\*\*\*8000\n", buffer.getvalue())


def test_no_body_password_login_code_or_whole_number_in_any_log(captured, settings, app, db, client, merchant,
                                                                 make_staff, make_member):
    buffer = captured(replace(settings, log_format="json"))
    make_member(msisdn=MEMBER, points=5)
    make_staff("owner", username="boss", password=PASSWORD, msisdn=STAFF_PHONE)
    service_number = settings.access_number + merchant.sub_code
    # a login code: read from the outbox before a gateway sends it (sending clears it), typed back later
    client.post("/login/code/", data={"csrf_token": csrf_token(client, "/login/code/"), "identifier": "boss"}).close()
    code = re.search(r"\d{6}", db.session.scalar(sa.select(OutboundMessage.secret_text))).group()
    db.session.rollback()   # SQLite: the gateway needs the write lock this session's reads hold
    gateway = start_gateway(app, GatewayConfig(transport="sandbox", poll_secs=0.02))
    try:
        client.post("/login/code/verify", data={"csrf_token": csrf_token(client, "/login/code/verify"),
                                                "code": code}).close()
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).close()
        # the request log: a wrong and a right password, numbers in paths and queries
        token = csrf_token(client)
        client.post("/login", data={"csrf_token": token, "username": "boss", "password": PASSWORD + "x"}).close()
        client.post("/login", data={"csrf_token": token, "username": "boss", "password": PASSWORD}).close()
        client.get(f"/members/?q={MEMBER[3:]}").close()
        client.get(f"/conversations/{MEMBER}").close()
        # MOs through the gateway and the engine: one answered, one to no merchant
        gateway.inject_mo(MEMBER, service_number, BODY)
        gateway.inject_mo(MEMBER, service_number, "JF")
        gateway.inject_mo(MEMBER, "1069999999999", BODY)
        wait_until(lambda: count(db, InboundMessage) == 3, timeout=10, message="three MOs stored")
        process_inbound_sms(now=now_utc())
        wait_until(lambda: count(db, OutboundMessage, OutboundMessage.status == MessageStatus.QUEUED) == 0,
                   timeout=10, message="the answers sent")
        # a store that fails mid-write: the gateway logs the exception
        db.session.execute(sa.text("ALTER TABLE inbound_messages RENAME TO inbound_messages_away"))
        db.session.commit()
        try:
            gateway.inject_mo(MEMBER, service_number, BODY)
            wait_until(lambda: "save_inbound failed" in buffer.getvalue(), timeout=10, message="a store error")
        finally:
            assert gateway.stop(10)
            db.session.execute(sa.text("ALTER TABLE inbound_messages_away RENAME TO inbound_messages"))
            db.session.commit()
    finally:
        gateway.stop(10)
    # a job that fails on the database with a body and a number in its statement's parameters
    run_job(Job("leaky", lambda now: _db.session.execute(sa.text("INSERT INTO no_such_table VALUES (:b, :n)"),
                                                           {"b": BODY, "n": MEMBER}),
                IntervalTrigger(minutes=1), "interval"), now=now_utc(), kind=RunKind.MANUAL)

    output = buffer.getvalue()
    entries = [json.loads(line) for line in output.splitlines()]   # every line is JSON
    loggers = {entry["logger"] for entry in entries}
    assert {"mcrm.requests", "sms_gateway.worker", "mcrm.keywords.engine", "mcrm.messaging.services",
            "mcrm.jobs.runner"} <= loggers, loggers
    assert any("exception" in entry for entry in entries)
    for secret in (PASSWORD, code, "SECRET-BODY", "我的卡号", "6222020200112233445", MEMBER, MEMBER[1:],
                   MEMBER[3:], STAFF_PHONE, STAFF_PHONE[3:]):
        assert secret not in output, f"{secret!r} in the logs"
    assert "+86139****5678" in output   # masked numbers still let one follow a number


def count(db, model, *where) -> int:
    value = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
    db.session.rollback()
    return value
