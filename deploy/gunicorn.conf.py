"""gunicorn settings for mcrm's web workers (docs/deployment.md):

    gunicorn --config deploy/gunicorn.conf.py --workers 4 --bind 127.0.0.1:8000 wsgi:app

Only what every installation shares is here; the address and the number of workers are given on
the command line (the systemd unit), mcrm's own settings come from the environment as always.
"""
from mcrm.ops.logs import configure_logging
from mcrm.settings import Settings

# threads: a long CSV export holds one thread, not a whole worker
worker_class = "gthread"
threads = 4
# SIGTERM: stop accepting, let requests in flight finish for up to this long, then stop
graceful_timeout = 30
timeout = 60
# mcrm's request log (masked numbers, no query values) replaces gunicorn's access log
accesslog = None


def on_starting(server):
    """The master configures logging before it forks: the workers inherit mcrm's format and filter."""
    configure_logging(Settings.from_env())


def child_exit(server, worker):
    """Multiprocess mode keeps a dead worker's counters (they stay in the sums) but not its gauges."""
    if Settings.from_env().metrics_multiproc_dir:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
