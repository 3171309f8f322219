"""One row per audited action; never changed once written."""
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, UTCDateTime
from mcrm.extensions import db


class AuditAction(StrEnum):
    POINTS_ADJUST = "points.adjust"
    POINTS_VOID = "points.void"
    EXPORT_MEMBERS = "export.members"
    EXPORT_CARE_CALLS = "export.care_calls"
    EXPORT_SURVEY_ANSWERS = "export.survey_answers"
    EXPORT_APP_RECORDS = "export.app_records"
    EXPORT_IMPORT_ERRORS = "export.import_errors"
    STAFF_CREATE = "staff.create"
    STAFF_UPDATE = "staff.update"
    STAFF_PASSWORD = "staff.password"
    STAFF_DEACTIVATE = "staff.deactivate"
    STAFF_ACTIVATE = "staff.activate"
    STAFF_SIGN_OUT = "staff.sign_out"
    SETTINGS_UPDATE = "settings.update"
    MEMBER_DATA_EXPORT = "member.data_export"
    MEMBER_ERASE = "member.erase"
    API_TOKEN_CREATE = "api_token.create"
    API_TOKEN_REVOKE = "api_token.revoke"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_ENABLE = "webhook.enable"
    WEBHOOK_DISABLE = "webhook.disable"
    WEBHOOK_RESEND = "webhook.resend"
    WEBHOOK_NEW_SECRET = "webhook.new_secret"
    WEBHOOK_DELETE = "webhook.delete"


class AuditEntry(IdMixin, db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_entries_merchant_id", "merchant_id", "id"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    #: the staff who acted, or None for an API token or the system
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    #: the API token that acted (the API's own table; no foreign key so tokens may be deleted)
    token_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(sa.String(40))
    #: what was acted on, e.g. "member 12", "staff 3"
    target: Mapped[str] = mapped_column(sa.String(100), default="")
    #: what changed; never a secret (``services.record`` drops them)
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: the client's IP address, for actions from a request
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
