"""``SqlMessageStore``: the gateway's ``MessageStore`` port on mcrm's database (SQLAlchemy).

The gateway worker calls it from its own thread. Every method is one transaction on a connection
of its own (never the web request's session) and commits before returning, so a crash loses at
most what the worker had not handed over yet. Writes are batched (an executemany or one
``UPDATE … IN`` per call and kind), claims are one conditional UPDATE (plus ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL so several workers do not queue behind each other's locks), and nothing
ever loads the whole outbox.

This module and ``mcrm/workers.py`` are the only ones in mcrm that import ``sms_gateway``; the
rest of mcrm counts SMS parts through the re-export here.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask
from prometheus_client import Counter
from sqlalchemy.dialects import postgresql, sqlite
from sms_gateway import (DeliveryReceipt, InboundSms, OutboundSms, PartResult, SmsShape, SubmitError,
                         count_parts)
from sms_gateway.encoding import MAX_PARTS, PART_LIMIT, SINGLE_LIMIT, UCS2
from sms_gateway.store import InboundPart, join_parts

from mcrm.core.clock import now_utc
from mcrm.extensions import db
from mcrm.members.models import Member, OptOut
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import InboundPart as InboundPartRow
from mcrm.messaging.models import (MessageKind, MessageStatus, OutboundMessage, OutboundPart, PendingReceipt,
                                   SuppressReason)
from mcrm.messaging.rules import next_window_start

__all__ = ["SqlMessageStore", "claim_update", "count_parts", "SmsShape", "MAX_PARTS", "InboundSms", "UCS2",
           "SINGLE_UCS2", "PART_UCS2"]

#: UTF-16 units in one UCS-2 SMS, and in each part of a longer one (for texts counted in SQL)
SINGLE_UCS2, PART_UCS2 = SINGLE_LIMIT[UCS2], PART_LIMIT[UCS2]

logger = logging.getLogger(__name__)

#: counted by the gateway process as it stores each error (a retried message's earlier errors are
#: overwritten in the outbox, so only the process sees them all); docs/operations.md, Metrics
SMSC_ERRORS = Counter("mcrm_smsc_errors", "Submit errors by the SMSC's command_status (0x00000000: a local "
                      "cause: response timeout, lost link)", ["code"])

_MESSAGES = OutboundMessage.__table__
_PARTS = OutboundPart.__table__
_PENDING = PendingReceipt.__table__
_IN_PARTS = InboundPartRow.__table__
#: bound parameters per IN (...) list: well under SQLite's limit
_CHUNK = 500
_FAILED_STATS = frozenset({"EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD", "FAILED"})


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _receipt_failure(message_id: int, stat: str, err: str | None) -> dict:
    status = MessageStatus.EXPIRED if stat == "EXPIRED" else MessageStatus.FAILED
    return {"b_id": message_id, "b_status": status, "b_error": f"receipt {stat} err:{err}"}


def _part_status(stat: str) -> str:
    if stat == "DELIVRD":
        return "delivered"
    return "failed" if stat in _FAILED_STATS else "submitted"


def _receipt_columns(r: DeliveryReceipt) -> tuple[str, str, str | None]:
    """A receipt's part status, stat and err as stored (err None when empty)."""
    return _part_status(r.stat), r.stat[:10], (r.err or "")[:10] or None


