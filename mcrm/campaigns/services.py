"""Campaigns: compose, check, launch, dispatch (queue a run in batches), pause, resume, cancel, report.

Every function takes the merchant (or a campaign of it) and ``now``; the acting staff is an
argument, never read from a request. Services flush and the caller commits, except
``dispatch_due``, the job's work, which commits after each batch (a run to a million members is
never one transaction). The marketing rules (opt-outs, the window, the frequency cap, invalid
numbers) are messaging's: a run hands each batch of members to
``messaging.services.enqueue_marketing_batch``.
"""
import functools
import logging
import operator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from mcrm.auth.models import Staff
from mcrm.campaigns import conditions as _conditions  # (its import registers the segment conditions)
from mcrm.campaigns.models import (Campaign, CampaignCoupon, CampaignRecipient, CampaignRun, CampaignStatus,
                                   Recurrence, RunStatus)
from mcrm.core.errors import ConflictError, DomainError, NotFoundError, ValidationError
from mcrm.core.recurrence import next_occurrence
from mcrm.core.templates import (check_template, compile_template, render_template, template_fields,
                                 template_pieces)
from mcrm.extensions import db
from mcrm.keywords.apps.custom import coupon_expiry, coupons_left, issue_coupons, last_valid_day
from mcrm.db import beyond_bmp, zero_padded
from mcrm.keywords.fields import FIELD_SQL, MEMBER_FIELDS, member_values
from mcrm.keywords.models import AppKind, AppStatus, CouponCode, KeywordApp
from mcrm.members.models import Member
from mcrm.members.services import find_member_by_msisdn
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import InboundMessage, MessageKind, MessageStatus, OutboundMessage, SuppressReason
from mcrm.messaging.services import (Suppressed, counts_in_sql, enqueue_marketing_batch, enqueue_marketing_select,
                                     enqueue_sms)
from mcrm.messaging.store import count_parts
from mcrm.messaging.texts import MAX_TEXT_PARTS
from mcrm.points.models import EntryKind, PointsEntry
from mcrm.points.services import expiring_points_of
from mcrm.segments.rules import EVERYONE
from mcrm.segments.services import check_definition, get_segment, member_ids_select
from mcrm.surveys import services as surveys
from mcrm.surveys.models import Survey
from mcrm.webhooks import events
from mcrm.webhooks.models import WebhookEvent
from mcrm.webhooks.services import emit

logger = logging.getLogger(__name__)

#: the coupon a campaign hands out, and its last valid day
COUPON_FIELDS = ("coupon", "coupon_expires")
#: the fields a campaign text may use, in the order the composer offers them: the member fields
#: of every text (mcrm.keywords.fields), then the coupon's
FIELDS = MEMBER_FIELDS + COUPON_FIELDS
#: the member fields a batch fills from its plain rows (points that lapse come from one query)
ROW_FIELDS = tuple(name for name in MEMBER_FIELDS if name != "expiring_points")
#: replies counted for a run: texts from its recipients this many days after it started
REPLY_DAYS = 3
#: members queued per transaction: large enough that a query per rule is cheap per member, small
#: enough that a batch commits in well under a second
BATCH_SIZE = 5000
MAX_NAME = 60
#: statuses of a message still waiting to go (for a paused run: held)
_WAITING = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD)
#: the report's column for each message status
_REPORTED = {MessageStatus.QUEUED: "queued", MessageStatus.SENDING: "queued", MessageStatus.HELD: "queued",
             MessageStatus.SUBMITTED: "submitted", MessageStatus.DELIVERED: "delivered",
             MessageStatus.FAILED: "failed", MessageStatus.EXPIRED: "failed"}
#: a generated code as long as any the app makes, for counting: 8 GSM characters after the prefix
_GENERATED_CODE = "A" * 8


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
    #: codes the coupon app can still give (None: no coupon app, or its stock has no limit)
    coupons_available: int | None = None
    #: DomainErrors launching would meet now (short coupon pool, empty segment, too long)
    problems: list = field(default_factory=list)

    @property
    def sendable(self) -> int:
        return self.recipients - self.opted_out


@dataclass(frozen=True)
class Report:
    """A run's figures (or a campaign's, summed over its runs), counted from the outbox."""
    targeted: int = 0
    #: reason → count ("opted out", "frequency cap", "invalid number", "duplicate occasion",
    #: "cancelled", "no coupon left", "too long")
    suppressed: dict = field(default_factory=dict)
    queued: int = 0       # waiting: queued, held by a pause, or claimed by a gateway
    submitted: int = 0    # accepted by the SMSC, no final receipt yet
    delivered: int = 0
    failed: int = 0       # failed or expired
    replies: int = 0      # recipients who texted the merchant within REPLY_DAYS of the run
    coupons_issued: int = 0
    coupons_redeemed: int = 0
    #: of an invitation: survey sessions it opened, those answered at least once, those completed
    survey_invited: int = 0
    survey_responses: int = 0
    survey_completions: int = 0
    #: yuan spent by members who redeemed, in purchases within their coupon's validity
    redeemed_spend: str = "0.00"

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def sent(self) -> int:
        return self.submitted + self.delivered + self.failed

    @property
    def processed(self) -> int:
        """Members put in the outbox so far (the progress bar: processed / targeted)."""
        return self.suppressed_total + self.queued + self.sent


NO_COUPON_LEFT = "no coupon left"


# -- composing ------------------------------------------------------------------------------------

def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the campaign a name")
    if len(name) > MAX_NAME:
        raise ValidationError("A campaign name has at most %(count)s characters", count=MAX_NAME)
    return name


