"""The logs of every process: plain lines or JSON lines (``MCRM_LOG_FORMAT``), through one filter that
masks every phone number, in the message and in a traceback alike.

What the filter cannot recognise (a message body, a password, a login code) is kept out where logs
are written: loggers get ids and masked numbers, job errors are summarised without the statement
(``jobs.services.error_summary``), and the engine hides a failed statement's parameters
(``hide_parameters`` in ``create_app``), so no exception text quotes them.
"""
import json
import logging
import sys
from datetime import datetime

from mcrm.core.msisdn import mask_numbers
from mcrm.settings import Settings

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _server_time(record: logging.LogRecord) -> str:
    """ISO 8601 in the server's zone with its offset (``2026-03-01T09:30:00.123+08:00``): one zone for
    every line of every process, whichever merchant a line is about."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class PrivacyFilter(logging.Filter):
    """Masks phone numbers (``mask_numbers``) in the formatted message, the traceback and the stack.
    On the handler, so it sees every logger's records, the gateway's and the libraries' too."""

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_numbers(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_numbers(record.stack_info)
        return True


class PlainFormatter(logging.Formatter):
    def formatTime(self, record, datefmt=None):
        return _server_time(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, ``process``, and
    ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": _server_time(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage(), "process": record.process}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def dress_handler(handler: logging.Handler, settings: Settings) -> logging.Handler:
    """``handler`` in ``settings.log_format``, through the privacy filter: for mcrm's own handler,
    and for those a server makes itself (gunicorn's, ``deploy/gunicorn.conf.py``)."""
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else PlainFormatter(PLAIN_FORMAT))
    handler.addFilter(PrivacyFilter())
    return handler


def configure_logging(settings: Settings, stream=None) -> logging.Handler:
    """Every record of the process to ``stream`` (standard error) at INFO, through the privacy filter,
    in ``settings.log_format``. Returns the handler."""
    handler = dress_handler(logging.StreamHandler(stream or sys.stderr), settings)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # the start-up check reads the revision through Alembic, which narrates that at INFO
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler narrates every firing (the lease's every few seconds); mcrm.jobs logs each run
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
