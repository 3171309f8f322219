"""Campaigns: compose, check, launch, dispatch (queue a run in batches), pause, resume, cancel, report.

Every function takes the merchant (or a campaign of it) and ``now``; the acting staff is an
argument, never read from a request. Services flush; the view, the CLI command or the job commits.
Rules of marketing (opt-outs, the window, the frequency cap, invalid numbers) are messaging's:
a run hands each batch of members to ``messaging.services.enqueue_marketing_batch``.
"""
from dataclasses import dataclass, field
from datetime import datetime

from mcrm.auth.models import Staff
from mcrm.campaigns.models import Campaign, CampaignRun, CampaignStatus, Recurrence, RunStatus
from mcrm.merchants.models import Merchant

__all__ = ["Campaign", "CampaignRun", "CampaignStatus", "Recurrence", "RunStatus", "FIELDS", "Preview",
           "Report", "create_campaign", "update_campaign", "get_campaign", "list_campaigns", "preview",
           "preview_campaign", "launch_campaign", "send_test", "pause_campaign", "resume_campaign",
           "cancel_campaign", "delete_campaign", "dispatch_due", "campaign_report", "run_report"]

#: the member fields a campaign text may use, in the order the composer offers them
FIELDS = ("name", "points", "tier", "expiring_points", "member_no", "shop", "coupon", "coupon_expires")
#: replies counted for a run: MOs from its recipients this many days after it started
REPLY_DAYS = 3


@dataclass(frozen=True)
class Preview:
    """What the composer shows before sending (all figures for the segment as it is now)."""
    #: members in the segment
    recipients: int
    #: of them opted out: they will get nothing
    opted_out: int
    #: the text as the longest member would get it: signature + body + hint, fields filled with
    #: the longest value each has in the segment
    longest_text: str
    #: characters and SMS parts of ``longest_text``: every message costs at most this
    chars: int
    parts: int
    #: ``(recipients - opted_out) * parts``: at most this many SMS are billed
    total_parts: int
    #: field → its longest value in the segment (what ``longest_text`` was filled with)
    longest_values: dict = field(default_factory=dict)
    #: codes the coupon app can still give (None: no coupon app; generated codes within stock count)
    coupons_available: int | None = None
    #: refusals launching would meet now (short coupon pool, empty segment, …), translated by the caller
    problems: list = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """A run's figures (or a campaign's, summed over its runs), counted from the outbox."""
    targeted: int
    #: reason → count ("opted out", "frequency cap", "invalid number", "duplicate occasion",
    #: "cancelled", "no coupon left")
    suppressed: dict
    queued: int          # waiting: queued, held by a pause, or claimed by a gateway
    submitted: int       # accepted by the SMSC, no final receipt yet
    delivered: int
    failed: int          # failed or expired
    replies: int         # recipients who texted the merchant within REPLY_DAYS of the run
    coupons_issued: int
    coupons_redeemed: int
    #: yuan spent by members who redeemed, in purchases within their coupon's validity
    redeemed_spend: str
    #: members put in the outbox so far (the progress bar: processed / targeted)
    processed: int

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def sent(self) -> int:
        return self.submitted + self.delivered + self.failed


# -- composing ------------------------------------------------------------------------------------

def create_campaign(merchant: Merchant, *, name: str, body: str, segment=None, segment_id: int | None = None,
                    send_at: datetime | None = None, recurrence: str = Recurrence.ONCE,
                    coupon_app_id: int | None = None, actor: Staff | None = None, actor_label: str = "",
                    now: datetime) -> Campaign:
    """A new DRAFT campaign after every check (ValidationError): name, body (known fields only, at
    most 5 SMS with the signature and hint at the longest values), segment (a definition as dict
    or JSON text, or a saved segment's id; neither = every member), ``send_at`` not in the past,
    ``recurrence`` once|daily|weekly|monthly, coupon app of this merchant. Flushes."""
    raise NotImplementedError


def update_campaign(campaign: Campaign, *, now: datetime, **changes) -> Campaign:
    """Change a DRAFT (name, body, segment, segment_id, send_at, recurrence, coupon_app_id) with
    the checks of ``create_campaign``; a launched campaign is refused (ConflictError)."""
    raise NotImplementedError


def get_campaign(merchant: Merchant, campaign_id: int) -> Campaign:
    """The merchant's campaign; another merchant's id is as missing as one that never existed (NotFoundError)."""
    raise NotImplementedError


def list_campaigns(merchant: Merchant, *, status: str | None = None, limit: int = 100) -> list[Campaign]:
    """The merchant's campaigns, newest first."""
    raise NotImplementedError


def preview(merchant: Merchant, *, body: str, segment=None, segment_id: int | None = None,
            coupon_app_id: int | None = None, now: datetime) -> Preview:
    """The composer's live figures for a text and a segment not saved yet (see ``Preview``).
    A bad segment or an unknown field raises ValidationError."""
    raise NotImplementedError


def preview_campaign(campaign: Campaign, *, now: datetime) -> Preview:
    """``preview`` of a saved campaign."""
    raise NotImplementedError


def launch_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """DRAFT → SCHEDULED for ``send_at`` (now when None). Refused (ValidationError) when the segment
    is empty, the text too long, or the coupon app has fewer codes left than recipients. The
    dispatch job starts the run within a minute; the console may call ``dispatch_due`` at once."""
    raise NotImplementedError


def send_test(campaign_or_body, *, merchant: Merchant, actor: Staff, now: datetime, msisdn: str | None = None):
    """Queue the text once to the staff member's own phone (``actor.msisdn`` unless ``msisdn``),
    filled with the staff's member record if there is one, else with sample values, with the
    signature and the hint, at once (no window, no cap). Returns the OutboundMessage."""
    raise NotImplementedError


# -- sending --------------------------------------------------------------------------------------

def dispatch_due(*, now: datetime, merchant_id: int | None = None, batch_size: int | None = None) -> int:
    """The dispatch job's work: start a run for every launched campaign that is due, queue every run
    that is still being queued (after its last member: a killed enqueue resumes), and finish the runs
    whose messages are all final. Idempotent and safe to run twice at once. Commits after each batch
    (a run of a million members is never one transaction). Returns the messages queued."""
    raise NotImplementedError


def pause_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """SCHEDULED or SENDING → PAUSED: queued messages of its runs wait (status held), queuing stops."""
    raise NotImplementedError


def resume_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """PAUSED → SENDING (a run was under way) or SCHEDULED: held messages are queued again (outside
    the window they still wait for it)."""
    raise NotImplementedError


def cancel_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """Stop for good: messages not yet claimed by a gateway become suppressed ("cancelled"), no run
    starts again. A DONE or CANCELLED campaign is refused (ConflictError)."""
    raise NotImplementedError


def delete_campaign(campaign: Campaign) -> None:
    """Delete a DRAFT (anything launched stays, for its report): ConflictError otherwise."""
    raise NotImplementedError


# -- report ---------------------------------------------------------------------------------------

def run_report(run: CampaignRun, *, now: datetime) -> Report:
    """One run's figures, counted from the outbox, the inbox, coupons and the points ledger."""
    raise NotImplementedError


def campaign_report(campaign: Campaign, *, now: datetime) -> Report:
    """The campaign's figures summed over its runs (a campaign never launched: all zero)."""
    raise NotImplementedError