def check_body(body: str, coupon_app: KeywordApp | None) -> str:
    """A campaign's or a greeting's text, stripped, after its checks: known fields only, and
    ``{coupon}`` exactly when a coupon app is chosen."""
    body = (body or "").strip()
    check_template(body, FIELDS)
    used = set(template_fields(body))
    if coupon_app is None and used & set(COUPON_FIELDS):
        raise ValidationError("Choose a coupon app to use {coupon} in the text")
    if coupon_app is not None and "coupon" not in used:
        raise ValidationError("Put {coupon} in the text: every recipient gets a code of the coupon app")
    return body


def _definition(merchant: Merchant, segment, segment_id: int | None) -> dict:
    if segment not in (None, "") and segment_id:
        raise ValidationError("Choose a saved segment or write one, not both")
    if segment_id:
        return get_segment(merchant.id, int(segment_id)).definition
    if segment in (None, ""):
        return dict(EVERYONE)
    return check_definition(merchant.id, segment)


def get_coupon_app(merchant: Merchant, coupon_app_id: int | None) -> KeywordApp | None:
    """The merchant's coupon app of that id, not ended (None for no id)."""
    if not coupon_app_id:
        return None
    app = db.session.get(KeywordApp, int(coupon_app_id))
    if app is None or app.merchant_id != merchant.id or app.kind != AppKind.COUPON:
        raise ValidationError("No such coupon app")
    if app.status == AppStatus.ENDED:
        raise ValidationError("The coupon app %(app)s has ended", app=app.name)
    return app


def get_invited_survey(merchant: Merchant, survey_id: int | None) -> Survey | None:
    """The merchant's survey a campaign invites to (None for no id)."""
    if not survey_id:
        return None
    try:
        return surveys.get_survey(merchant, int(survey_id))
    except NotFoundError:
        raise ValidationError("No such survey") from None


def invitation_text(survey: Survey | None) -> str:
    """What an invitation adds after the campaign's text: the survey's intro and first question."""
    return "\n" + surveys.survey_opening(survey) if survey is not None else ""


def _survey_problem(survey: Survey | None, now: datetime) -> ValidationError | None:
    if survey is not None and not surveys.is_open(survey, now=now):
        return ValidationError("The survey %(code)s is not open: open it before inviting to it", code=survey.code)
    return None


def _recurrence(value) -> Recurrence:
    try:
        return Recurrence(value or Recurrence.ONCE)
    except ValueError:
        raise ValidationError("Repeat once, daily, weekly or monthly, not %(value)s",
                              value=str(value)) from None


def _check_send_at(send_at: datetime | None, now: datetime) -> datetime | None:
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise ValidationError("Give the sending time with its time zone")
    if send_at < now - timedelta(minutes=1):
        raise ValidationError("The sending time has passed")
    return send_at


def list_coupon_apps(merchant: Merchant) -> list[KeywordApp]:
    """The coupon apps a campaign may hand out codes of (not ended), newest first."""
    return list(db.session.scalars(sa.select(KeywordApp).where(
        KeywordApp.merchant_id == merchant.id, KeywordApp.kind == AppKind.COUPON,
        KeywordApp.status != AppStatus.ENDED).order_by(KeywordApp.id.desc())))


def create_campaign(merchant: Merchant, *, name: str, body: str, segment=None, segment_id: int | None = None,
                    send_at: datetime | None = None, recurrence: str = Recurrence.ONCE,
                    coupon_app_id: int | None = None, survey_id: int | None = None, actor: Staff | None = None,
                    actor_label: str = "", now: datetime) -> Campaign:
    """A new DRAFT campaign after every check (ValidationError): name, body (known fields only,
    ``{coupon}`` exactly when a coupon app is chosen), segment (a definition as dict or JSON text,
    or a saved segment's id; neither = every member), ``send_at`` not in the past, ``recurrence``
    once|daily|weekly|monthly, a coupon app and a survey to invite to of this merchant. Flushes."""
    campaign = Campaign(merchant_id=merchant.id, status=CampaignStatus.DRAFT, created_at=now, updated_at=now,
                        created_by_id=actor.id if actor else None,
                        created_by=actor_label or (actor.display_name or actor.username if actor else ""))
    _apply(campaign, merchant, now=now, name=name, body=body, segment=segment, segment_id=segment_id,
           send_at=send_at, recurrence=recurrence, coupon_app_id=coupon_app_id, survey_id=survey_id)
    db.session.add(campaign)
    db.session.flush()
    return campaign


def _apply(campaign: Campaign, merchant: Merchant, *, now: datetime, name, body, segment, segment_id, send_at,
           recurrence, coupon_app_id, survey_id) -> None:
    coupon_app = get_coupon_app(merchant, coupon_app_id)
    survey = get_invited_survey(merchant, survey_id)
    campaign.name = _clean_name(name)
    campaign.body = check_body(body, coupon_app)
    campaign.segment_definition = _definition(merchant, segment, segment_id)
    campaign.segment_id = int(segment_id) if segment_id else None
    campaign.send_at = _check_send_at(send_at, now)
    campaign.recurrence = _recurrence(recurrence)
    campaign.coupon_app_id = coupon_app.id if coupon_app else None
    campaign.survey_id = survey.id if survey else None
    campaign.updated_at = now


_UNSET = object()