def claim_update(table: sa.Table, due, limit, dialect: str, **values) -> sa.Update:
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
    number and region for routing MOs).

    The worker's claims and results (a few calls per loop turn) run as Core statements built once
    here: no ORM session or app context on that path, whose per-call cost was once most of the
    gateway's CPU (bench/README.md). MOs go through the ORM service ``store_inbound``."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        settings = app.extensions["mcrm_settings"]
        self.access_number = settings.access_number
        self.region = settings.default_region
        with app.app_context():
            self.engine = db.engine
        self._statements(self.engine.dialect.name)

    def _statements(self, dialect: str) -> None:
        m, p, pending = _MESSAGES.c, _PARTS.c, _PENDING.c
        now = sa.bindparam("now", type_=_MESSAGES.c.claimed_at.type)
        ids = sa.bindparam("ids", expanding=True)
        self._release = (_MESSAGES.update()
                         .where(m.status == MessageStatus.SENDING, m.claim_id == sa.bindparam("worker_id"))
                         .values(status=MessageStatus.QUEUED, claim_id=None, claimed_at=None))
        due = sa.and_(m.status == MessageStatus.QUEUED, sa.or_(m.retry_at.is_(None), m.retry_at <= now),
                      sa.or_(m.not_before.is_(None), m.not_before <= now))
        service_number = sa.literal(self.access_number) + (
            sa.select(Merchant.sub_code).where(Merchant.id == m.merchant_id).scalar_subquery())
        self._claim = claim_update(_MESSAGES, due, sa.bindparam("limit"), dialect,
                                   status=MessageStatus.SENDING, claim_id=sa.bindparam("worker_id"),
                                   claimed_at=now, source_addr=sa.func.coalesce(m.source_addr, service_number)
                                   ).returning(m.id, m.source_addr, m.msisdn, m.attempts, m.kind,
                                               m.merchant_id, sa.func.coalesce(m.secret_text, m.text).label("text"))
        # the marketing rules hold again at the claim: a number that opted out since it was queued
        # gets nothing, and a message claimed after its window closed waits for the next one
        opted_out = sa.or_(
            sa.exists().where(Member.id == m.member_id, Member.opted_out.is_(True)),
            sa.and_(m.member_id.is_(None),
                    sa.exists().where(OptOut.merchant_id == m.merchant_id, OptOut.msisdn == m.msisdn)))
        self._suppress_opted_out = (
            _MESSAGES.update().where(m.id.in_(ids), m.status == MessageStatus.SENDING, opted_out)
            .values(status=MessageStatus.SUPPRESSED, suppressed_reason=SuppressReason.OPTED_OUT,
                    claim_id=None, claimed_at=None, secret_text=None).returning(m.id))
        self._windows = sa.select(Merchant.id, Merchant.timezone, Merchant.send_window_start,
                                  Merchant.send_window_end).where(Merchant.id.in_(ids))
        self._wait_for_window = (_MESSAGES.update()
                                 .where(m.id.in_(ids), m.status == MessageStatus.SENDING)
                                 .values(status=MessageStatus.QUEUED, claim_id=None, claimed_at=None,
                                         not_before=sa.bindparam("not_before", type_=m.not_before.type)))
        self._accepted_parts = sa.select(p.message_id, p.part_index).where(p.message_id.in_(ids))
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_PARTS)
        # a retried message records its parts again: the latest submit wins
        self._upsert_parts = insert.on_conflict_do_update(
            index_elements=[p.message_id, p.part_index],
            set_={name: insert.excluded[name] for name in
                  ("total", "sequence_number", "smsc_message_id", "status", "receipt_stat", "receipt_err",
                   "receipt_at", "submitted_at")})
        self._any_pending = sa.select(pending.id).limit(1)
        self._pending_for = sa.select(_PENDING).where(pending.smsc_message_id.in_(ids))
        self._delete_pending = _PENDING.delete().where(pending.id.in_(ids))
        # a secret (login code) in the text is forgotten once it is no longer needed for a submit
        self._submitted = (_MESSAGES.update().where(m.id.in_(ids), m.status == MessageStatus.SENDING)
                           .values(status=MessageStatus.SUBMITTED, claim_id=None, claimed_at=None,
                                   submitted_at=now, retry_at=None, attempts=m.attempts + 1,
                                   secret_text=None))
        self._retry = (_MESSAGES.update()
                       .where(m.id == sa.bindparam("b_id"), m.status == MessageStatus.SENDING)
                       .values(status=MessageStatus.QUEUED, claim_id=None, claimed_at=None,
                               attempts=sa.bindparam("b_attempts"), retry_at=sa.bindparam("b_retry_at"),
                               last_error=sa.bindparam("b_error"), error_code=sa.bindparam("b_code")))
        self._failed = self._retry.values(status=MessageStatus.FAILED, secret_text=None)
        self._parts_by_smsc_id = (sa.select(p.id, p.message_id, p.smsc_message_id, p.total)
                                  .where(p.smsc_message_id.in_(ids)))
        receipt = dict(status=sa.bindparam("b_status"), receipt_stat=sa.bindparam("b_stat"),
                       receipt_err=sa.bindparam("b_err"), receipt_at=sa.bindparam("b_at"))
        self._receipt_to_part = _PARTS.update().where(p.id == sa.bindparam("b_id")).values(**receipt)
        self._receipt_to_parts = _PARTS.update().where(p.id.in_(ids)).values(**receipt)
        self._keep_pending = _PENDING.insert()
        self._insert_in_part = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
            _IN_PARTS).on_conflict_do_nothing()
        delivered = sa.func.sum(sa.case((p.status == "delivered", 1), else_=0))
        failed = sa.func.sum(sa.case((p.status == "failed", 1), else_=0))
        self._part_totals = (sa.select(p.message_id, sa.func.count().label("n"),
                                       sa.func.max(p.total).label("total"), delivered.label("delivered"),
                                       failed.label("failed"))
                             .where(p.message_id.in_(ids)).group_by(p.message_id))
        self._part_totals_with_receipts = self._part_totals.having(sa.func.count(p.receipt_stat) > 0)
        self._first_failures = (sa.select(p.message_id, p.receipt_stat, p.receipt_err)
                                .where(p.message_id.in_(ids), p.status == "failed").order_by(p.part_index))
        last_receipt = sa.select(sa.func.max(p.receipt_at)).where(p.message_id == m.id).scalar_subquery()
        self._delivered = (_MESSAGES.update().where(m.id.in_(ids), m.status == MessageStatus.SUBMITTED)
                           .values(status=MessageStatus.DELIVERED, delivered_at=last_receipt))
        self._receipt_failed = (_MESSAGES.update()
                                .where(m.id == sa.bindparam("b_id"), m.status == MessageStatus.SUBMITTED)
                                .values(status=sa.bindparam("b_status"), last_error=sa.bindparam("b_error")))

    # -------------------------------------------------------------------------------- claims
    def release_claims(self, worker_id: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(self._release, {"worker_id": worker_id}).rowcount

    def claim_outbound(self, worker_id: str, limit: int, now: datetime) -> list[OutboundSms]:
        with self.engine.begin() as conn:
            rows = conn.execute(self._claim, {"worker_id": worker_id, "limit": limit, "now": now}).all()
            if any(r.kind == MessageKind.MARKETING for r in rows):
                rows = self._recheck_marketing(conn, rows, now)
            accepted: dict[int, set[int]] = {}
            for chunk in _chunks([r.id for r in rows]):  # parts of a retried message the SMSC has
                for message_id, part_index in conn.execute(self._accepted_parts, {"ids": chunk}):
                    accepted.setdefault(message_id, set()).add(part_index)
        rows.sort(key=lambda r: r.id)
        return [OutboundSms(r.id, r.source_addr, r.msisdn, r.text, True, r.attempts,
                            frozenset(accepted.get(r.id, ()))) for r in rows]

    def _recheck_marketing(self, conn: sa.Connection, rows: list, now: datetime) -> list:
        """The claimed rows that may go now: marketing to a number opted out since it was queued is
        suppressed, and marketing outside its merchant's window goes back to the queue until the
        window opens (both in the claim's transaction, so no other worker sees them claimed)."""
        marketing = [r for r in rows if r.kind == MessageKind.MARKETING]
        dropped = set(conn.execute(self._suppress_opted_out, {"ids": [r.id for r in marketing]}).scalars())
        opens = {}
        for merchant_id, zone, start, end in conn.execute(
                self._windows, {"ids": sorted({r.merchant_id for r in marketing})}):
            opens[merchant_id] = next_window_start(ZoneInfo(zone), start, end, now)
        waiting: dict[datetime, list[int]] = {}
        for r in marketing:
            if r.id not in dropped and opens[r.merchant_id] > now:
                waiting.setdefault(opens[r.merchant_id], []).append(r.id)
        for not_before, ids in waiting.items():
            conn.execute(self._wait_for_window, {"ids": ids, "not_before": not_before})
            dropped.update(ids)
        if dropped:
            logger.info("claim: %d marketing message(s) opted out or outside the window since queued",
                        len(dropped))
        return [r for r in rows if r.id not in dropped]

    # -------------------------------------------------------------------------------- results
    def record_parts(self, parts: Sequence[PartResult]) -> None:
        if not parts:
            return
        now = now_utc()
        with self.engine.begin() as conn:
            conn.execute(self._upsert_parts, [
                {"message_id": p.outbox_id, "part_index": p.part_index, "total": p.total_parts,
                 "sequence_number": p.sequence_number, "smsc_message_id": p.smsc_message_id,
                 "status": "submitted", "receipt_stat": None, "receipt_err": None, "receipt_at": None,
                 "submitted_at": now} for p in parts])
            if conn.execute(self._any_pending).first() is None:     # the usual case: nothing to look up
                return
            pending = []
            for chunk in _chunks([p.smsc_message_id for p in parts]):
                pending += conn.execute(self._pending_for, {"ids": chunk}).all()
            if pending:
                self._apply_receipts(conn, [DeliveryReceipt(r.smsc_message_id, r.stat, r.err, r.received_at)
                                            for r in pending])
                for chunk in _chunks([r.id for r in pending]):
                    conn.execute(self._delete_pending, {"ids": chunk})

    def mark_submitted(self, outbox_ids: Sequence, now: datetime) -> None:
        if not outbox_ids:
            return
        with self.engine.begin() as conn:
            for chunk in _chunks(list(outbox_ids)):
                conn.execute(self._submitted, {"ids": chunk, "now": now})
                # receipts may have come before the last submit_sm_resp was handed over
                self._settle(conn, chunk, self._part_totals_with_receipts)

    def mark_retry(self, errors: Sequence[SubmitError]) -> None:
        self._mark_errors(errors, self._retry)

    def mark_failed(self, errors: Sequence[SubmitError]) -> None:
        self._mark_errors(errors, self._failed)

    def _mark_errors(self, errors: Sequence[SubmitError], statement: sa.Update) -> None:
        if not errors:
            return
        with self.engine.begin() as conn:
            conn.execute(statement, [
                {"b_id": e.outbox_id, "b_attempts": e.attempts, "b_retry_at": e.retry_at,
                 "b_error": (e.reason or "")[:200], "b_code": e.command_status} for e in errors])
        for e in errors:
            SMSC_ERRORS.labels(f"0x{e.command_status:08x}").inc()

    def save_receipts(self, receipts: Sequence[DeliveryReceipt]) -> None:
        if not receipts:
            return
        with self.engine.begin() as conn:
            self._apply_receipts(conn, receipts)

    def _apply_receipts(self, conn: sa.Connection, receipts: Sequence[DeliveryReceipt]) -> None:
        by_id = {r.smsc_message_id: r for r in receipts}    # a repeated receipt: the last one counts
        known = {}
        for chunk in _chunks(list(by_id)):
            for row in conn.execute(self._parts_by_smsc_id, {"ids": chunk}):
                known[row.smsc_message_id] = row
        # receipts read together share their time and mostly their stat: one UPDATE … IN per kind
        kinds: dict[tuple, list[int]] = {}
        for mid, row in known.items():
            kinds.setdefault((*_receipt_columns(by_id[mid]), by_id[mid].received_at), []).append(row.id)
        if len(kinds) * 10 > len(known):     # mostly different: one executemany is cheaper
            conn.execute(self._receipt_to_part, [
                {"b_id": part_id, "b_status": status, "b_stat": stat, "b_err": err, "b_at": at}
                for (status, stat, err, at), part_ids in kinds.items() for part_id in part_ids])
        else:
            for (status, stat, err, at), part_ids in kinds.items():
                for chunk in _chunks(part_ids):
                    conn.execute(self._receipt_to_parts,
                                 {"ids": chunk, "b_status": status, "b_stat": stat, "b_err": err, "b_at": at})
        orphans = [r for mid, r in by_id.items() if mid not in known]
        if orphans:
            conn.execute(self._keep_pending, [
                {"smsc_message_id": r.smsc_message_id[:64], "stat": _receipt_columns(r)[1],
                 "err": _receipt_columns(r)[2], "received_at": r.received_at} for r in orphans])
            logger.info("%d receipt(s) for unknown SMSC ids kept for later", len(orphans))
        # a one-part message is settled by its own receipt; only longer ones need their other parts
        done, bad, longer = [], [], set()
        for mid, row in known.items():
            if row.total != 1:
                longer.add(row.message_id)
                continue
            status, stat, err = _receipt_columns(by_id[mid])
            if status == "delivered":
                done.append(row.message_id)
            elif status == "failed":
                bad.append(_receipt_failure(row.message_id, stat, err))
        self._finish(conn, done, bad)
        for chunk in _chunks(sorted(longer)):
            self._settle(conn, chunk, self._part_totals)

    def _settle(self, conn: sa.Connection, message_ids: Sequence[int], totals: sa.Select) -> None:
        """SUBMITTED → DELIVERED when every part has DELIVRD; → FAILED/EXPIRED when any part failed."""
        done, bad_ids = [], []
        for row in conn.execute(totals, {"ids": message_ids}):
            if row.failed:
                bad_ids.append(row.message_id)
            elif row.n == row.total and row.delivered == row.total:
                done.append(row.message_id)
        first = {}
        if bad_ids:
            for row in conn.execute(self._first_failures, {"ids": bad_ids}):
                first.setdefault(row.message_id, row)
        self._finish(conn, done, [_receipt_failure(mid, row.receipt_stat, row.receipt_err)
                                  for mid, row in first.items()])

    def _finish(self, conn: sa.Connection, done: list[int], bad: list[dict]) -> None:
        for chunk in _chunks(done):
            conn.execute(self._delivered, {"ids": chunk})
        if bad:
            conn.execute(self._receipt_failed, bad)

    # -------------------------------------------------------------------------------- inbound
    def save_inbound(self, sms: InboundSms) -> None:
        with self.app.app_context():      # on an error, leaving the context rolls the session back
            self._store_inbound(sms)
            db.session.commit()

    def save_inbound_part(self, part: InboundPart) -> None:
        # in the ORM session, so the part and the message it completes are one transaction
        with self.app.app_context():
            session = db.session
            group = self._lock_group(session, *part.key)
            old = session.execute(sa.select(_IN_PARTS.c.payload, _IN_PARTS.c.completed_at)
                                  .where(group, _IN_PARTS.c.part_index == part.index)).first()
            if old is not None:
                if old.completed_at is None or bytes(old.payload) == part.payload:
                    return                                  # a resend after a lost ack
                session.execute(_IN_PARTS.delete().where(group))   # a new message reusing the reference
            inserted = session.execute(self._insert_in_part, {
                "source_addr": part.source_addr[:32], "destination_addr": part.destination_addr[:32],
                "reference": part.reference, "total": part.total, "part_index": part.index,
                "data_coding": part.data_coding, "payload": part.payload, "received_at": part.received_at})
            if inserted.rowcount == 0:
                return                                      # the same part stored meanwhile (SQLite)
            rows = session.execute(sa.select(_IN_PARTS).where(group)).all()
            if len(rows) == part.total:
                self._store_inbound(join_parts([_inbound_part(r) for r in rows], True))
                session.execute(_IN_PARTS.update().where(group).values(completed_at=part.received_at))
            session.commit()

    def expire_inbound_parts(self, before: datetime) -> int:
        c = _IN_PARTS.c
        with self.app.app_context():
            session = db.session
            session.execute(_IN_PARTS.delete().where(c.completed_at < before))
            due = session.execute(sa.select(c.source_addr, c.destination_addr, c.reference, c.total)
                                  .where(c.completed_at.is_(None))
                                  .group_by(c.source_addr, c.destination_addr, c.reference, c.total)
                                  .having(sa.func.min(c.received_at) < before)).all()
            stored = 0
            for key in due:
                group = self._lock_group(session, *key)
                # deleted and read in one statement: a worker expiring at the same time gets nothing
                rows = session.execute(_IN_PARTS.delete().where(group, c.completed_at.is_(None))
                                       .returning(*_IN_PARTS.c)).all()
                if rows:
                    self._store_inbound(join_parts([_inbound_part(r) for r in rows], len(rows) == key.total))
                    stored += 1
            session.commit()
            return stored

    def _lock_group(self, session, source_addr: str, destination_addr: str, reference: int,
                    total: int) -> sa.ColumnElement:
        """The WHERE clause of one part group. On PostgreSQL the group is locked first (until the
        commit), so two workers given different parts of it at once see each other's: otherwise
        neither would see the group complete."""
        source_addr, destination_addr = source_addr[:32], destination_addr[:32]
        if self.engine.dialect.name == "postgresql":
            name = f"inbound_parts|{source_addr}|{destination_addr}|{reference}|{total}"
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))
        c = _IN_PARTS.c
        return sa.and_(c.source_addr == source_addr, c.destination_addr == destination_addr,
                       c.reference == reference, c.total == total)

    def _store_inbound(self, sms: InboundSms) -> None:
        # imported here: services imports this module for the part counter
        from mcrm.messaging.services import store_inbound
        store_inbound(source_addr=sms.source_addr, destination_addr=sms.destination_addr, text=sms.text,
                      data_coding=sms.data_coding, received_at=sms.received_at, parts=sms.parts,
                      payload=sms.payload, complete=sms.complete, access_number=self.access_number,
                      region=self.region)


def _inbound_part(row) -> InboundPart:
    return InboundPart(row.source_addr, row.destination_addr, row.reference, row.total, row.part_index,
                       row.data_coding, bytes(row.payload), row.received_at)
