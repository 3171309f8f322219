"""Process entry points: the composition root of web, scheduler and gateway."""
import logging
import os
import signal
import socket
import threading

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sms_gateway import Gateway, GatewayConfig, GatewayConfigError, run_forever

from mcrm.core.clock import now_utc
from mcrm.extensions import db, limiter
from mcrm.jobs.definitions import TIMEZONE
from mcrm.jobs.scheduler import LeaderScheduler
from mcrm.jobs.tasks import process_inbound_sms
from mcrm.messaging.services import release_stale_claims
from mcrm.messaging.store import SqlMessageStore
from mcrm.ops.health import GATEWAY_BEAT, record_gateway_heartbeat
from mcrm.settings import SettingsError

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """The process cannot do its work (database, port, storage): it stops at once with this reason
    rather than start and then serve errors."""


def check_database(app: Flask) -> None:
    """The database answers and is at exactly the revision this code's migrations end at."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=True)
        try:
            with db.engine.connect() as connection:
                current = set(MigrationContext.configure(connection).get_current_heads())
        except sa.exc.SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise StartupError(f"cannot use the database {url}: {reason}") from None
    script = ScriptDirectory(app.extensions["migrate"].directory)
    heads = set(script.get_heads())
    if current == heads:
        return
    if not current:
        raise StartupError(f"the database {url} has no tables yet: run `mcrm db upgrade`")
    unknown = current - {revision.revision for revision in script.walk_revisions()}
    if unknown:
        raise StartupError(f"the database {url} is at revision {', '.join(sorted(unknown))}, which this code "
                           f"does not know (a newer release migrated it): run that release")
    raise StartupError(f"the database {url} is at revision {', '.join(sorted(current))}, behind this "
                       f"code's {', '.join(sorted(heads))}: run `mcrm db upgrade`")


def make_scheduler(app: Flask, kind=BackgroundScheduler) -> LeaderScheduler:
    """The periodic jobs on an APScheduler of ``kind``, acting while they hold the lease."""
    settings = app.extensions["mcrm_settings"]
    return LeaderScheduler(app, kind(timezone=TIMEZONE), lease_seconds=settings.scheduler_lease_secs)


def start_background_scheduler(app: Flask) -> LeaderScheduler:
    """The scheduler as a background thread of ``mcrm run``."""
    background = make_scheduler(app)
    background.start()
    return background


def run_scheduler(app: Flask) -> None:
    """``mcrm scheduler``: the scheduler as its own process, until SIGTERM/SIGINT, which lets a running
    job finish and gives the lease to the next scheduler at once. Run one or several: one acts."""
    check_database(app)
    blocking = make_scheduler(app, BlockingScheduler)
    _stop_on_sigterm()
    try:
        blocking.start()
    finally:
        blocking.stop()


def start_inbound_loop(app: Flask, stop: threading.Event, idle_wait: float = 0.2) -> threading.Thread:
    """A thread answering MOs as they are stored: polls every ``idle_wait`` s while idle."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}:keywords"

    def loop():
        while not stop.is_set():
            with app.app_context():
                try:
                    claimed = process_inbound_sms(worker_id)
                except Exception:  # a lost database must not end the loop
                    logger.exception("inbound processing failed; retrying")
                    claimed = 0
            if not claimed:
                stop.wait(idle_wait)

    thread = threading.Thread(target=loop, name="mcrm-keywords", daemon=True)
    thread.start()
    return thread


def gateway_config(app: Flask) -> GatewayConfig:
    """``SMPP_*`` settings; the transport is the one mcrm's settings read (``SMPP_TRANSPORT`` or its
    former name). A bad value raises SettingsError at start, like mcrm's own settings."""
    try:
        return GatewayConfig.from_env(os.environ, transport=app.extensions["mcrm_settings"].sms_transport)
    except GatewayConfigError as error:
        raise SettingsError(str(error)) from None


def _gateway_store(app: Flask) -> SqlMessageStore:
    with app.app_context():
        # claims of a worker that crashed under another worker id; our own are released by the gateway
        release_stale_claims(now_utc())
        db.session.commit()
    return SqlMessageStore(app)