def update_campaign(campaign: Campaign, *, now: datetime, name=_UNSET, body=_UNSET, segment=_UNSET,
                    segment_id=_UNSET, send_at=_UNSET, recurrence=_UNSET, coupon_app_id=_UNSET,
                    survey_id=_UNSET) -> Campaign:
    """Change a DRAFT with the checks of ``create_campaign`` (what is not given stays; passing a
    ``segment`` clears ``segment_id`` unless it is given too); a launched one is refused (ConflictError)."""
    if campaign.status is not CampaignStatus.DRAFT:
        raise ConflictError("Only a draft can be changed; this campaign is %(status)s",
                            status=campaign.status.value)
    merchant = db.session.get(Merchant, campaign.merchant_id)
    if segment is not _UNSET and segment_id is _UNSET:
        segment_id = None
    if segment_id is not _UNSET and segment_id and segment is _UNSET:
        segment = None
    keep = {"name": campaign.name, "body": campaign.body, "send_at": campaign.send_at,
            "recurrence": campaign.recurrence, "coupon_app_id": campaign.coupon_app_id,
            "segment": campaign.segment_definition if not campaign.segment_id else None,
            "segment_id": campaign.segment_id, "survey_id": campaign.survey_id}
    given = {"name": name, "body": body, "segment": segment, "segment_id": segment_id, "send_at": send_at,
             "recurrence": recurrence, "coupon_app_id": coupon_app_id, "survey_id": survey_id}
    _apply(campaign, merchant, now=now, **{k: keep[k] if v is _UNSET else v for k, v in given.items()})
    db.session.flush()
    return campaign


def get_campaign(merchant: Merchant, campaign_id: int) -> Campaign:
    """The merchant's campaign; another merchant's id is as missing as one that never existed."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.merchant_id != merchant.id:
        raise NotFoundError("No such campaign")
    return campaign


def list_campaigns(merchant: Merchant, *, status: str | None = None, limit: int = 100,
                   before_id: int | None = None) -> list[Campaign]:
    """The merchant's campaigns, newest first; ``before_id`` pages back to older ones."""
    query = sa.select(Campaign).where(Campaign.merchant_id == merchant.id)
    if status:
        query = query.where(Campaign.status == CampaignStatus(status))
    if before_id is not None:
        query = query.where(Campaign.id < before_id)
    return list(db.session.scalars(query.order_by(Campaign.id.desc()).limit(limit)))


def delete_campaign(campaign: Campaign) -> None:
    """Delete a DRAFT (anything launched stays, for its report): ConflictError otherwise."""
    if campaign.status is not CampaignStatus.DRAFT:
        raise ConflictError("Only a draft can be deleted; cancel a launched campaign instead")
    db.session.delete(campaign)
    db.session.flush()


# -- counting before sending ----------------------------------------------------------------------

def _segment_select(merchant: Merchant, definition, now: datetime) -> sa.Select:
    return member_ids_select(merchant.id, definition, now=now)


def _longest_values(merchant: Merchant, definition: dict, used: set, coupon_app: KeywordApp | None,
                    now: datetime) -> dict:
    """For each field the text uses, the longest value it takes in the segment (one query per kind
    of field), so that the count of characters and parts is an upper bound for every member."""
    members = _segment_select(merchant, definition, now)
    values = {"shop": merchant.name}
    if used & {"points", "expiring_points", "member_no"}:
        most_points, last_id = db.session.execute(members.with_only_columns(
            sa.func.max(Member.points_balance), sa.func.max(Member.id))).one()
        # points expiring never pass the balance
        values["points"] = values["expiring_points"] = str(most_points or 0)
        values["member_no"] = f"{last_id or 0:08d}"
    for name, column in (("name", Member.name), ("tier", Member.tier)):
        if name in used:
            longest = db.session.scalar(members.with_only_columns(column)
                                        .order_by(sa.func.length(column).desc()).limit(1))
            values[name] = member_values(MemberRow(0, longest or "", 0, longest or ""), now=now,
                                         wanted=(name,))[name]
    if coupon_app is not None:
        if coupon_app.config.get("source") == "pool":
            code = db.session.scalar(sa.select(CouponCode.code).where(
                CouponCode.app_id == coupon_app.id, CouponCode.msisdn.is_(None))
                .order_by(sa.func.length(CouponCode.code).desc()).limit(1)) or ""
        else:
            code = str(coupon_app.config.get("prefix") or "").upper() + _GENERATED_CODE
        values["coupon"] = code
        values["coupon_expires"] = _coupon_expires_text(coupon_app, merchant, now)
    return values


def _coupon_expires_text(app: KeywordApp, merchant: Merchant, now: datetime) -> str:
    expires_at = coupon_expiry(now, int(app.config.get("valid_days") or 30), merchant.timezone)
    return last_valid_day(expires_at, merchant.timezone).isoformat()


def _on_air(merchant: Merchant, body: str) -> str:
    return merchant.signature + body + merchant.unsubscribe_hint


def preview(merchant: Merchant, *, body: str, segment=None, segment_id: int | None = None,
            coupon_app_id: int | None = None, survey_id: int | None = None, now: datetime) -> Preview:
    """The composer's live figures for a text and a segment (see ``Preview``). A bad segment or an
    unknown field raises ValidationError; an empty text is counted as the signature and hint."""
    definition = _definition(merchant, segment, segment_id)
    coupon_app = get_coupon_app(merchant, coupon_app_id)
    survey = get_invited_survey(merchant, survey_id)
    body = (body or "").strip()
    if body:
        check_template(body, FIELDS)
    return _preview(merchant, body, definition, coupon_app, survey, now)


def preview_campaign(campaign: Campaign, *, now: datetime) -> Preview:
    """``preview`` of a saved campaign."""
    merchant = db.session.get(Merchant, campaign.merchant_id)
    coupon_app = db.session.get(KeywordApp, campaign.coupon_app_id) if campaign.coupon_app_id else None
    survey = db.session.get(Survey, campaign.survey_id) if campaign.survey_id else None
    return _preview(merchant, campaign.body, campaign.segment_definition, coupon_app, survey, now)


