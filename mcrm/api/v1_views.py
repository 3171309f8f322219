"""The endpoints of ``/api/v1``: each reads its input through a schema, calls the service that owns
the rule, and answers with a schema. Errors, the token guard, idempotency and cursors are in ``http``."""
import sqlalchemy as sa
from flask import request
from flask_smorest import Blueprint

from mcrm.api import http
from mcrm.api.schemas import (BalanceOut, CampaignIn, CampaignOut, CampaignPage, CampaignStatusOut, EntryOut, EntryPage,
                              LookupArgs, MemberFields, MemberIn, MemberOut, MemberPage, MessageIn, MessageOut,
                              PageArgs, PurchaseIn, PurchaseOut, RedemptionIn, VoidIn)
from mcrm.campaigns import services as campaigns
from mcrm.core.clock import now_utc
from mcrm.core.errors import DomainError, ValidationError
from mcrm.core.saving import saving
from mcrm.extensions import csrf, limiter
from mcrm.members import queries, services as members
from mcrm.members.models import Source
from mcrm.messaging import services as messaging
from mcrm.messaging.models import MessageKind
from mcrm.points import services as points

bp = Blueprint("api_v1", __name__, url_prefix=http.PREFIX, description="Members, points, SMS and campaigns")
bp.ARGUMENTS_PARSER = http.Parser()
bp.before_request(http.authenticate_request)
bp.register_error_handler(DomainError, http.domain_error_response)
bp.register_error_handler(sa.exc.IntegrityError, http.integrity_error_response)
csrf.exempt(bp)  # a Bearer token is no cookie a browser sends by itself; the guard ignores cookies
limiter.limit(http.rate_limit, key_func=http.rate_limit_key)(bp)

IDEMPOTENCY = {"in": "header", "name": http.IDEMPOTENCY_HEADER, "required": False,
               "schema": {"type": "string", "maxLength": 64},
               "description": "A key of the client's choosing: a retry with it gets the first answer and "
                              "changes nothing twice (header Idempotent-Replayed: true)"}


def _actor() -> points.Actor:
    return points.Actor(label=f"API {http.current_token().name}"[:64])


# ------------------------------------------------------------------------------------- members


@bp.route("/members", methods=["GET"])
@bp.arguments(PageArgs, location="query")
@bp.response(200, MemberPage)
def list_members(args):
    """Members, newest first, a page at a time."""
    page = queries.list_members(http.current_merchant(), queries.MemberFilter(), after=args.get("cursor"),
                                limit=args["limit"])
    return {"items": page.members, "next_cursor": page.next_cursor}


@bp.route("/members", methods=["POST"])
@bp.arguments(MemberIn)
@bp.response(201, MemberOut)
@bp.doc(parameters=[IDEMPOTENCY])
def create_member(data):
    """Enrol a member (source api). A number that is already a member is a 409."""
    merchant, now = http.current_merchant(), now_utc()
    consent = members.Consent("api", http.current_token().name) if data["marketing_consent"] else None
    fields = {k: v for k, v in data.items() if k not in ("msisdn", "marketing_consent")}

    def enrol():
        member = members.enrol_member(merchant, msisdn=data["msisdn"], now=now, source=Source.API,
                                      consent=consent, **fields)
        members.welcome_members(merchant, [member], members.Welcome.of(merchant), now=now, actor=_actor())
        return MemberOut().dump(member)
    with saving(reraise=True):
        return http.answered_once(201, enrol, payload=data)


@bp.route("/members/lookup", methods=["GET"])
@bp.arguments(LookupArgs, location="query")
@bp.response(200, MemberOut)
def lookup_member(args):
    """The member with this number (msisdn) or member number (member_no); 404 when none."""
    merchant = http.current_merchant()
    if "member_no" in args:
        return members.get_member(merchant, args["member_no"])
    return members.get_member_by_msisdn(merchant, args["msisdn"])


@bp.route("/members/<int:member_id>", methods=["GET"])
@bp.response(200, MemberOut)
def get_member(member_id):
    return members.get_member(http.current_merchant(), member_id)


@bp.route("/members/<int:member_id>", methods=["PATCH"])
@bp.arguments(MemberFields)
@bp.response(200, MemberOut)
def update_member(data, member_id):
    """Change the fields given (name, gender, birthday, tags); the others stay."""
    with saving(reraise=True):
        member = members.update_member(members.get_member(http.current_merchant(), member_id), **data)
    return member


@bp.route("/members/<int:member_id>/opt-out", methods=["POST"])
@bp.response(200, MemberOut)
def opt_out_member(member_id):
    """The member asked for no more marketing SMS (transactional ones still go). Repeating it is harmless."""
    with saving(reraise=True):
        member = members.get_member(http.current_merchant(), member_id)
        members.opt_out(member, now=now_utc())
    return member


# -------------------------------------------------------------------------------------- points


@bp.route("/members/<int:member_id>/balance", methods=["GET"])
@bp.response(200, BalanceOut)
def get_balance(member_id):
    member = members.get_member(http.current_merchant(), member_id)
    return {"member_id": member.id, "points_balance": member.points_balance, "tier": member.tier,
            "expiring_soon": points.expiring_points(member, now=now_utc())}


@bp.route("/members/<int:member_id>/history", methods=["GET"])
@bp.arguments(PageArgs, location="query")
@bp.response(200, EntryPage)
def get_history(args, member_id):
    """The member's points ledger, newest first, a page at a time."""
    member = members.get_member(http.current_merchant(), member_id)
    entries = points.list_entries(member, before_id=http.decode_cursor(args.get("cursor")), limit=args["limit"] + 1)
    more = len(entries) > args["limit"]
    entries = entries[:args["limit"]]
    return {"items": entries, "next_cursor": http.encode_cursor(entries[-1].id) if more else None}


