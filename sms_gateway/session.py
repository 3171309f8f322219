"""The SMPP transport (``SMPP_TRANSPORT=smpp``): :class:`SmppWorker`, an ESME on smpplib.

One thread owns the socket(s) and loops on ``select([sockets, wake-pipe], timeout)``: readable →
read and dispatch every PDU; then flush results to the store in batches; claim up to
``SMPP_BATCH_SIZE`` when its queue runs low; submit while the window (``SMPP_WINDOW``) has room and
the token bucket (``SMPP_TPS``) allows; enquire_link when idle. Lost links and failed binds
reconnect after a capped exponential back-off. ``stop()`` stops claiming, lets the window drain,
unbinds and disconnects.

smpplib is not thread-safe and its blocking helpers take whatever PDU comes next for the response
they wait for (see ``client.py``), so nothing here blocks on one PDU: every wait is the one
``select()``, and every read is dispatched by command.
"""
from __future__ import annotations

import collections
import logging
import select
import socket
import threading
import zlib
from datetime import timedelta
from typing import Any

from smpplib import consts

from . import encoding
from .client import BindError, GatewayClient, Pdu, SessionLostError, status_name
from .redelivery import RedeliveryGuard
from .store import (DeliveryReceipt, InboundPart, InboundSms, OutboundSms, OutboxId, PartResult,
                    SubmitError)
from .throttle import TokenBucket
from .worker import Worker, mask_msisdn

__all__ = ["SmppWorker", "TRANSIENT_STATUSES", "FLOW_CONTROL_STATUSES", "concat_ref"]

logger = logging.getLogger(__name__)

ESME_ROK = consts.SMPP_ESME_ROK
ESME_RX_T_APPN = consts.SMPP_ESME_RX_T_APPN
#: submit_sm_resp statuses that are worth another try later; anything else fails the message.
TRANSIENT_STATUSES = frozenset({
    consts.SMPP_ESME_RTHROTTLED,      # 0x58
    consts.SMPP_ESME_RMSGQFUL,        # 0x14
    consts.SMPP_ESME_RSYSERR,         # 0x08
    consts.SMPP_ESME_RSUBMITFAIL,     # 0x45
    consts.SMPP_ESME_RX_T_APPN,       # 0x64
    consts.SMPP_ESME_RUNKNOWNERR,     # 0xFF
    consts.SMPP_ESME_RINVBNDSTS,      # 0x04 (the SMSC lost our bind: rebind and retry)
})
#: Flow-control statuses: the SMSC is busy, not the message's fault; pause all submits, no attempt counted.
FLOW_CONTROL_STATUSES = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})
#: how often, at most, the store is asked to expire waiting MO parts (a query, not every loop turn)
_EXPIRY_INTERVAL_SECS = 5.0


def _bad_address(addr: str, name: str) -> str | None:
    """Why ``addr`` cannot go in a submit_sm (SMPP addresses: up to 20 ASCII characters), or None."""
    if not addr:
        return "%s is empty (local check)" % name
    if len(addr) > 20:
        return "%s longer than 20 characters (local check)" % name
    if not (addr.isascii() and addr.isprintable()) or " " in addr:    # 0x21..0x7E only
        return "%s is not printable ASCII (local check)" % name
    return None


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


class _Outgoing:
    """A claimed MT message while its parts are being submitted."""

    __slots__ = ("sms", "parts", "todo", "next_part", "acked", "done")

    def __init__(self, sms: OutboundSms, parts: list[encoding.SmsPart]) -> None:
        self.sms = sms
        self.parts = parts
        # a retry sends only what the SMSC has not accepted yet (the same reference joins them)
        self.todo = [i for i, part in enumerate(parts) if part.part_index not in sms.accepted_parts]
        self.next_part = 0          # index into todo of the next part to send
        self.acked = len(parts) - len(self.todo)
        self.done = False           # resolved (submitted, retried or failed): ignore late responses


def concat_ref(outbox_id: OutboxId) -> int:
    """The 8-bit concatenation reference of a message's parts: from its id, so that every attempt
    uses the same one and a handset joins parts sent in different attempts."""
    if isinstance(outbox_id, int):
        return outbox_id & 0xFF
    return zlib.crc32(str(outbox_id).encode()) & 0xFF