def _preview(merchant: Merchant, body: str, definition: dict, coupon_app: KeywordApp | None,
             survey: Survey | None, now: datetime) -> Preview:
    recipients, opted_out = db.session.execute(_segment_select(merchant, definition, now).with_only_columns(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((Member.opted_out.is_(True), 1), else_=0)),
                                          0))).one()
    used = set(template_fields(body))
    values = _longest_values(merchant, definition, used, coupon_app, now)
    text = _on_air(merchant, render_template(body, values) + invitation_text(survey))
    shape = count_parts(text)
    available = coupons_left(coupon_app) if coupon_app is not None else None
    problems: list[DomainError] = []
    if body:
        try:
            check_body(body, coupon_app)
        except ValidationError as error:     # {coupon} without a coupon app, or the reverse
            problems.append(error)
    if recipients - opted_out <= 0:
        problems.append(ValidationError("Nobody in the segment can get marketing SMS"))
    if (closed := _survey_problem(survey, now)) is not None:
        problems.append(closed)
    if shape.parts > MAX_TEXT_PARTS:
        problems.append(ValidationError("The text is too long: %(parts)s SMS for the longest member (at most "
                                        "%(most)s)", parts=shape.parts, most=MAX_TEXT_PARTS))
    if available is not None and available < recipients - opted_out:
        problems.append(ValidationError(
            "The coupon app has %(left)s codes left for %(needed)s recipients: add codes first",
            left=available, needed=recipients - opted_out))
    return Preview(recipients=recipients, opted_out=int(opted_out), longest_text=text, chars=shape.chars,
                   parts=shape.parts, total_parts=(recipients - opted_out) * shape.parts,
                   longest_values={k: v for k, v in values.items() if k in used}, coupons_available=available,
                   problems=problems)


def launch_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """DRAFT → SCHEDULED for ``send_at`` (now when None). Refused (ValidationError) when nobody in
    the segment may get marketing, the text is too long for its longest member, or the coupon app
    has fewer codes left than recipients. The dispatch job starts the run within a minute."""
    if campaign.status is not CampaignStatus.DRAFT:
        raise ConflictError("This campaign was launched already")
    figures = preview_campaign(campaign, now=now)
    if figures.problems:
        raise figures.problems[0]
    campaign.status = CampaignStatus.SCHEDULED
    campaign.launched_at = now
    campaign.scheduled_at = max(campaign.send_at or now, now)
    campaign.updated_at = now
    db.session.flush()
    return campaign


def send_test(campaign_or_body, *, merchant: Merchant, actor: Staff, now: datetime, msisdn: str | None = None,
              coupon_app_id: int | None = None, survey_id: int | None = None) -> OutboundMessage:
    """Queue the text once to the staff member's own phone (``actor.msisdn`` unless ``msisdn``), at
    once (no window, no cap), with the signature and the hint: filled with the member record of
    that phone if there is one, else with sample values; a coupon shows a sample code (none is
    taken), and an invitation's survey opening (no session opens). Returns the outbox row."""
    if isinstance(campaign_or_body, Campaign):
        body, coupon_app_id = campaign_or_body.body, campaign_or_body.coupon_app_id
        survey_id = campaign_or_body.survey_id
    else:
        body = (campaign_or_body or "").strip()
        check_template(body, FIELDS)
    to = msisdn or actor.msisdn
    if not to:
        raise ValidationError("Your account has no mobile number: the owner adds it on the Staff page")
    member = find_member_by_msisdn(merchant, to)
    values = {"shop": merchant.name}
    values.update(member_values(member, now=now) if member is not None else
                  member_values(MemberRow(0, actor.display_name or "", 0, ""), now=now, wanted=ROW_FIELDS)
                  | {"expiring_points": 0})
    coupon_app = get_coupon_app(merchant, coupon_app_id)
    if coupon_app is not None:
        values["coupon"] = str(coupon_app.config.get("prefix") or "").upper() + "TESTCODE"
        values["coupon_expires"] = _coupon_expires_text(coupon_app, merchant, now)
    text = render_template(body, values) + invitation_text(get_invited_survey(merchant, survey_id))
    return enqueue_sms(merchant, msisdn=to, body=text + merchant.unsubscribe_hint,
                       kind=MessageKind.TRANSACTIONAL, now=now)


# -- sending --------------------------------------------------------------------------------------

class MemberRow:
    """A member as ``keywords.context.member_values`` reads one, from a batch's plain row (no ORM
    object per member): the same field values as a keyword reply."""
    __slots__ = ("id", "name", "points_balance", "tier")
    member_no = Member.member_no

    def __init__(self, member_id, name, points_balance, tier):
        self.id, self.name, self.points_balance, self.tier = member_id, name, points_balance, tier


def dispatch_due(*, now: datetime, merchant_id: int | None = None, batch_size: int | None = None) -> int:
    """The dispatch job's work: start a run for every launched campaign that is due, queue every run
    still being queued (after its last member: a killed enqueue resumes), and finish the runs whose
    messages are all final. Idempotent, and safe with two processes at once. Commits after each
    step and batch. Returns the messages queued (suppressed ones included)."""
    due = sa.select(Campaign.id).where(Campaign.status.in_((CampaignStatus.SCHEDULED,
                                                            CampaignStatus.SENDING)),
                                       Campaign.scheduled_at <= now)
    if merchant_id is not None:
        due = due.where(Campaign.merchant_id == merchant_id)
    for campaign_id in db.session.scalars(due.order_by(Campaign.scheduled_at)).all():
        _start_run(campaign_id, now)
        db.session.commit()
    runs = sa.select(CampaignRun.id).where(CampaignRun.status == RunStatus.ENQUEUING)
    if merchant_id is not None:
        runs = runs.where(CampaignRun.merchant_id == merchant_id)
    queued = 0
    for run_id in db.session.scalars(runs.order_by(CampaignRun.id)).all():
        # until the run is no longer this process's to queue: finished, paused, or taken
        while (count := enqueue_batch(run_id, now=now, batch_size=batch_size or BATCH_SIZE)) is not None:
            db.session.commit()
            queued += count
        db.session.rollback()
    finish_runs(now=now, merchant_id=merchant_id)
    db.session.commit()
    return queued


