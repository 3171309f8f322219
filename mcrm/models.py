"""Imports every model so that metadata (and Alembic autogenerate) sees all tables."""
from mcrm.auth.models import Staff  # noqa: F401
from mcrm.members.models import Member, MemberTag  # noqa: F401
from mcrm.members.models import MemberImport, MemberImportError  # noqa: F401
from mcrm.members.models import ConsentRecord, OptOut  # noqa: F401
from mcrm.merchants.models import Merchant  # noqa: F401
from mcrm.messaging.models import InboundMessage, OutboundMessage, OutboundPart, PendingReceipt  # noqa: F401
from mcrm.messaging.models import InboundPart  # noqa: F401
from mcrm.points.models import PointsEntry  # noqa: F401
from mcrm.auth.login_codes import LoginCode  # noqa: F401
from mcrm.feedback.models import FeedbackTicket, ResponseTarget, TicketEntry  # noqa: F401
from mcrm.keywords.models import CouponCode, EventSignup, InfoRow, KeywordApp, KeywordUse, KeywordWord, PollVote  # noqa: F401
from mcrm.surveys.models import Survey, SurveyAnswer, SurveyQuestion, SurveySession  # noqa: F401
from mcrm.jobs.models import JobRun, SchedulerLease  # noqa: F401
from mcrm.segments.models import Segment  # noqa: F401
from mcrm.agenda.models import AgendaItem, AgendaReminder, AgendaText  # noqa: F401
from mcrm.campaigns.models import Campaign, CampaignCoupon, CampaignRecipient, CampaignRun  # noqa: F401
from mcrm.care.models import CareCoupon, CareGreeting, CareRun  # noqa: F401
from mcrm.ops.models import GatewayHeartbeat  # noqa: F401
from mcrm.audit.models import AuditEntry  # noqa: F401
from mcrm.api.models import ApiRequest, ApiToken  # noqa: F401
from mcrm.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: F401
