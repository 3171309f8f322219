"""gunicorn settings for mcrm's web workers (docs/deployment.md):

    gunicorn --config deploy/gunicorn.conf.py --workers 4 --bind 127.0.0.1:8000 wsgi:app

Only what every installation shares is here; the address and the number of workers are given on
the command line (the systemd unit), mcrm's own settings come from the environment as always.
"""
from gunicorn.glogging import Logger

from mcrm.ops.logs import configure_logging, dress_handler
from mcrm.settings import Settings
from mcrm.web import loggable_target

# threads: a long CSV export holds one thread, not a whole worker
worker_class = "gthread"
threads = 4
# SIGTERM: stop accepting, let requests in flight finish for up to this long, then stop
graceful_timeout = 30
timeout = 60
# mcrm's request log (masked numbers, no query values) replaces gunicorn's access log; one asked
# for on the command line (--access-logfile -) is written as mcrm writes its own
accesslog = None


class McrmLogger(Logger):
    """gunicorn's own lines (its start, workers booting and dying, and the access log when on) in
    mcrm's format, JSON when ``MCRM_LOG_FORMAT=json``, through the filter that masks numbers."""

    def setup(self, cfg):
        super().setup(cfg)
        settings = Settings.from_env()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):   # made afresh by every setup (a reload too)
                    dress_handler(handler, settings)

    def access(self, resp, req, environ, request_time):
        """``GET /members/?q=… 200 1532B 12ms``: what mcrm's request log shows (numbers masked, query
        values hidden), never the client's address, its referrer or its agent."""
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        self.access_log.info("%s %s %s %sB %dms", environ.get("REQUEST_METHOD", "-"),
                             loggable_target(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")),
                             status, getattr(resp, "sent", None) or 0, request_time.total_seconds() * 1000)


logger_class = McrmLogger


def on_starting(server):
    """The master configures logging before it forks: the workers inherit mcrm's format and filter."""
    configure_logging(Settings.from_env())


def child_exit(server, worker):
    """Multiprocess mode keeps a dead worker's counters (they stay in the sums) but not its gauges."""
    if Settings.from_env().metrics_multiproc_dir:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