def _start_run(campaign_id: int, now: datetime) -> CampaignRun | None:
    """Start the run of a due campaign, with its recipients, and move the campaign's next occasion
    on; None when another process did it first (the conditional UPDATE settles who)."""
    campaign = db.session.get(Campaign, campaign_id)
    merchant = db.session.get(Merchant, campaign.merchant_id)
    due_at = campaign.scheduled_at
    repeat = None if campaign.recurrence is Recurrence.ONCE else campaign.recurrence.value
    following = next_occurrence(campaign.send_at or campaign.launched_at, repeat, now, ZoneInfo(merchant.timezone),
                                strictly=True)
    won = db.session.execute(
        sa.update(Campaign).where(Campaign.id == campaign.id, Campaign.scheduled_at == due_at,
                                  Campaign.status.in_((CampaignStatus.SCHEDULED, CampaignStatus.SENDING)))
        .values(status=CampaignStatus.SENDING, scheduled_at=following, updated_at=now),
        execution_options={"synchronize_session": False}).rowcount
    if won != 1:
        db.session.rollback()
        return None
    run = CampaignRun(campaign_id=campaign.id, merchant_id=merchant.id, scheduled_for=due_at, started_at=now,
                      replies_until=now + timedelta(days=REPLY_DAYS), status=RunStatus.ENQUEUING, targeted=0,
                      last_member_id=0)
    db.session.add(run)
    db.session.flush()
    try:
        members = _segment_select(merchant, campaign.segment_definition, now)
        # an invitation to a survey that closed since the launch would open sessions nobody can answer
        closed = _survey_problem(db.session.get(Survey, campaign.survey_id) if campaign.survey_id else None, now)
        if closed is not None:
            raise closed
    except DomainError as error:   # a tier or tag the segment names is gone, or the survey closed: stop
        db.session.rollback()
        _pause_broken(campaign_id, now, error)
        return None
    db.session.execute(sa.insert(CampaignRecipient).from_select(
        ["run_id", "member_id"], members.with_only_columns(sa.literal(run.id), Member.id)))
    run.targeted = db.session.scalar(sa.select(sa.func.count()).where(CampaignRecipient.run_id == run.id))
    db.session.flush()
    logger.info("campaign %s: run %s for %s, %d members", campaign.id, run.id, due_at.isoformat(),
                run.targeted)
    return run


def _pause_broken(campaign_id: int, now: datetime, error: DomainError) -> None:
    logger.warning("campaign %s paused: it can no longer go out (%s)", campaign_id, error.message)
    db.session.execute(sa.update(Campaign).where(Campaign.id == campaign_id)
                       .values(status=CampaignStatus.PAUSED, updated_at=now),
                       execution_options={"synchronize_session": False})


_MEMBERS = (sa.select(Member.id, Member.msisdn, Member.opted_out, Member.name, Member.points_balance,
                      Member.tier)
            .join(CampaignRecipient, CampaignRecipient.member_id == Member.id)
            .where(CampaignRecipient.run_id == sa.bindparam("run_id"),
                   CampaignRecipient.member_id > sa.bindparam("after"), Member.deleted_at.is_(None))
            .order_by(CampaignRecipient.member_id))
#: a batch's members whose texts Python builds
_BATCH = _MEMBERS.limit(sa.bindparam("limit"))
#: of a batch whose texts SQL builds, the members it cannot count: a name or tier beyond the BMP
_BEYOND_BMP = _MEMBERS.where(CampaignRecipient.member_id <= sa.bindparam("last"),
                             sa.or_(beyond_bmp(Member.name), beyond_bmp(Member.tier)))
#: the last member of the next batch: the index alone, no member read
_BATCH_END = sa.select(sa.func.max(sa.literal_column("member_id"))).select_from(
    sa.select(CampaignRecipient.member_id)
    .where(CampaignRecipient.run_id == sa.bindparam("run_id"), CampaignRecipient.member_id > sa.bindparam("after"))
    .order_by(CampaignRecipient.member_id).limit(sa.bindparam("limit")).subquery())


def enqueue_batch(run_id: int, *, now: datetime, batch_size: int = BATCH_SIZE) -> int | None:
    """Queue the next batch of a run's members (flushes; the caller commits). Returns how many were
    put in the outbox (0 when the run had none left: it then moves to SENDING; members deleted
    since the run started get nothing), or None when the run is not this process's to queue:
    finished, paused, cancelled, or another process took this batch first (roll back). The batch
    starts by moving the run's ``last_member_id`` on with a conditional UPDATE, which holds the
    run's row until the commit: two processes never queue the same batch, and a process killed
    mid-batch leaves the run where the last commit left it."""
    run = db.session.get(CampaignRun, run_id, populate_existing=True)
    if run is None or run.status is not RunStatus.ENQUEUING:
        return None
    after = run.last_member_id
    campaign = db.session.get(Campaign, run.campaign_id)
    merchant = db.session.get(Merchant, run.merchant_id)
    texts = _texts_in_sql(campaign, merchant)
    connection = db.session.connection()
    window = {"run_id": run.id, "after": after, "limit": batch_size}
    if texts is None:
        rest = connection.execute(_BATCH, window).all()
        last = rest[-1].id if rest else None
    else:   # the database builds the rows: Python reads only the few members it cannot count
        last = connection.execute(_BATCH_END, window).scalar()
        rest = [] if last is None else connection.execute(_BEYOND_BMP, {**window, "last": last}).all()
    if last is None:
        run.status, run.enqueued_at = RunStatus.SENDING, now
        # what is left: members deleted since the run started
        db.session.execute(sa.delete(CampaignRecipient).where(CampaignRecipient.run_id == run.id))
        db.session.flush()
        return 0
    taken = db.session.execute(
        sa.update(CampaignRun).where(CampaignRun.id == run.id,
                                     CampaignRun.last_member_id == after,
                                     CampaignRun.status == RunStatus.ENQUEUING)
        .values(last_member_id=last), execution_options={"synchronize_session": False}).rowcount
    if taken != 1:
        return None
    # the member's id zero-padded: a run's keys then sort in the order they are inserted, so the
    # unique index grows at its end instead of splitting pages all over
    prefix = f"camp:{run.id}:"
    queued = 0
    if texts is not None:
        queued = enqueue_marketing_select(merchant, _recipients_select(run.id, after, last, texts, prefix, rest),
                                          now=now, occasion=run.occasion)
    if rest:
        render = _renderer(campaign, merchant, run, rest, now)
        enqueue_marketing_batch(merchant, [(row.id, row.msisdn, row.opted_out) for row in rest],
                                [f"{prefix}{row.id:010d}" for row in rest], render, now=now,
                                occasion=run.occasion)
        queued += len(rest)
    # the batch's members leave the list with the batch: one large delete at the end of a run of a
    # million was a transaction that alone raised the process's memory by tens of MB
    db.session.execute(sa.delete(CampaignRecipient).where(CampaignRecipient.run_id == run.id,
                                                          CampaignRecipient.member_id <= last))
    return queued


