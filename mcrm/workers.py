"""Process entry points: the composition root of web, scheduler and gateway."""
import functools
import importlib
import logging
import os
import socket
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sms_gateway import Gateway, GatewayConfig, GatewayConfigError, run_forever

from mcrm.core.clock import now_utc
from mcrm.extensions import db
from mcrm.jobs.definitions import JOBS
from mcrm.messaging.services import release_stale_claims
from mcrm.messaging.store import SqlMessageStore
from mcrm.settings import SettingsError

logger = logging.getLogger(__name__)


def resolve(func_ref: str):
    module_name, _, attr = func_ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _in_app_context(app: Flask, func):
    @functools.wraps(func)
    def run():
        with app.app_context():
            return func()
    return run


def add_jobs(scheduler: BaseScheduler, app: Flask) -> None:
    for definition in JOBS:
        options = dict(definition)
        job_id, func, trigger = options.pop("id"), resolve(options.pop("func")), options.pop("trigger")
        scheduler.add_job(_in_app_context(app, func), trigger, id=job_id, replace_existing=True,
                          coalesce=True, max_instances=1, misfire_grace_time=3600, **options)


def start_background_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="Asia/Shanghai")
    add_jobs(scheduler, app)
    scheduler.start()
    logger.info("scheduler started with %s jobs", len(JOBS))
    return scheduler


def run_scheduler(app: Flask) -> None:
    """``mcrm scheduler``: the one scheduler process when web and gateway run as separate processes.

    Run exactly one: APScheduler keeps no shared job store between processes.
    """
    scheduler = BlockingScheduler(timezone="Asia/Shanghai")
    add_jobs(scheduler, app)
    logger.info("scheduler running with %s jobs", len(JOBS))
    scheduler.start()


def start_inbound_loop(app: Flask, stop: threading.Event, idle_wait: float = 0.2) -> threading.Thread:
    """A thread answering MOs as they are stored: polls every ``idle_wait`` s while idle."""
    from mcrm.jobs.tasks import process_inbound_sms
    worker_id = f"{socket.gethostname()}:{os.getpid()}:keywords"

    def loop():
        while not stop.is_set():
            with app.app_context():
                try:
                    claimed = process_inbound_sms(worker_id)
                except Exception:  # noqa: BLE001  a lost database must not end the loop
                    logger.exception("inbound processing failed; retrying")
                    claimed = 0
            if not claimed:
                stop.wait(idle_wait)

    thread = threading.Thread(target=loop, name="mcrm-keywords", daemon=True)
    thread.start()
    return thread


def gateway_config(app: Flask) -> GatewayConfig:
    """``SMPP_*`` settings; the transport is mcrm's ``MCRM_SMS_TRANSPORT`` (sandbox by default).
    A bad value raises SettingsError at start, like mcrm's own settings."""
    try:
        return GatewayConfig.from_env(os.environ, transport=app.extensions["mcrm_settings"].sms_transport)
    except GatewayConfigError as error:
        raise SettingsError(str(error)) from None


def _prepare_gateway(app: Flask) -> tuple[GatewayConfig, SqlMessageStore]:
    config = gateway_config(app)
    with app.app_context():
        # claims of a worker that crashed under another worker id; our own are released by the gateway
        release_stale_claims(now_utc())
        db.session.commit()
    return config, SqlMessageStore(app)


def run_gateway(app: Flask) -> None:
    """``mcrm gateway``: the SMS gateway as its own process, until SIGTERM/SIGINT, which finishes
    the window of unanswered submits, unbinds and exits. Give each concurrent gateway process its
    own ``SMPP_WORKER_ID`` and keep it across restarts (a restart releases that id's claims)."""
    config, store = _prepare_gateway(app)
    # MOs are answered where they arrive, so a split deployment needs no extra process
    stop_inbound = threading.Event()
    start_inbound_loop(app, stop_inbound)
    try:
        run_forever(config, store)
    finally:
        stop_inbound.set()


def start_gateway(app: Flask) -> Gateway:
    """The gateway as a background thread of ``mcrm run``."""
    config, store = _prepare_gateway(app)
    gateway = Gateway(config, store)
    gateway.start()
    logger.info("gateway thread started (%s transport)", config.transport)
    return gateway


def run_all_in_one(app: Flask) -> None:
    """``mcrm run``: the embedded default, everything in one process."""
    from waitress import serve

    settings = app.extensions["mcrm_settings"]
    scheduler = start_background_scheduler(app) if settings.run_scheduler else None
    gateway = start_gateway(app) if settings.run_gateway else None
    stop_inbound = threading.Event()
    start_inbound_loop(app, stop_inbound)
    print(f"mcrm console on http://{settings.host}:{settings.port}/ "
          f"(database {settings.database_url.split('@')[-1]}, SMS transport {settings.sms_transport})", flush=True)
    try:
        serve(app, host=settings.host, port=settings.port, threads=settings.web_threads, ident="mcrm")
    finally:
        if gateway is not None:
            gateway.stop(timeout=30)
        stop_inbound.set()
        if scheduler is not None:
            scheduler.shutdown(wait=False)
