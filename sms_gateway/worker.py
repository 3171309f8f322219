"""What both transports share: the worker thread, its stop flag and wake pipe, and the store calls
that must behave the same whether an SMSC is there or not.

A worker owns one thread. Other threads and signal handlers talk to it only through ``wake()`` and
``request_stop()``, which write one byte to a socket pair the loop selects on, so the loop never
sleeps past a new message or a stop request and nothing else needs a lock.
"""
from __future__ import annotations

import collections
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from .backoff import Backoff
from .config import GatewayConfig
from .store import InboundSms, MessageStore

__all__ = ["Worker", "mask_msisdn", "utcnow"]

logger = logging.getLogger(__name__)


def mask_msisdn(addr: str) -> str:
    """``+8613800138000`` → ``+86138****8000``: enough to correlate logs, not to identify.

    The rule of mcrm.core.msisdn.mask_msisdn, kept here because the gateway imports nothing of
    mcrm: the four characters before the last four become stars; an address of 8 characters or
    fewer shows only stars.
    """
    if len(addr) <= 8:
        return "*" * len(addr)
    return addr[:-8] + "****" + addr[-4:]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Worker:
    """Stop flag, wake pipe and thread handling shared by both transports; ``_run`` is the loop."""

    thread_name = "sms-gateway"

    def __init__(self, config: GatewayConfig, store: MessageStore,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], datetime] = utcnow,
                 on_heartbeat: Callable[[bool], None] | None = None,
                 heartbeat_secs: float = 10.0) -> None:
        """:param on_heartbeat: called from the worker's thread with whether it is bound (the
            sandbox: running), when that changes and every ``heartbeat_secs`` meanwhile, so the host
            can tell a live gateway from a dead one without the gateway knowing the host."""
        self.config = config
        self.store = store
        self.clock = clock
        self.wallclock = wallclock
        self.on_heartbeat = on_heartbeat
        self.heartbeat_secs = heartbeat_secs
        self._beat_bound: bool | None = None
        self._beat_at = 0.0
        self._stop_requested = False
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.running = threading.Event()
        self.stats: collections.Counter[str] = collections.Counter()

    # -- control (thread-safe, signal-safe)
    def request_stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler or another thread)."""
        self._stop_requested = True
        self.wake()

    def wake(self) -> None:
        """Make the loop look at the store now instead of after SMPP_POLL_SECS."""
        w = self._wake_w
        if w is not None:
            try:
                w.send(b"x")
            except OSError:
                pass            # the pipe is full: the loop is already due to wake up

    def start(self) -> threading.Thread:
        """Run in a daemon thread; returns it."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("gateway already running")
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Request a graceful stop and, if started with ``start()``, wait for the thread.
        Returns True when the worker has finished."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return not self.running.is_set()

    def run(self) -> None:
        """The loop, in the calling thread, until a stop is requested."""
        self._open_wake()
        self.running.set()
        try:
            self._run()
        finally:
            self.running.clear()
            self._close_wake()

    def _run(self) -> None:
        raise NotImplementedError

    def inject_mo(self, source_addr: str, destination_addr: str, text: str) -> None:
        raise RuntimeError("inject_mo needs SMPP_TRANSPORT=sandbox (use the SMSC to send MOs)")

    # -- waiting
    def _open_wake(self) -> None:
        r, w = socket.socketpair()
        r.setblocking(False)
        w.setblocking(False)
        self._wake_r, self._wake_w = r, w

    def _close_wake(self) -> None:
        r, w = self._wake_r, self._wake_w
        self._wake_r = self._wake_w = None
        for s in (w, r):
            if s is not None:
                s.close()

    def _wake_socket(self) -> socket.socket:
        """The end of the wake pipe the loop selects on (open while ``run()`` runs)."""
        if self._wake_r is None:
            raise RuntimeError("the worker is not running")
        return self._wake_r

    def _drain_wake(self) -> None:
        try:
            while self._wake_socket().recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass                # empty: every wake-up so far is consumed

    def _sleep(self, seconds: float) -> None:
        """Wait up to ``seconds``, returning early on wake/stop."""
        if seconds <= 0 or self._stop_requested:
            return
        readable, _, _ = select.select([self._wake_socket()], [], [], seconds)
        if readable:
            self._drain_wake()

    def _backoff(self) -> Backoff:
        """A fresh reconnect back-off (SMPP_RECONNECT_MIN_SECS doubling up to _MAX_SECS)."""
        return Backoff(self.config.reconnect_min_secs, self.config.reconnect_max_secs)

    def _beat(self, bound: bool) -> None:
        """Report ``bound`` to ``on_heartbeat`` if it changed or the last report is due again."""
        if self.on_heartbeat is None:
            return
        now = self.clock()
        if bound == self._beat_bound and now - self._beat_at < self.heartbeat_secs:
            return
        self._beat_bound, self._beat_at = bound, now
        try:
            self.on_heartbeat(bound)
        except Exception:  # a missed heartbeat only makes the gateway look unready; never stop for it
            logger.exception("heartbeat callback failed")

    # -- store calls shared by both transports
    def _release_at_start(self) -> bool:
        """release_claims(worker_id) before anything else, retrying while the store is down.
        Returns False if a stop came first."""
        backoff = self._backoff()
        while not self._stop_requested:
            try:
                released = self.store.release_claims(self.config.worker_id)
            except Exception:  # the database may still be starting
                delay = backoff.next_delay()
                logger.exception("release_claims failed at start; retrying in %.1fs", delay)
                self._sleep(delay)
                continue
            if released:
                logger.info("released %d stale claim(s) of %s", released, self.config.worker_id)
            return True
        return False

    def _save_inbound(self, sms: InboundSms) -> bool:
        """Store one MO; False when the store refused it (the caller answers so it comes again)."""
        try:
            self.store.save_inbound(sms)
        except Exception:  # "raising means not stored"; the SMSC will retry
            logger.exception("save_inbound failed for MO from %s", mask_msisdn(sms.source_addr))
            self.stats["mo_store_errors"] += 1
            return False
        self.stats["mo_saved"] += 1
        logger.info("MO from %s to %s stored (%d part(s), dc %d)", mask_msisdn(sms.source_addr),
                    sms.destination_addr, sms.parts, sms.data_coding)
        return True