def _texts_in_sql(campaign: Campaign, merchant: Merchant) -> sa.ColumnElement[str] | None:
    """The campaign's text for each member as one SQL expression over ``members``, when the database
    can build the batch's rows itself: no coupon, no survey invitation (each opens a session as it
    is queued), only fields with SQL (``keywords.fields.FIELD_SQL``) and a text whose parts follow
    from its length (``messaging.services.counts_in_sql``); else None."""
    # the shop's name is the same in every text: literal, as the template's own words
    pieces = [merchant.name if piece == ("shop",) else piece for piece in template_pieces(campaign.body)]
    fields = {piece[0] for piece in pieces if isinstance(piece, tuple)}
    fixed = "".join(piece for piece in pieces if isinstance(piece, str))
    if campaign.coupon_app_id or campaign.survey_id or not fields <= FIELD_SQL.keys() or not counts_in_sql(merchant, fixed):
        return None
    return functools.reduce(operator.add, [sa.literal(piece) if isinstance(piece, str) else FIELD_SQL[piece[0]]()
                                           for piece in pieces])


def _recipients_select(run_id: int, after: int, last_id: int, texts, prefix: str, rest: list) -> sa.Select:
    """The batch's live members (ids after ``after`` up to ``last_id``) as ``enqueue_marketing_select``
    takes them, but those in ``rest`` (the members whose texts Python builds)."""
    return (sa.select(Member.id.label("member_id"), Member.msisdn, Member.opted_out, texts.label("body"),
                      (sa.literal(prefix) + zero_padded(Member.id, 10)).label("idempotency_key"))
            .join(CampaignRecipient, CampaignRecipient.member_id == Member.id)
            .where(CampaignRecipient.run_id == run_id, CampaignRecipient.member_id > after,
                   CampaignRecipient.member_id <= last_id, Member.deleted_at.is_(None),
                   *([Member.id.not_in([row.id for row in rest])] if rest else [])))


def issue_batch_coupons(coupon_app: KeywordApp, merchant: Merchant, rows: list, kept: list[bool], *,
                        now: datetime) -> dict:
    """One coupon for each member of a batch whose message will go (``kept``), set-based: member id →
    coupon; a member the pool ran dry for is left out (the caller suppresses the message)."""
    holders = [(row.id, row.msisdn) for row, keep in zip(rows, kept, strict=True) if keep]
    issued = issue_coupons(coupon_app, holders, now=now, zone=merchant.timezone)
    return {member_id: coupon for (member_id, _msisdn), coupon in zip(holders, issued, strict=True)
            if coupon is not None}


def put_coupon(values: dict, coupon, keep: bool, merchant: Merchant) -> bool:
    """Fill ``{coupon}`` and ``{coupon_expires}`` of a member's text from the coupon the batch issued
    them; False when their message would go but the pool ran dry (the caller suppresses it)."""
    if keep and coupon is None:
        return False
    if coupon is not None:
        values["coupon"] = coupon.code
        values["coupon_expires"] = last_valid_day(coupon.expires_at, merchant.timezone).isoformat()
    return True


def _renderer(campaign: Campaign, merchant: Merchant, run: CampaignRun, rows: list, now: datetime):
    """The batch's ``render`` for enqueue_marketing_batch: each member's text, a coupon for each
    member whose message will go (recorded against the run, so the report counts it), and for an
    invitation a survey session for each of them, so that their reply is its first answer."""
    used = set(template_fields(campaign.body))
    expiring = expiring_points_of([row.id for row in rows], now=now) if "expiring_points" in used else {}
    coupon_app = db.session.get(KeywordApp, campaign.coupon_app_id) if campaign.coupon_app_id else None
    survey = db.session.get(Survey, campaign.survey_id) if campaign.survey_id else None
    invitation = invitation_text(survey)

    def render(recipients, kept: list[bool]) -> list:
        coupons = {}
        if coupon_app is not None:
            coupons = issue_batch_coupons(coupon_app, merchant, rows, kept, now=now)
            if coupons:
                db.session.execute(sa.insert(CampaignCoupon), [
                    {"run_id": run.id, "member_id": member_id, "coupon_id": coupon.id}
                    for member_id, coupon in coupons.items()])
        shop, fill = merchant.name, compile_template(campaign.body)
        bodies: list = []
        for row, keep in zip(rows, kept, strict=True):
            values = member_values(MemberRow(row.id, row.name, row.points_balance, row.tier), now=now,
                                   wanted=ROW_FIELDS)
            values["shop"], values["expiring_points"] = shop, expiring.get(row.id, 0)
            if coupon_app is not None and not put_coupon(values, coupons.get(row.id), keep, merchant):
                bodies.append(Suppressed(NO_COUPON_LEFT))
                continue
            bodies.append(fill(values) + invitation)
        if survey is not None:
            going = [(row.id, row.msisdn) for row, keep, body in zip(rows, kept, bodies, strict=True)
                     if keep and body.__class__ is not Suppressed]
            surveys.invite_to_survey(survey, going, now=now, occasion=run.occasion)
        return bodies
    return render


