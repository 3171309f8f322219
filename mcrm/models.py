"""Imports every model so that metadata (and Alembic autogenerate) sees all tables."""
from mcrm.auth.models import Staff  # noqa: F401
from mcrm.members.models import Member, MemberTag  # noqa: F401
from mcrm.members.models import MemberImport, MemberImportError  # noqa: F401
from mcrm.merchants.models import Merchant  # noqa: F401
from mcrm.messaging.models import InboundMessage, OutboundMessage, OutboundPart, PendingReceipt  # noqa: F401
from mcrm.points.models import PointsEntry  # noqa: F401
