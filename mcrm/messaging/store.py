"""``SqlMessageStore``: the gateway's ``MessageStore`` port on mcrm's database (SQLAlchemy).

The gateway worker calls it from its own thread. Every method is one transaction in its own app
context (its own session, never the web request's) and commits before returning, so a crash
loses at most what the worker had not handed over yet. Writes are batched (one executemany per
call), claims are one conditional UPDATE (plus ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several
workers do not queue behind each other's locks), and nothing ever loads the whole outbox.

This module and ``mcrm/workers.py`` are the only ones in mcrm that import ``sms_gateway``; the
rest of mcrm counts SMS parts through the re-export here.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.dialects import postgresql, sqlite
from sms_gateway import (DeliveryReceipt, InboundSms, OutboundSms, PartResult, SmsShape, SubmitError,
                         count_parts)
from sms_gateway.encoding import MAX_PARTS

from mcrm.core.clock import now_utc
from mcrm.extensions import db
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import MessageStatus, OutboundMessage, OutboundPart, PendingReceipt

__all__ = ["SqlMessageStore", "claim_update", "count_parts", "SmsShape", "MAX_PARTS", "InboundSms"]

logger = logging.getLogger(__name__)

_MESSAGES = OutboundMessage.__table__
_PARTS = OutboundPart.__table__
_PENDING = PendingReceipt.__table__
#: bound parameters per IN (...) list: well under SQLite's limit
_CHUNK = 500
_FAILED_STATS = frozenset({"EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD", "FAILED"})


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _part_status(stat: str) -> str:
    if stat == "DELIVRD":
        return "delivered"
    return "failed" if stat in _FAILED_STATS else "submitted"


def claim_update(table: sa.Table, due, limit: int, dialect: str, **values) -> sa.Update:
    """``UPDATE table SET values`` for at most ``limit`` rows matching ``due``, oldest id first.

    The ``due`` condition is repeated on the UPDATE itself, so a row another worker claimed in the
    meantime is never claimed twice. On PostgreSQL the ids are picked in a CTE ``FOR UPDATE SKIP
    LOCKED`` (workers do not wait on each other's locks); a CTE runs once, whereas an
    ``IN (subquery … SKIP LOCKED)`` may be re-run per row and skip past the limit."""
    picked = sa.select(table.c.id).where(due).order_by(table.c.id).limit(limit)
    if dialect == "postgresql":
        picked = picked.with_for_update(skip_locked=True).cte("picked")
        return table.update().where(table.c.id == picked.c.id, due).values(**values)
    return table.update().where(table.c.id.in_(picked.scalar_subquery()), due).values(**values)


class SqlMessageStore:
    """MessageStore on the app's database. ``app`` gives the engine and the settings (access
    number and region for routing MOs)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        settings = app.extensions["mcrm_settings"]
        self.access_number = settings.access_number
        self.region = settings.default_region

    @contextmanager
    def _transaction(self) -> Iterator[sa.orm.Session]:
        with self.app.app_context():
            session = db.session
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    # -------------------------------------------------------------------------------- claims
    def release_claims(self, worker_id: str) -> int:
        with self._transaction() as session:
            result = session.execute(
                _MESSAGES.update()
                .where(_MESSAGES.c.status == MessageStatus.SENDING, _MESSAGES.c.claim_id == worker_id)
                .values(status=MessageStatus.QUEUED, claim_id=None, claimed_at=None))
            return result.rowcount

    def claim_outbound(self, worker_id: str, limit: int, now: datetime) -> list[OutboundSms]:
        c = _MESSAGES.c
        due = sa.and_(c.status == MessageStatus.QUEUED,
                      sa.or_(c.retry_at.is_(None), c.retry_at <= now),
                      sa.or_(c.not_before.is_(None), c.not_before <= now))
        with self._transaction() as session:
            service_number = sa.literal(self.access_number) + (
                sa.select(Merchant.sub_code).where(Merchant.id == c.merchant_id).scalar_subquery())
            claim = claim_update(_MESSAGES, due, limit, session.get_bind().dialect.name,
                                 status=MessageStatus.SENDING, claim_id=worker_id, claimed_at=now,
                                 source_addr=sa.func.coalesce(c.source_addr, service_number))
            rows = session.execute(claim.returning(c.id, c.source_addr, c.msisdn, c.text, c.attempts)).all()
        rows.sort(key=lambda r: r.id)
        return [OutboundSms(r.id, r.source_addr, r.msisdn, r.text, True, r.attempts) for r in rows]

    # -------------------------------------------------------------------------------- results
    def record_parts(self, parts: Sequence[PartResult]) -> None:
        if not parts:
            return
        with self._transaction() as session:
            dialect = session.get_bind().dialect.name
            insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_PARTS)
            # a retried message records its parts again: the latest submit wins
            upsert = insert.on_conflict_do_update(
                index_elements=[_PARTS.c.message_id, _PARTS.c.part_index],
                set_={name: insert.excluded[name] for name in
                      ("total", "sequence_number", "smsc_message_id", "status", "receipt_stat",
                       "receipt_err", "receipt_at", "submitted_at")})
            now = now_utc()
            session.execute(upsert, [
                {"message_id": p.outbox_id, "part_index": p.part_index, "total": p.total_parts,
                 "sequence_number": p.sequence_number, "smsc_message_id": p.smsc_message_id,
                 "status": "submitted", "receipt_stat": None, "receipt_err": None, "receipt_at": None,
                 "submitted_at": now} for p in parts])
            pending = []
            for chunk in _chunks([p.smsc_message_id for p in parts]):
                pending += session.execute(sa.select(_PENDING).where(_PENDING.c.smsc_message_id.in_(chunk))).all()
            if pending:
                receipts = [DeliveryReceipt(r.smsc_message_id, r.stat, r.err, r.received_at) for r in pending]
                self._apply_receipts(session, receipts)
                session.execute(_PENDING.delete().where(_PENDING.c.id.in_([r.id for r in pending])))

    def mark_submitted(self, outbox_ids: Sequence, now: datetime) -> None:
        if not outbox_ids:
            return
        c = _MESSAGES.c
        with self._transaction() as session:
            for chunk in _chunks(list(outbox_ids)):
                session.execute(
                    _MESSAGES.update().where(c.id.in_(chunk), c.status == MessageStatus.SENDING)
                    .values(status=MessageStatus.SUBMITTED, claim_id=None, claimed_at=None, submitted_at=now,
                            retry_at=None, attempts=c.attempts + 1))
                # receipts may have come before the last submit_sm_resp was handed over
                self._settle(session, chunk, only_with_receipts=True)

    def mark_retry(self, errors: Sequence[SubmitError]) -> None:
        self._mark_errors(errors, MessageStatus.QUEUED)

    def mark_failed(self, errors: Sequence[SubmitError]) -> None:
        self._mark_errors(errors, MessageStatus.FAILED)

    def _mark_errors(self, errors: Sequence[SubmitError], status: MessageStatus) -> None:
        if not errors:
            return
        c = _MESSAGES.c
        with self._transaction() as session:
            session.execute(
                _MESSAGES.update().where(c.id == sa.bindparam("b_id"), c.status == MessageStatus.SENDING)
                .values(status=status, claim_id=None, claimed_at=None, attempts=sa.bindparam("b_attempts"),
                        retry_at=sa.bindparam("b_retry_at"), last_error=sa.bindparam("b_error"),
                        error_code=sa.bindparam("b_code")),
                [{"b_id": e.outbox_id, "b_attempts": e.attempts, "b_retry_at": e.retry_at,
                  "b_error": (e.reason or "")[:200], "b_code": e.command_status} for e in errors])

    def save_receipts(self, receipts: Sequence[DeliveryReceipt]) -> None:
        if not receipts:
            return
        with self._transaction() as session:
            self._apply_receipts(session, receipts)

    def _apply_receipts(self, session, receipts: Sequence[DeliveryReceipt]) -> None:
        by_id = {r.smsc_message_id: r for r in receipts}    # a repeated receipt: the last one counts
        known: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(list(by_id)):
            for row in session.execute(sa.select(_PARTS.c.id, _PARTS.c.message_id, _PARTS.c.smsc_message_id)
                                       .where(_PARTS.c.smsc_message_id.in_(chunk))):
                known[row.smsc_message_id] = (row.id, row.message_id)
        updates = [{"b_id": known[mid][0], "b_status": _part_status(r.stat), "b_stat": r.stat[:10],
                    "b_err": (r.err or "")[:10] or None, "b_at": r.received_at}
                   for mid, r in by_id.items() if mid in known]
        if updates:
            session.execute(
                _PARTS.update().where(_PARTS.c.id == sa.bindparam("b_id"))
                .values(status=sa.bindparam("b_status"), receipt_stat=sa.bindparam("b_stat"),
                        receipt_err=sa.bindparam("b_err"), receipt_at=sa.bindparam("b_at")),
                updates)
        orphans = [r for mid, r in by_id.items() if mid not in known]
        if orphans:
            session.execute(_PENDING.insert(), [
                {"smsc_message_id": r.smsc_message_id[:64], "stat": r.stat[:10], "err": (r.err or "")[:10] or None,
                 "received_at": r.received_at} for r in orphans])
            logger.info("%d receipt(s) for unknown SMSC ids kept for later", len(orphans))
        touched = sorted({message_id for _part_id, message_id in known.values()})
        for chunk in _chunks(touched):
            self._settle(session, chunk)

    def _settle(self, session, message_ids: Sequence[int], only_with_receipts: bool = False) -> None:
        """SUBMITTED → DELIVERED when every part has DELIVRD; → FAILED/EXPIRED when any part failed."""
        p = _PARTS.c
        delivered = sa.func.sum(sa.case((p.status == "delivered", 1), else_=0))
        failed = sa.func.sum(sa.case((p.status == "failed", 1), else_=0))
        query = (sa.select(p.message_id, sa.func.count().label("n"), sa.func.max(p.total).label("total"),
                           delivered.label("delivered"), failed.label("failed"),
                           sa.func.max(p.receipt_at).label("last_at"))
                 .where(p.message_id.in_(message_ids)).group_by(p.message_id))
        if only_with_receipts:
            query = query.having(sa.func.count(p.receipt_stat) > 0)
        done, bad = [], []
        for row in session.execute(query):
            if row.failed:
                bad.append(row.message_id)
            elif row.n == row.total and row.delivered == row.total:
                done.append({"b_id": row.message_id, "b_at": row.last_at})
        c = _MESSAGES.c
        if done:
            session.execute(
                _MESSAGES.update().where(c.id == sa.bindparam("b_id"), c.status == MessageStatus.SUBMITTED)
                .values(status=MessageStatus.DELIVERED, delivered_at=sa.bindparam("b_at")), done)
        if bad:
            stats = session.execute(sa.select(p.message_id, p.receipt_stat, p.receipt_err)
                                    .where(p.message_id.in_(bad), p.status == "failed")).all()
            first = {}
            for row in stats:
                first.setdefault(row.message_id, row)
            session.execute(
                _MESSAGES.update().where(c.id == sa.bindparam("b_id"), c.status == MessageStatus.SUBMITTED)
                .values(status=sa.bindparam("b_status"), last_error=sa.bindparam("b_error")),
                [{"b_id": mid, "b_status": MessageStatus.EXPIRED if row.receipt_stat == "EXPIRED"
                  else MessageStatus.FAILED, "b_error": f"receipt {row.receipt_stat} err:{row.receipt_err}"}
                 for mid, row in first.items()])

    # -------------------------------------------------------------------------------- inbound
    def save_inbound(self, sms: InboundSms) -> None:
        # imported here: services imports this module for the part counter
        from mcrm.messaging.services import store_inbound
        with self._transaction():
            store_inbound(source_addr=sms.source_addr, destination_addr=sms.destination_addr, text=sms.text,
                          data_coding=sms.data_coding, received_at=sms.received_at, parts=sms.parts,
                          payload=sms.payload, complete=sms.complete, access_number=self.access_number,
                          region=self.region)
