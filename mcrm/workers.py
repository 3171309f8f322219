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

from mcrm.jobs.definitions import JOBS

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


def run_all_in_one(app: Flask) -> None:
    """``mcrm run``: the embedded default, everything in one process."""
    from waitress import serve

    settings = app.extensions["mcrm_settings"]
    scheduler = start_background_scheduler(app) if settings.run_scheduler else None
    stop_inbound = threading.Event()
    start_inbound_loop(app, stop_inbound)
    print(f"mcrm console on http://{settings.host}:{settings.port}/ "
          f"(database {settings.database_url.split('@')[-1]}, SMS transport {settings.sms_transport})", flush=True)
    try:
        serve(app, host=settings.host, port=settings.port, threads=settings.web_threads, ident="mcrm")
    finally:
        stop_inbound.set()
        if scheduler is not None:
            scheduler.shutdown(wait=False)
