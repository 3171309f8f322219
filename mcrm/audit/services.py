"""Writing and reading the audit log. Low in the layer order, so every feature may record."""
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from mcrm.audit.models import AuditEntry
from mcrm.extensions import db

#: detail keys never stored, whatever a caller passes: the log must not become a store of secrets
SECRET_WORDS = ("password", "secret", "token", "code", "key")


def _without_secrets(details: dict) -> dict:
    return {key: value for key, value in details.items()
            if not any(word in key.lower() for word in SECRET_WORDS)}


def record(merchant_id: int, action: str, *, now: datetime, staff_id: int | None = None,
           token_id: int | None = None, target: str = "", details: dict | None = None,
           ip: str | None = None) -> AuditEntry:
    """Add one entry to the log, in the caller's transaction (it commits with the action). Flushes."""
    entry = AuditEntry(merchant_id=merchant_id, action=str(action), staff_id=staff_id, token_id=token_id,
                       target=target[:100], details=_without_secrets(details or {}), ip=ip, created_at=now)
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    staff_id: int | None = None


def list_entries(merchant_id: int, filters: AuditFilter, *, before_id: int | None = None,
                 limit: int = 50) -> list[AuditEntry]:
    """The merchant's log, newest first, a page at a time (``before_id``: last id of the page before)."""
    query = sa.select(AuditEntry).where(AuditEntry.merchant_id == merchant_id)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.staff_id is not None:
        query = query.where(AuditEntry.staff_id == filters.staff_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return db.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)).all()