class _Session:
    """One bound smpplib client and its per-turn output buffer."""

    __slots__ = ("client", "role", "out", "last_rx", "last_tx", "enquire_seq", "enquire_sent",
                 "unbind_seq", "unbind_sent", "unbound")

    def __init__(self, client: GatewayClient, role: str, now: float) -> None:
        self.client = client
        self.role = role              # "trx", "tx" or "rx"
        self.out: list[Pdu | bytes] = []        # PDUs, or bytes already encoded
        self.last_rx = now
        self.last_tx = now
        self.enquire_seq: int | None = None
        self.enquire_sent = 0.0
        self.unbind_seq: int | None = None
        self.unbind_sent = 0.0
        self.unbound = False

    @property
    def transmits(self) -> bool:
        return self.role in ("trx", "tx")


class _SmscUnbound(Exception):
    """The SMSC sent unbind: we answered, now reconnect."""


class SmppWorker(Worker):
    """The ESME: see the module docstring for the loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config
        self.bucket = TokenBucket(cfg.tps, self.clock)
        self._queue: collections.deque[_Outgoing] = collections.deque()   # claimed, parts left to send
        self._inflight: dict[int, tuple[_Outgoing, int, float]] = {}         # seq -> (msg, part idx, sent)
        # submit_sm whose response timed out on the live session: seq -> (msg, part idx, timed out at)
        self._overdue: dict[int, tuple[_Outgoing, int, float]] = {}
        self._sessions: list[_Session] = []
        self._tx: _Session | None = None
        self._next_expiry = 0.0
        # results waiting for the store (flushed once per loop turn, in this order)
        self._parts: list[PartResult] = []
        self._submitted: list[OutboxId] = []
        self._retry: list[SubmitError] = []
        self._failed: list[SubmitError] = []
        self._receipts: list[tuple[DeliveryReceipt, _Session, int]] = []
        self._next_claim = 0.0
        self._store_ok_at = 0.0
        self._early: list[tuple[_Session, Pdu]] = []
        self._read_at = self.wallclock()     # when the PDUs being dispatched were read
        self.bound = threading.Event()
        self.connects = 0
        # a dead link goes unnoticed for up to an idle interval plus the enquire_link's timeout
        self._redelivery = RedeliveryGuard(cfg.enquire_link_secs + cfg.response_timeout_secs,
                                           cfg.mo_redelivery_secs, self.clock)

    # ------------------------------------------------------------------ outer loop
    def _run(self) -> None:
        cfg = self.config
        if not self._release_at_start():
            return
        backoff = self._backoff()
        try:
            while not self._stop_requested:
                try:
                    self._connect()
                except Exception as exc:  # noqa: BLE001 - never let the thread die
                    delay = backoff.next_delay()
                    if isinstance(exc, BindError):
                        logger.error("bind to %s:%s failed: %s; retrying in %.1fs", cfg.host, cfg.port, exc,
                                     delay)
                        self.stats["bind_failures"] += 1
                    else:
                        log = logger.warning if isinstance(exc, OSError) else logger.exception
                        log("cannot reach SMSC %s:%s: %s; retrying in %.1fs", cfg.host, cfg.port, exc, delay)
                        self.stats["connect_failures"] += 1
                    self._disconnect()
                    self._sleep(delay)
                    continue
                backoff.reset()
                try:
                    self._session_loop()
                except _SmscUnbound:
                    logger.warning("SMSC unbound us; reconnecting")
                    self.stats["smsc_unbinds"] += 1
                except OSError as exc:
                    logger.warning("SMPP link lost: %s", exc)
                    self.stats["link_lost"] += 1
                    self._redelivery.link_lost()
                except Exception:  # a bug must not kill the gateway: reconnect
                    logger.exception("unexpected error in the SMPP session; reconnecting")
                    self.stats["errors"] += 1
                    self._redelivery.link_lost()
                finally:
                    self._disconnect()
                    self._requeue_inflight("connection lost")
                    self._flush_store(force=True)
                    self._release_local()
                if not self._stop_requested:
                    self._sleep(backoff.next_delay())
        finally:
            self._disconnect()
            self._requeue_inflight("shutdown")
            self._queue.clear()
            self._flush_store(force=True)
            try:
                self.store.release_claims(cfg.worker_id)
            except Exception:  # stopping anyway: the next start releases the claims
                logger.exception("release_claims failed at shutdown")
            logger.info("SMPP gateway stopped")

    def _connect(self) -> None:
        cfg = self.config
        now = self.clock()
        roles = ["transceiver"] if cfg.bind == "trx" else ["transmitter", "receiver"]
        sessions = []
        try:
            for mode in roles:
                role = {"transceiver": "trx", "transmitter": "tx", "receiver": "rx"}[mode]
                client = GatewayClient(cfg.host, cfg.port, timeout=cfg.response_timeout_secs, name=role)
                session = _Session(client, role, now)
                sessions.append(session)
                client.open()
                early = client.bind(mode, cfg.system_id, cfg.password, cfg.system_type)
                logger.info("bound %s to %s:%s as %s", mode, cfg.host, cfg.port, cfg.system_id)
                self._sessions.append(session)
                self._early.extend((session, pdu) for pdu in early)
        except BaseException:
            for s in sessions:
                if s not in self._sessions:
                    s.client.close()
            raise
        self._tx = next(s for s in self._sessions if s.transmits)
        self.connects += 1
        self.bound.set()
        self._beat(True)

    def _disconnect(self) -> None:
        self.bound.clear()
        self._beat(False)
        self._early = []
        for s in self._sessions:
            s.client.close()
        self._sessions = []
        self._tx = None

    # ------------------------------------------------------------------ session loop
    def _session_loop(self) -> None:
        cfg = self.config
        drain_deadline: float | None = None      # stop requested: the window drains until then
        unbind_deadline: float | None = None     # unbind sent: the SMSC answers until then
        wake = self._wake_socket()
        # PDUs read while waiting for bind_resp (smpplib's bind() would have taken the first of them
        # for the response): handle them like any other traffic
        early, self._early = self._early, []
        self._read_at = self.wallclock()
        for s, pdu in early:
            self._dispatch(s, pdu)
        self._flush_store()
        self._flush_output()
        while True:
            now = self.clock()
            if self._stop_requested and unbind_deadline is None:
                if drain_deadline is None:
                    drain_deadline = now + cfg.response_timeout_secs
                    self._drop_unstarted()
                if (not self._inflight and not self._queue) or now >= drain_deadline:
                    unbind_deadline = now + cfg.response_timeout_secs
                    for s in self._sessions:
                        pdu = s.client.make("unbind")
                        s.unbind_seq, s.unbind_sent = pdu.sequence, now
                        s.out.append(pdu)
                    self._flush_output()
            unbinding = unbind_deadline is not None
            if unbind_deadline is not None and (all(s.unbound for s in self._sessions)
                                                or now >= unbind_deadline):
                self._flush_store(force=True)
                return

            timeout = self._select_timeout(now, unbinding)
            fds: list[GatewayClient | socket.socket] = [s.client for s in self._sessions if not s.unbound]
            fds.append(wake)
            readable, _, _ = select.select(fds, [], [], timeout)
            now = self.clock()
            self._read_at = self.wallclock()
            for s in self._sessions:
                if not s.unbound and s.client in readable:
                    s.last_rx = now
                    for pdu in s.client.read_available():
                        self._dispatch(s, pdu)
            if wake in readable:
                self._drain_wake()
            self._beat(True)
            self._flush_store()
            self._check_timeouts(now)
            if not unbinding:
                if not self._stop_requested:
                    self._claim(now)
                # the store calls above may wait seconds for the database (SQLite's write lock): a
                # submit_sm's response timer starts as it goes out, or that wait would count against it
                now = self.clock()
                self._submit(now)
                self._keepalive(now)
            self._flush_output()
            self._expire_parts(now)

    def _select_timeout(self, now: float, unbinding: bool) -> float:
        cfg = self.config
        t = cfg.poll_secs
        if unbinding:
            return min(t, 0.05)
        if self._queue and self._tx is not None and len(self._inflight) < cfg.window:
            t = min(t, self.bucket.wait_time())
        if not self._stop_requested and len(self._queue) <= cfg.batch_size // 2:
            t = min(t, max(self._next_claim, self._store_ok_at) - now)
        if self._inflight:
            first = next(iter(self._inflight.values()))
            t = min(t, first[2] + cfg.response_timeout_secs - now)
        return max(t, 0.0)

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, s: _Session, pdu: Pdu) -> None:
        command = pdu.command
        if command == "submit_sm_resp" or command == "generic_nack":
            self._on_submit_resp(pdu)
        elif command == "deliver_sm":
            self._on_deliver_sm(s, pdu)
        elif command == "enquire_link":
            s.out.append(s.client.response_to(pdu))
        elif command == "enquire_link_resp":
            if pdu.sequence == s.enquire_seq:
                s.enquire_seq = None
        elif command == "unbind":
            # smpplib would only log this; answer and drop the session so we rebind
            s.out.append(s.client.response_to(pdu))
            self._flush_output()
            raise _SmscUnbound()
        elif command == "unbind_resp":
            s.unbound = True
        elif command == "alert_notification":
            logger.debug("%s: alert_notification ignored", s.role)
        elif getattr(pdu, "unparsed", False) or not pdu.is_response():
            logger.warning("%s: unsupported %s (id 0x%08X), answering generic_nack", s.role,
                           command or "PDU", getattr(pdu, "command_id", 0))
            if not pdu.is_response():
                s.out.append(s.client.generic_nack(pdu.sequence))
        else:
            logger.debug("%s: ignoring %s", s.role, command)

    def _on_submit_resp(self, pdu: Pdu) -> None:
        entry = self._inflight.pop(pdu.sequence, None) or self._overdue.pop(pdu.sequence, None)
        if entry is None:
            logger.debug("late or unknown %s seq %d", pdu.command, pdu.sequence)
            return
        msg, idx, _sent = entry
        status = pdu.status
        if pdu.command == "submit_sm_resp" and status == ESME_ROK:
            message_id = _text(pdu.message_id)
            part = msg.parts[idx]
            # recorded even when another part already failed the message: its retry skips this part
            self._parts.append(PartResult(msg.sms.id, part.part_index, part.total_parts,
                                          pdu.sequence, message_id))
            if msg.done:
                return
            msg.acked += 1
            if msg.acked == len(msg.parts):
                msg.done = True
                self._submitted.append(msg.sms.id)
                self.stats["submitted"] += 1
            return
        if msg.done:
            return
        if status == ESME_ROK:                      # generic_nack with status 0: nonsense, retry
            status = consts.SMPP_ESME_RSYSERR
        self._resolve_error(msg, status, status_name(status))

    def _resolve_error(self, msg: _Outgoing, status: int, reason: str, local_delay: float = 0.0) -> None:
        """Retry or fail ``msg``; ``local_delay`` is the retry delay of a local cause (status 0)."""
        cfg = self.config
        msg.done = True
        sms = msg.sms
        if status in FLOW_CONTROL_STATUSES:
            self.bucket.pause(cfg.throttle_pause_secs)
            self.stats["throttled"] += 1
            attempts = sms.attempts                   # the SMSC was busy: not the message's fault
            retry_at = self.wallclock() + timedelta(seconds=cfg.throttle_pause_secs)
            self._retry.append(SubmitError(sms.id, status, reason, attempts, retry_at))
            return
        attempts = sms.attempts + 1
        if (status in TRANSIENT_STATUSES or status == 0) and attempts < cfg.max_attempts:
            delay = min(cfg.retry_delay_secs * (2 ** (attempts - 1)), cfg.retry_max_secs)
            if status == 0:
                delay = local_delay                 # lost link / shutdown: 0, send again at once
            self._retry.append(SubmitError(sms.id, status, reason, attempts,
                                           self.wallclock() + timedelta(seconds=delay)))
            self.stats["retried"] += 1
            logger.info("MT %s to %s: %s, retry %d/%d in %.1fs", sms.id, mask_msisdn(sms.destination_addr),
                        reason, attempts, cfg.max_attempts, delay)
        else:
            self._failed.append(SubmitError(sms.id, status, reason, attempts, None))
            self.stats["failed"] += 1
            logger.warning("MT %s to %s failed: %s (attempt %d)", sms.id,
                           mask_msisdn(sms.destination_addr), reason, attempts)

    def _on_deliver_sm(self, s: _Session, pdu: Pdu) -> None:
        if getattr(pdu, "unparsed", False):
            s.out.append(s.client.response_to(pdu, ESME_RX_T_APPN))
            return
        esm = pdu.esm_class or 0
        if esm & 0x3C in (0x04, 0x08, 0x20):       # SMSC receipt, SME ack, intermediate notification
            self._on_receipt(s, pdu)
        else:
            self._on_mo(s, pdu)

    def _on_receipt(self, s: _Session, pdu: Pdu) -> None:
        raw = pdu.short_message or getattr(pdu, "message_payload", None) or b""
        text = raw.decode("utf-16-be", "replace") if pdu.data_coding == 8 else raw.decode("latin-1")
        state = pdu.message_state if isinstance(pdu.message_state, int) else None
        fields_ = encoding.parse_receipt(text, _text(pdu.receipted_message_id) or None, state)
        if not fields_.message_id or not fields_.stat:
            logger.warning("%s: receipt without id or stat, acknowledged and dropped", s.role)
            s.out.append(s.client.response_to(pdu))
            return
        receipt = DeliveryReceipt(smsc_message_id=fields_.message_id, stat=fields_.stat, err=fields_.err,
                                  received_at=self._read_at, source_addr=_text(pdu.source_addr),
                                  destination_addr=_text(pdu.destination_addr),
                                  submit_date=fields_.submit_date, done_date=fields_.done_date)
        self._receipts.append((receipt, s, pdu.sequence))
        self.stats["receipts"] += 1

    def _on_mo(self, s: _Session, pdu: Pdu) -> None:
        payload = pdu.short_message or b""
        if not payload and getattr(pdu, "message_payload", None):
            payload = pdu.message_payload
        dc = pdu.data_coding or 0
        esm = pdu.esm_class or 0
        info = None
        if esm & encoding.ESM_UDHI:
            ies, payload = encoding.parse_udh(payload)
            info = encoding.concat_info(ies)
        if info is None and isinstance(pdu.sar_msg_ref_num, int) and pdu.sar_total_segments:
            seq = pdu.sar_segment_seqnum or 0
            if 1 <= seq <= pdu.sar_total_segments:
                info = encoding.ConcatInfo(pdu.sar_msg_ref_num, pdu.sar_total_segments, seq, 16)
        src = _text(pdu.source_addr)
        if pdu.source_addr_ton == 1 and src and not src.startswith("+"):
            src = "+" + src
        dst = _text(pdu.destination_addr)
        if info is not None and info.total > 1:
            # stored before it is acknowledged: SMSCs send the next part only after this resp, and a
            # crash before the last part must not lose the acknowledged ones
            part = InboundPart(src, dst, info.ref, info.total, info.seq, dc, payload, self.wallclock())
            try:
                self.store.save_inbound_part(part)
            except Exception:  # "raising means not stored"; the SMSC resends the part
                logger.exception("save_inbound_part failed for MO part %d/%d from %s", info.seq, info.total,
                                 mask_msisdn(src))
                self.stats["mo_store_errors"] += 1
                s.out.append(s.client.response_to(pdu, ESME_RX_T_APPN))
                return
            self.stats["mo_parts_saved"] += 1
            s.out.append(s.client.response_to(pdu))
            return
        key = (src, dst, dc, payload)
        if self._redelivery.is_redelivery(key):
            self.stats["mo_redelivered"] += 1
            logger.info("MO from %s to %s came again after a lost link: acknowledged, not stored twice",
                        mask_msisdn(src), dst)
            s.out.append(s.client.response_to(pdu))
            return
        text = encoding.decode_payload(payload, dc)
        sms = InboundSms(src, dst, text, dc, self.wallclock(), 1, payload, True)
        ok = self._save_inbound(sms)
        if ok:
            self._redelivery.acknowledged(key)
        s.out.append(s.client.response_to(pdu, ESME_ROK if ok else ESME_RX_T_APPN))

    def _expire_parts(self, now: float) -> None:
        """Every few seconds (and at start): the store keeps concatenated MOs whose missing parts did
        not arrive within SMPP_MO_REASSEMBLY_SECS as incomplete messages."""
        if now < self._next_expiry:
            return
        deadline = self.config.mo_reassembly_secs
        self._next_expiry = now + min(deadline, _EXPIRY_INTERVAL_SECS)
        try:
            stored = self.store.expire_inbound_parts(self.wallclock() - timedelta(seconds=deadline))
        except Exception:  # the parts stay stored: try again next time
            logger.exception("expire_inbound_parts failed")
            self.stats["store_errors"] += 1
            return
        if stored:
            logger.warning("%d incomplete concatenated MO(s) stored with the parts that arrived", stored)
            self.stats["mo_incomplete"] += stored

    # ------------------------------------------------------------------ store batches
    def _flush_store(self, force: bool = False) -> None:
        """Write this turn's results in one call per kind: parts before receipts, always."""
        now = self.clock()
        if not force and now < self._store_ok_at:
            return
        try:
            if self._parts:
                self.store.record_parts(self._parts)
                self._parts = []
            if self._submitted:
                self.store.mark_submitted(self._submitted, self.wallclock())
                self._submitted = []
            if self._retry:
                self.store.mark_retry(self._retry)
                self._retry = []
            if self._failed:
                self.store.mark_failed(self._failed)
                self._failed = []
        except Exception:  # keep the results and try again in a second
            logger.exception("store unavailable; results kept for retry")
            self._store_ok_at = now + 1.0
            self.stats["store_errors"] += 1
            self._ack_receipts(ESME_RX_T_APPN)
            return
        if self._receipts:
            try:
                self.store.save_receipts([r for r, _s, _q in self._receipts])
            except Exception:  # the SMSC will deliver these receipts again
                logger.exception("save_receipts failed; answering ESME_RX_T_APPN")
                self.stats["store_errors"] += 1
                self._ack_receipts(ESME_RX_T_APPN)
                return
            self._ack_receipts(ESME_ROK)

    def _ack_receipts(self, status: int) -> None:
        for _r, s, seq in self._receipts:
            if s.client.connected:
                s.out.append(s.client.response("deliver_sm_resp", seq, status))
        self._receipts = []

    # ------------------------------------------------------------------ sending
    def _drop_unstarted(self) -> None:
        """At stop: messages not begun stay claimed and are released at the end; begun ones finish."""
        kept = collections.deque(m for m in self._queue if m.next_part > 0 and not m.done)
        self._queue = kept

    def _claim(self, now: float) -> None:
        cfg = self.config
        if now < self._next_claim or now < self._store_ok_at:
            return
        if len(self._queue) > cfg.batch_size // 2:
            return
        limit = cfg.batch_size - len(self._queue)
        try:
            claimed = self.store.claim_outbound(cfg.worker_id, limit, self.wallclock())
        except Exception:  # the store may be restarting: claim again in a second
            logger.exception("claim_outbound failed")
            self._store_ok_at = now + 1.0
            return
        self._next_claim = now if len(claimed) >= limit else now + cfg.poll_secs
        for sms in claimed:
            bad = _bad_address(sms.source_addr, "source_addr") or _bad_address(
                sms.destination_addr[1:] if sms.destination_addr.startswith("+") else sms.destination_addr,
                "destination_addr")
            if bad:
                source = bad.startswith("source")
                status = consts.SMPP_ESME_RINVSRCADR if source else consts.SMPP_ESME_RINVDSTADR
                logger.warning("MT %s refused before sending: %s", sms.id, bad)
                self._failed.append(SubmitError(sms.id, status, bad, sms.attempts + 1, None))
                continue
            try:
                parts = encoding.split(sms.text, concat_ref(sms.id))
            except encoding.MessageTooLongError as exc:
                self._failed.append(SubmitError(sms.id, 0, "too long: %s" % exc, sms.attempts + 1, None))
                continue
            msg = _Outgoing(sms, parts)
            if msg.todo:
                self._queue.append(msg)
            else:                   # every part was accepted before its submission could be recorded
                self._submitted.append(sms.id)
                self.stats["submitted"] += 1

    def _submit(self, now: float) -> None:
        s = self._tx
        if s is None:
            return
        cfg = self.config
        window = cfg.window
        inflight = self._inflight
        queue_ = self._queue
        make = s.client.make
        encode = s.client.encode
        out = s.out
        while queue_ and len(inflight) < window:
            msg = queue_[0]
            if msg.done:
                queue_.popleft()
                continue
            if not self.bucket.take():
                break
            sms = msg.sms
            idx = msg.todo[msg.next_part]
            part = msg.parts[idx]
            dest = sms.destination_addr[1:] if sms.destination_addr.startswith("+") else sms.destination_addr
            pdu = make("submit_sm", service_type="", source_addr_ton=cfg.source_ton,
                       source_addr_npi=cfg.source_npi, source_addr=sms.source_addr,
                       dest_addr_ton=cfg.dest_ton, dest_addr_npi=cfg.dest_npi, destination_addr=dest,
                       esm_class=part.esm_class, data_coding=part.data_coding,
                       registered_delivery=1 if sms.want_receipt else 0, short_message=part.short_message)
            try:
                raw = encode(pdu)
            except Exception:  # a message smpplib cannot encode must not block the queue
                logger.exception("MT %s: cannot build submit_sm; failing it", sms.id)
                msg.done = True
                self._failed.append(SubmitError(sms.id, 0, "cannot encode submit_sm", sms.attempts + 1, None))
                queue_.popleft()
                continue
            out.append(raw)
            inflight[pdu.sequence] = (msg, idx, now)
            msg.next_part += 1
            if msg.next_part >= len(msg.todo):
                queue_.popleft()
        if out:
            s.last_tx = now

    def _release_local(self) -> None:
        """While the link is down, claimed-but-unsent messages go back to the store so another gateway
        process can send them (everything else of ours was flushed just before)."""
        if not self._queue or self._parts or self._submitted or self._retry or self._failed:
            return
        try:
            released = self.store.release_claims(self.config.worker_id)
        except Exception:  # keep them locally and send after the reconnect
            logger.exception("release_claims failed; keeping %d claimed message(s)", len(self._queue))
            return
        logger.info("link down: released %d claimed message(s)", released)
        self._queue.clear()
        self._next_claim = 0.0

    def _check_timeouts(self, now: float) -> None:
        cfg = self.config
        limit = now - cfg.response_timeout_secs
        while self._inflight:
            seq, (msg, idx, sent) = next(iter(self._inflight.items()))
            if sent > limit:
                break
            del self._inflight[seq]
            self._overdue[seq] = (msg, idx, now)
            if not msg.done:
                self.stats["response_timeouts"] += 1
                # the SMSC may still accept it: the retry waits a response timeout more, so a late
                # ESME_ROK records the part first and the retry finds nothing left to send
                self._resolve_error(msg, 0, "response timeout", cfg.response_timeout_secs)
                if self._tx is not None and self._tx.enquire_seq is None:
                    self._send_enquire(self._tx, now)     # is the link still alive?
        given_up = limit - cfg.response_timeout_secs     # its retry has been due a while: stop waiting
        for seq in [q for q, (_m, _i, timed_out) in self._overdue.items() if timed_out <= given_up]:
            del self._overdue[seq]
        for s in self._sessions:
            if s.enquire_seq is not None and now - s.enquire_sent > cfg.response_timeout_secs:
                raise SessionLostError("%s: no enquire_link_resp within %.1fs"
                                       % (s.role, cfg.response_timeout_secs))

    def _keepalive(self, now: float) -> None:
        idle = self.config.enquire_link_secs
        for s in self._sessions:
            if s.enquire_seq is None and now - max(s.last_rx, s.last_tx) >= idle:
                self._send_enquire(s, now)

    def _send_enquire(self, s: _Session, now: float) -> None:
        pdu = s.client.make("enquire_link")
        s.enquire_seq, s.enquire_sent = pdu.sequence, now
        s.out.append(pdu)

    def _flush_output(self) -> None:
        for s in self._sessions:
            if s.out:
                pdus, s.out = s.out, []
                encode = s.client.encode
                s.client.send_bytes(b"".join(p if isinstance(p, bytes) else encode(p) for p in pdus))
                s.last_tx = self.clock()

    def _requeue_inflight(self, reason: str) -> None:
        """After a lost link: messages with parts in flight are sent again (their parts that were not
        accepted; at most the window is duplicated). Unstarted ones stay in the local queue."""
        seen = set()
        for msg, _idx, _sent in self._inflight.values():
            if not msg.done and id(msg) not in seen:
                seen.add(id(msg))
                self._resolve_error(msg, 0, reason)
        self._inflight.clear()
        self._overdue.clear()           # their responses cannot come on another session
        for msg in list(self._queue):
            if msg.next_part > 0 and not msg.done:     # partly sent, none in flight: send the rest again
                self._resolve_error(msg, 0, reason)
        self._queue = collections.deque(m for m in self._queue if not m.done)
        # receipts read but not yet stored: the SMSC will resend them (we never acked)
        self._receipts = []
        for s in self._sessions:
            s.out = []