@bp.route("/purchases", methods=["POST"])
@bp.arguments(PurchaseIn)
@bp.response(201, PurchaseOut)
@bp.doc(parameters=[IDEMPOTENCY])
def record_purchase(data):
    """A sale at the till: spend recorded, points awarded at the merchant's rate. Needs a key
    (client_key or Idempotency-Key): a retried request awards nothing twice."""
    merchant, key = http.current_merchant(), data.pop("client_key", None)
    if key is None and http.IDEMPOTENCY_HEADER not in request.headers:
        raise ValidationError("A purchase needs a client_key (or an Idempotency-Key header)")

    def record():
        member = members.get_member(merchant, data["member_id"])
        entry = points.record_purchase(member, merchant, data["amount"], actor=_actor(), now=now_utc(),
                                       confirmed=data["confirmed"])
        return PurchaseOut().dump({"member_id": member.id, "amount": data["amount"], "entry": entry,
                                   "points_awarded": entry.points if entry else 0,
                                   "points_balance": member.points_balance})
    with saving(reraise=True):
        return http.answered_once(201, record, payload=data, key=key)


@bp.route("/redemptions", methods=["POST"])
@bp.arguments(RedemptionIn)
@bp.response(201, EntryOut)
@bp.doc(parameters=[IDEMPOTENCY])
def redeem(data):
    """Take points for a reward; 409 insufficient_points when the balance is short."""
    merchant = http.current_merchant()

    def take():
        member = members.get_member(merchant, data["member_id"])
        return EntryOut().dump(points.redeem_points(member, data["points"], reason=data["reason"], actor=_actor(),
                                                    now=now_utc()))
    with saving(reraise=True):
        return http.answered_once(201, take, payload=data)


@bp.route("/voids", methods=["POST"])
@bp.arguments(VoidIn)
@bp.response(201, EntryOut)
@bp.doc(parameters=[IDEMPOTENCY])
def void(data):
    """Reverse a purchase or a redemption recorded by mistake; an entry is voided once (409 after)."""
    merchant = http.current_merchant()

    def reverse():
        entry = points.get_entry(members.get_member(merchant, data["member_id"]), data["entry_id"])
        return EntryOut().dump(points.void_entry(entry, merchant, reason=data["reason"], actor=_actor(),
                                                 now=now_utc()))
    with saving(reraise=True):
        return http.answered_once(201, reverse, payload=data)


# ------------------------------------------------------------------------------------ messages


@bp.route("/messages", methods=["POST"])
@bp.arguments(MessageIn)
@bp.response(201, MessageOut)
@bp.doc(parameters=[IDEMPOTENCY])
def send_message(data):
    """A transactional SMS (an order is ready, a booking confirmed): the signature is added, it goes
    at any hour, opted out or not. Marketing goes through campaigns only."""
    merchant = http.current_merchant()

    def send():
        return MessageOut().dump(messaging.enqueue_sms(merchant, msisdn=data["msisdn"], body=data["body"],
                                                       kind=MessageKind.TRANSACTIONAL, now=now_utc()))
    with saving(reraise=True):
        return http.answered_once(201, send, payload=data)


@bp.route("/messages/<int:message_id>", methods=["GET"])
@bp.response(200, MessageOut)
def get_message(message_id):
    """An SMS's status: queued, sending, submitted, delivered, failed, expired, suppressed or held."""
    return messaging.get_outbound(http.current_merchant(), message_id)


# ----------------------------------------------------------------------------------- campaigns


@bp.route("/campaigns", methods=["GET"])
@bp.arguments(PageArgs, location="query")
@bp.response(200, CampaignPage)
def list_campaigns(args):
    found = campaigns.list_campaigns(http.current_merchant(), before_id=http.decode_cursor(args.get("cursor")),
                                     limit=args["limit"] + 1)
    items = found[:args["limit"]]
    return {"items": items, "next_cursor": http.encode_cursor(items[-1].id) if len(found) > len(items) else None}


@bp.route("/campaigns", methods=["POST"])
@bp.arguments(CampaignIn)
@bp.response(201, CampaignStatusOut)
@bp.doc(parameters=[IDEMPOTENCY])
def create_campaign(data):
    """A marketing campaign to a segment, launched at once (launch: true) or kept as a draft. The
    campaign rules hold as in the console: opted-out members get nothing, the sending window and
    the frequency cap apply."""
    merchant, now = http.current_merchant(), now_utc()

    def create():
        campaign = campaigns.create_campaign(merchant, name=data["name"], body=data["body"],
                                             segment=data.get("segment"), segment_id=data.get("segment_id"),
                                             send_at=data.get("send_at"), actor_label=_actor().label, now=now)
        if data["launch"]:
            campaigns.launch_campaign(campaign, now=now)
        return CampaignStatusOut().dump(_with_figures(campaign))
    with saving(reraise=True):
        return http.answered_once(201, create, payload=data)


@bp.route("/campaigns/<int:campaign_id>", methods=["GET"])
@bp.response(200, CampaignStatusOut)
def get_campaign(campaign_id):
    """A campaign's status and its figures so far."""
    return _with_figures(campaigns.get_campaign(http.current_merchant(), campaign_id))


def _with_figures(campaign) -> dict:
    """The campaign's fields and its report's figures, for CampaignStatusOut."""
    report = campaigns.campaign_report(campaign, now=now_utc())
    figures = {"targeted": report.targeted, "queued": report.queued, "sent": report.sent,
               "delivered": report.delivered, "failed": report.failed, "suppressed": report.suppressed}
    return {**{name: getattr(campaign, name) for name in CampaignOut().fields}, "figures": figures}
