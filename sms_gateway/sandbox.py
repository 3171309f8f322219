"""The sandbox transport (``SMPP_TRANSPORT=sandbox``, the embedded default): no SMSC.

It claims MT from the store like the SMPP worker and "delivers" each part at once with a synthetic
DELIVRD receipt, so the service runs, and its outbox moves through every status, on a laptop with
no operator account. MOs are injected with ``inject_mo`` (the console's phone simulator).
"""
from __future__ import annotations

import logging
import queue
from typing import Any

from . import encoding
from .store import DeliveryReceipt, InboundSms, OutboxId, PartResult, SubmitError
from .worker import Worker

__all__ = ["SandboxWorker"]

logger = logging.getLogger(__name__)


class SandboxWorker(Worker):
    """No SMSC: claims MT and marks every part accepted and delivered at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mo: queue.Queue[InboundSms] = queue.Queue()
        self._ids = 0

    def inject_mo(self, source_addr: str, destination_addr: str, text: str) -> None:
        """Queue an MO as if a handset had sent it; the worker thread stores it."""
        shape = encoding.count_parts(text)
        self._mo.put(InboundSms(source_addr=source_addr, destination_addr=destination_addr, text=text,
                                data_coding=shape.data_coding, received_at=self.wallclock(),
                                parts=shape.parts))
        self.wake()

    def _run(self) -> None:
        cfg = self.config
        if not self._release_at_start():
            return
        logger.info("sandbox gateway started (no SMSC; MT is delivered instantly)")
        while not self._stop_requested:
            self._beat(True)
            try:
                busy = self._turn()
            except Exception:  # store trouble: claims stay SENDING, released at stop/start
                logger.exception("sandbox turn failed")
                self.stats["store_errors"] += 1
                busy = False
            if not busy:
                self._sleep(cfg.poll_secs)
        try:
            self._turn_inbound()
            self.store.release_claims(cfg.worker_id)
        except Exception:  # stopping anyway: the next start releases the claims
            logger.exception("sandbox shutdown could not reach the store")
        self._beat(False)
        logger.info("sandbox gateway stopped")

    def _turn_inbound(self) -> None:
        while True:
            try:
                sms = self._mo.get_nowait()
            except queue.Empty:
                return
            if not self._save_inbound(sms):
                self._mo.put(sms)       # kept for the next turn, as an SMSC would deliver it again
                return

    def _turn(self) -> bool:
        """Store injected MOs, then "deliver" one batch; True when a full batch was claimed."""
        self._turn_inbound()
        cfg = self.config
        now = self.wallclock()
        claimed = self.store.claim_outbound(cfg.worker_id, cfg.batch_size, now)
        if not claimed:
            return False
        parts: list[PartResult] = []
        submitted: list[OutboxId] = []
        failed: list[SubmitError] = []
        receipts: list[DeliveryReceipt] = []
        for sms in claimed:
            try:
                pieces = encoding.split(sms.text)
            except encoding.MessageTooLongError as exc:
                failed.append(SubmitError(sms.id, 0, str(exc), sms.attempts + 1))
                continue
            for piece in pieces:
                self._ids += 1
                mid = "sbx%08x" % self._ids
                parts.append(PartResult(sms.id, piece.part_index, piece.total_parts, self._ids, mid))
                if sms.want_receipt:
                    receipts.append(DeliveryReceipt(mid, "DELIVRD", "000", now,
                                                    source_addr=sms.destination_addr,
                                                    destination_addr=sms.source_addr))
            submitted.append(sms.id)
        if parts:
            self.store.record_parts(parts)
        if submitted:
            self.store.mark_submitted(submitted, now)
        if failed:
            self.store.mark_failed(failed)
        if receipts:
            self.store.save_receipts(receipts)
        self.stats["submitted"] += len(submitted)
        self.stats["parts"] += len(parts)
        return len(claimed) >= cfg.batch_size