def finish_runs(*, now: datetime, merchant_id: int | None = None) -> int:
    """Mark DONE the sending runs none of whose messages still waits, and their campaigns DONE (a
    one-off) or SCHEDULED (a recurring one with a next occasion). Flushes; returns runs finished."""
    query = sa.select(CampaignRun).where(CampaignRun.status == RunStatus.SENDING)
    if merchant_id is not None:
        query = query.where(CampaignRun.merchant_id == merchant_id)
    finished = 0
    for run in db.session.scalars(query).all():
        waiting = db.session.scalar(sa.select(OutboundMessage.id).where(
            OutboundMessage.occasion == run.occasion, OutboundMessage.status.in_(_WAITING)).limit(1))
        if waiting is not None:
            continue
        run.status, run.finished_at = RunStatus.DONE, now
        finished += 1
        campaign = db.session.get(Campaign, run.campaign_id)
        emit(run.merchant_id, WebhookEvent.CAMPAIGN_FINISHED, [events.campaign_finished(campaign, run)], now=now)
        if campaign.status is CampaignStatus.SENDING and not _active_runs(campaign, but=run):
            campaign.status = CampaignStatus.SCHEDULED if campaign.scheduled_at else CampaignStatus.DONE
            campaign.updated_at = now
    db.session.flush()
    return finished


def _active_runs(campaign: Campaign, but: CampaignRun | None = None) -> list[CampaignRun]:
    return [run for run in db.session.scalars(sa.select(CampaignRun).where(
        CampaignRun.campaign_id == campaign.id,
        CampaignRun.status.in_((RunStatus.ENQUEUING, RunStatus.SENDING, RunStatus.PAUSED))))
        if run is not but]


def _set_messages(runs: list[CampaignRun], from_statuses, **values) -> int:
    if not runs:
        return 0
    return db.session.execute(
        sa.update(OutboundMessage).where(OutboundMessage.occasion.in_([run.occasion for run in runs]),
                                         OutboundMessage.status.in_(from_statuses)).values(**values),
        execution_options={"synchronize_session": False}).rowcount