def gateway_heartbeat(app: Flask, config: GatewayConfig):
    """The gateway's ``on_heartbeat``: its worker id's row in ``gateway_heartbeats`` (``/readyz``)."""
    host, pid = socket.gethostname(), os.getpid()

    def beat(bound: bool) -> None:
        with app.app_context():
            try:
                record_gateway_heartbeat(config.worker_id, bound=bound, transport=config.transport, host=host,
                                         pid=pid, now=now_utc())
                db.session.commit()
            finally:
                db.session.rollback()
    return beat


def _gateway_options(app: Flask, config: GatewayConfig) -> dict:
    return dict(on_heartbeat=gateway_heartbeat(app, config), heartbeat_secs=GATEWAY_BEAT.total_seconds())


def run_gateway(app: Flask) -> None:
    """``mcrm gateway``: the SMS gateway as its own process, until SIGTERM/SIGINT, which finishes
    the window of unanswered submits, unbinds and exits. Give each concurrent gateway process its
    own ``SMPP_WORKER_ID`` and keep it across restarts (a restart releases that id's claims)."""
    config = gateway_config(app)
    check_database(app)
    store = _gateway_store(app)
    # MOs are answered where they arrive, so a split deployment needs no extra process
    stop_inbound = threading.Event()
    start_inbound_loop(app, stop_inbound)
    try:
        run_forever(config, store, **_gateway_options(app, config))
    finally:
        stop_inbound.set()


def start_gateway(app: Flask, config: GatewayConfig) -> Gateway:
    """The gateway as a background thread of ``mcrm run``."""
    gateway = Gateway(config, _gateway_store(app), **_gateway_options(app, config))
    gateway.start()
    logger.info("gateway thread started (%s transport)", config.transport)
    return gateway


def check_ratelimit_storage(app: Flask) -> None:
    """A shared rate-limit store (Redis) that does not answer would fail every login."""
    with app.app_context():
        if not limiter.storage.check():
            where = app.extensions["mcrm_settings"].ratelimit_storage.rpartition("@")[2]
            raise StartupError(f"cannot reach the rate-limit storage {where} (MCRM_RATELIMIT_STORAGE)")


def listen(app: Flask, host: str, port: int):
    """The web server, its port already bound: a taken port stops ``mcrm run`` before any thread starts."""
    from waitress.server import create_server

    settings = app.extensions["mcrm_settings"]
    try:
        return create_server(app, host=host, port=port, threads=settings.web_threads, ident="mcrm")
    except OSError as error:
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop) ends ``mcrm run`` like Ctrl-C: the server's loop exits and the
    gateway finishes its window and unbinds, instead of the process dying mid-submit."""
    def terminate(_signum, _frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, terminate)


def run_all_in_one(app: Flask, host: str, port: int) -> None:
    """``mcrm run``: the embedded default, everything in one process. Every check runs before
    anything starts, so a bad setting, database or port is one line and no half-started service."""
    settings = app.extensions["mcrm_settings"]
    config = gateway_config(app) if settings.run_gateway else None
    check_database(app)
    check_ratelimit_storage(app)
    server = listen(app, host, port)
    # a SIGTERM while the threads start is kept until the finally below can stop them all: the
    # scheduler takes its lease within milliseconds, and a process ended before it gives it back
    # leaves the next one waiting for the lease to expire
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: terminated.set())
    background = start_background_scheduler(app) if settings.run_scheduler else None
    gateway = start_gateway(app, config) if config is not None else None
    stop_inbound = threading.Event()
    start_inbound_loop(app, stop_inbound)
    try:
        _stop_on_sigterm()
        if terminated.is_set():
            raise SystemExit(0)
        print(f"mcrm console on http://{host}:{port}/ (database {settings.database_url.split('@')[-1]}, "
              f"SMS transport {settings.sms_transport})", flush=True)
        server.run()
    finally:
        logger.info("stopping")
        if gateway is not None:
            gateway.stop(timeout=30)
        stop_inbound.set()
        if background is not None:
            background.stop()
