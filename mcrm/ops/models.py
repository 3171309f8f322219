"""What the gateway processes tell the rest of the installation about themselves."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import UTCDateTime
from mcrm.extensions import db


class GatewayHeartbeat(db.Model):
    """One row per gateway worker id, rewritten every few seconds while its loop runs: ``/readyz``
    and ``/metrics`` read from it whether some gateway is bound to the SMSC now."""
    __tablename__ = "gateway_heartbeats"

    #: ``SMPP_WORKER_ID``: kept across restarts, so a restarted gateway updates its own row
    worker_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]
    #: ``smpp`` or ``sandbox``
    transport: Mapped[str] = mapped_column(sa.String(16))
    #: whether it was bound (the sandbox: running) at ``seen_at``
    bound: Mapped[bool]
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