def _lock(campaign: Campaign) -> None:
    """Take the campaign's row (PostgreSQL: FOR UPDATE) and read it fresh, so a pause, a resume or a
    cancel and the dispatch job never act on each other's stale state."""
    db.session.execute(sa.select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
    db.session.refresh(campaign)


def pause_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """SCHEDULED or SENDING → PAUSED: queued messages of its runs wait (status held), queuing stops,
    no new occasion starts. Messages a gateway has already claimed still go."""
    _lock(campaign)
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        raise ConflictError("Only a scheduled or sending campaign can be paused; this one is %(status)s",
                            status=campaign.status.value)
    runs = _active_runs(campaign)
    for run in runs:
        # the run's row first: a batch being queued holds it, so the pause waits for that batch
        db.session.execute(sa.update(CampaignRun).where(CampaignRun.id == run.id)
                           .values(status=RunStatus.PAUSED), execution_options={"synchronize_session": False})
    _set_messages(runs, (MessageStatus.QUEUED,), status=MessageStatus.HELD)
    campaign.status, campaign.updated_at = CampaignStatus.PAUSED, now
    db.session.flush()
    for run in runs:
        db.session.refresh(run)
    return campaign


def resume_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """PAUSED → SENDING (a run was under way) or SCHEDULED: held messages are queued again (outside
    the window they still wait for it); an occasion that passed while paused is sent once."""
    _lock(campaign)
    if campaign.status is not CampaignStatus.PAUSED:
        raise ConflictError("Only a paused campaign can be resumed")
    runs = _active_runs(campaign)
    for run in runs:
        run.status = RunStatus.ENQUEUING if run.enqueued_at is None else RunStatus.SENDING
    _set_messages(runs, (MessageStatus.HELD,), status=MessageStatus.QUEUED)
    if runs:
        campaign.status = CampaignStatus.SENDING
    else:
        campaign.status = CampaignStatus.SCHEDULED if campaign.scheduled_at else CampaignStatus.DONE
    campaign.updated_at = now
    db.session.flush()
    return campaign


def cancel_campaign(campaign: Campaign, *, now: datetime) -> Campaign:
    """Stop for good: messages no gateway has claimed yet become suppressed ("cancelled"), members
    not queued yet get nothing, no occasion starts again. DONE or CANCELLED: ConflictError."""
    _lock(campaign)
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise ConflictError("This campaign is %(status)s already", status=campaign.status.value)
    runs = _active_runs(campaign)
    for run in runs:
        db.session.execute(sa.update(CampaignRun).where(CampaignRun.id == run.id)
                           .values(status=RunStatus.CANCELLED, finished_at=now),
                           execution_options={"synchronize_session": False})
        db.session.execute(sa.delete(CampaignRecipient).where(CampaignRecipient.run_id == run.id))
    _set_messages(runs, (MessageStatus.QUEUED, MessageStatus.HELD), status=MessageStatus.SUPPRESSED,
                  suppressed_reason=SuppressReason.CANCELLED, not_before=None)
    campaign.status, campaign.scheduled_at, campaign.updated_at = CampaignStatus.CANCELLED, None, now
    db.session.flush()
    for run in runs:
        db.session.refresh(run)
    return campaign


# -- report ---------------------------------------------------------------------------------------

def run_report(run: CampaignRun, *, now: datetime) -> Report:
    """One run's figures, counted from the outbox, the inbox, coupons and the points ledger."""
    return _reports({run.id: [run]}, now)[run.id]


def campaign_report(campaign: Campaign, *, now: datetime) -> Report:
    """The campaign's figures summed over its runs (a campaign never launched: all zero)."""
    return campaign_reports([campaign], now=now)[campaign.id]


def campaign_reports(campaigns: list[Campaign], *, now: datetime) -> dict[int, Report]:
    """Campaign id → its Report, for a list page: a few grouped queries for all of them."""
    groups: dict[int, list[CampaignRun]] = {campaign.id: [] for campaign in campaigns}
    if groups:
        runs = sa.select(CampaignRun).where(CampaignRun.campaign_id.in_(list(groups)))
        for run in db.session.scalars(runs):
            groups[run.campaign_id].append(run)
    return _reports(groups, now)


def _reports(groups: dict[int, list[CampaignRun]], now: datetime) -> dict[int, Report]:
    """``groups``: key → runs; each key's figures summed over its runs, in four grouped queries."""
    group_of = {run.occasion: key for key, runs in groups.items() for run in runs}
    run_group = {run.id: key for key, runs in groups.items() for run in runs}
    figures = {key: {"targeted": sum(run.targeted for run in runs), "suppressed": {}, "queued": 0,
                     "submitted": 0, "delivered": 0, "failed": 0, "replies": 0, "coupons_issued": 0,
                     "coupons_redeemed": 0, "redeemed_spend": Decimal(0), "survey_invited": 0,
                     "survey_responses": 0, "survey_completions": 0} for key, runs in groups.items()}
    occasions = list(group_of)
    for start in range(0, len(occasions), 500):
        for occasion, status, reason, count in db.session.execute(
                sa.select(OutboundMessage.occasion, OutboundMessage.status, OutboundMessage.suppressed_reason,
                          sa.func.count())
                .where(OutboundMessage.occasion.in_(occasions[start:start + 500]))
                .group_by(OutboundMessage.occasion, OutboundMessage.status,
                          OutboundMessage.suppressed_reason)):
            entry = figures[group_of[occasion]]
            if status is MessageStatus.SUPPRESSED:
                entry["suppressed"][reason] = entry["suppressed"].get(reason, 0) + count
            else:
                entry[_REPORTED[status]] += count
    for start in range(0, len(occasions), 500):
        for occasion, invited in surveys.invitation_figures(occasions[start:start + 500]).items():
            entry = figures[group_of[occasion]]
            entry["survey_invited"] += invited.sessions
            entry["survey_responses"] += invited.responded
            entry["survey_completions"] += invited.completed
    run_ids = list(run_group)
    if run_ids:
        _count_replies(figures, run_group, run_ids)
        _count_coupons(figures, run_group, run_ids, now)
    return {key: Report(**{**entry, "redeemed_spend": f"{entry['redeemed_spend']:.2f}"})
            for key, entry in figures.items()}


def _count_replies(figures: dict, run_group: dict, run_ids: list[int]) -> None:
    """Recipients who texted the merchant between the run's start and its ``replies_until``."""
    replied = sa.exists().where(InboundMessage.merchant_id == CampaignRun.merchant_id,
                                InboundMessage.msisdn == OutboundMessage.msisdn,
                                InboundMessage.received_at >= CampaignRun.started_at,
                                InboundMessage.received_at < CampaignRun.replies_until)
    rows = db.session.execute(
        sa.select(CampaignRun.id, sa.func.count(sa.distinct(OutboundMessage.msisdn)))
        .join(OutboundMessage, OutboundMessage.occasion == _conditions.run_occasion(CampaignRun.id))
        .where(CampaignRun.id.in_(run_ids), OutboundMessage.status.in_(_conditions.REACHED), replied)
        .group_by(CampaignRun.id))
    for run_id, count in rows:
        figures[run_group[run_id]]["replies"] += count


def _count_coupons(figures: dict, run_group: dict, run_ids: list[int], now: datetime) -> None:
    """Coupons the runs handed out, those redeemed, and the spend of their holders: purchases (earn
    entries, voids netted) by the member from the coupon's issue to its expiry (or now)."""
    for run_id, issued, redeemed in db.session.execute(
            sa.select(CampaignCoupon.run_id, sa.func.count(), sa.func.count(CouponCode.redeemed_at))
            .join(CouponCode, CouponCode.id == CampaignCoupon.coupon_id)
            .where(CampaignCoupon.run_id.in_(run_ids)).group_by(CampaignCoupon.run_id)):
        figures[run_group[run_id]]["coupons_issued"] += issued
        figures[run_group[run_id]]["coupons_redeemed"] += redeemed
    spend = db.session.execute(
        sa.select(CampaignCoupon.run_id, sa.func.sum(PointsEntry.amount))
        .join(CouponCode, CouponCode.id == CampaignCoupon.coupon_id)
        .join(PointsEntry, sa.and_(PointsEntry.member_id == CampaignCoupon.member_id,
                                   PointsEntry.kind == EntryKind.EARN,
                                   PointsEntry.created_at >= CouponCode.issued_at,
                                   PointsEntry.created_at < sa.func.coalesce(CouponCode.expires_at, now)))
        .where(CampaignCoupon.run_id.in_(run_ids), CouponCode.redeemed_at.is_not(None))
        .group_by(CampaignCoupon.run_id))
    for run_id, amount in spend:
        figures[run_group[run_id]]["redeemed_spend"] += Decimal(amount or 0)
