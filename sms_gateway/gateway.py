"""The public facade: ``Gateway(config, store)`` runs the transport ``config.transport`` names.

* ``smpp`` — :class:`~sms_gateway.session.SmppWorker`, an ESME bound to a real SMSC;
* ``sandbox`` — :class:`~sms_gateway.sandbox.SandboxWorker`, the embedded default: no SMSC, every
  MT is "delivered" at once and MOs are injected with ``inject_mo``.

Host app::

    gateway = Gateway(GatewayConfig.from_env(os.environ), store)
    gateway.start()          # background thread "sms-gateway" (or gateway.run() to block)
    gateway.wake()           # optional: new MT queued, do not wait for SMPP_POLL_SECS
    gateway.stop(timeout=30) # finish the window, unbind, join

or ``run_forever(config, store)`` in a dedicated process: SIGTERM/SIGINT → stop.
"""
from __future__ import annotations

import collections
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from .config import GatewayConfig
from .sandbox import SandboxWorker
from .session import SmppWorker
from .store import MessageStore
from .worker import Worker

__all__ = ["Gateway", "make_transport", "run_forever"]

logger = logging.getLogger(__name__)


def make_transport(config: GatewayConfig, store: MessageStore, **kwargs: Any) -> Worker:
    """The worker for ``config.transport`` (``smpp`` or ``sandbox``)."""
    if config.transport == "smpp":
        return SmppWorker(config, store, **kwargs)
    if config.transport == "sandbox":
        return SandboxWorker(config, store, **kwargs)
    raise ValueError("unknown transport %r" % config.transport)


class Gateway:
    """Public facade: ``Gateway(config, store)`` picks the transport by ``config.transport``.

    ``run()`` blocks in the calling thread; ``start()`` runs it in a daemon thread; ``stop()``
    finishes the window, unbinds and (for ``start()``) joins; ``wake()`` skips the poll delay.
    """

    def __init__(self, config: GatewayConfig, store: MessageStore, **kwargs: Any) -> None:
        self.config = config
        self.store = store
        self.worker = make_transport(config, store, **kwargs)

    def run(self) -> None:
        self.worker.run()

    def start(self) -> threading.Thread:
        return self.worker.start()

    def stop(self, timeout: float | None = 30.0) -> bool:
        return self.worker.stop(timeout)

    def request_stop(self) -> None:
        self.worker.request_stop()

    def wake(self) -> None:
        self.worker.wake()

    def inject_mo(self, source_addr: str, destination_addr: str, text: str) -> None:
        """Sandbox only: pretend a handset sent ``text``."""
        self.worker.inject_mo(source_addr, destination_addr, text)

    @property
    def stats(self) -> collections.Counter[str]:
        return self.worker.stats

    @property
    def running(self) -> bool:
        return self.worker.running.is_set()


_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def run_forever(config: GatewayConfig, store: MessageStore, **kwargs: Any) -> None:
    """Run the gateway in this (main) thread until SIGTERM or SIGINT, then stop gracefully.
    ``kwargs`` go to the worker (``on_heartbeat``, ``heartbeat_secs``)."""
    gateway = Gateway(config, store, **kwargs)
    previous: dict[signal.Signals, _SignalHandler] = {}

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping gateway", signum)
        gateway.request_stop()

    if threading.current_thread() is threading.main_thread():    # signals can only be set there
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _on_signal)
    try:
        logger.info("gateway starting: %s", config.describe())
        gateway.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
