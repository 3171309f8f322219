"""Segment conditions of campaigns: members a campaign reached, and members who answered one.

Registered in the segment language when this module is imported (campaigns.services does), as the
built-in conditions are; segments never import campaigns.
"""
import sqlalchemy as sa

from mcrm.campaigns.models import Campaign, CampaignRun, CampaignStatus
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.messaging.models import InboundMessage, MessageStatus, OutboundMessage
from mcrm.segments.conditions import condition
from mcrm.core.text import N_
from mcrm.segments.rules import Param
from mcrm.segments.sql import Context, register_source

#: the outbox occasion of a run, as ``CampaignRun.occasion`` writes it, in SQL
RUN_OCCASION_PREFIX = "campaign-run:"
#: statuses of a message that went to the phone (or is on its way there from the SMSC)
REACHED = (MessageStatus.SUBMITTED, MessageStatus.DELIVERED)

_CAMPAIGN = Param("campaign_id", "ref", N_("campaign"), required=False, source="campaigns")
_WHEN = Param("period", "period", N_("when"), required=False)


def run_occasion(run_id) -> sa.ColumnElement[str]:
    return sa.literal(RUN_OCCASION_PREFIX) + sa.cast(run_id, sa.String)


def _campaign_messages(p: dict, ctx: Context) -> list:
    """Where-clauses for the merchant's campaign messages that reached a phone, of one campaign or any."""
    where = [OutboundMessage.merchant_id == ctx.merchant_id, OutboundMessage.status.in_(REACHED)]
    if p.get("campaign_id"):
        where.append(OutboundMessage.occasion.in_(sa.select(run_occasion(CampaignRun.id)).where(
            CampaignRun.campaign_id == p["campaign_id"])))
    else:   # every occasion that starts with the prefix, as an index range (';' follows ':')
        where += [OutboundMessage.occasion >= RUN_OCCASION_PREFIX,
                  OutboundMessage.occasion < RUN_OCCASION_PREFIX[:-1] + ";"]
    return where


def _described(what_any: str, what_one: str, p: dict, t, names) -> str:
    name = names.get(("campaigns", p.get("campaign_id")))
    what = t(what_one, campaign=name) if name else t(what_any)
    period = p.get("period")
    if not period:
        return what
    if "days" in period:
        return t(N_("%(what)s in the last %(days)s days"), what=what, days=period["days"])
    return t(N_("%(what)s from %(from)s to %(to)s"), what=what, **{"from": period.get("from", "…"),
                                                                    "to": period.get("to", "…")})


@condition("campaign_received", N_("Campaign received"), N_("Activity"), _CAMPAIGN, _WHEN)
def _received(p, t, names):
    return _described(N_("received a campaign"), N_("received %(campaign)s"), p, t, names)


@_received.sql
def _received_where(p, ctx: Context):
    """Members sent a campaign message (period: when it was queued)."""
    return Member.id.in_(sa.select(OutboundMessage.member_id).where(
        *_campaign_messages(p, ctx), OutboundMessage.member_id.is_not(None),
        *ctx.in_period(OutboundMessage.created_at, p.get("period"))))


@condition("campaign_replied", N_("Replied to a campaign"), N_("Activity"), _CAMPAIGN, _WHEN)
def _replied(p, t, names):
    return _described(N_("replied to a campaign"), N_("replied to %(campaign)s"), p, t, names)


@_replied.sql
def _replied_where(p, ctx: Context):
    """Members who texted the merchant within a run's reply days after it reached them (period:
    when they texted); the report counts replies the same way."""
    run = sa.select(CampaignRun.id, CampaignRun.started_at, CampaignRun.replies_until).where(
        CampaignRun.merchant_id == ctx.merchant_id,
        *([CampaignRun.campaign_id == p["campaign_id"]] if p.get("campaign_id") else [])).subquery()
    replied = (sa.select(InboundMessage.msisdn)
               .join(run, sa.and_(InboundMessage.received_at >= run.c.started_at,
                                  InboundMessage.received_at < run.c.replies_until))
               .join(OutboundMessage, sa.and_(OutboundMessage.occasion == run_occasion(run.c.id),
                                              OutboundMessage.msisdn == InboundMessage.msisdn))
               .where(InboundMessage.merchant_id == ctx.merchant_id, *_campaign_messages({}, ctx),
                      *ctx.in_period(InboundMessage.received_at, p.get("period"))))
    return Member.msisdn.in_(replied)


def _campaign_options(merchant_id: int) -> list[tuple]:
    return [tuple(row) for row in db.session.execute(
        sa.select(Campaign.id, Campaign.name).where(Campaign.merchant_id == merchant_id,
                                                    Campaign.status != CampaignStatus.DRAFT)
        .order_by(Campaign.id.desc()))]


register_source("campaigns", _campaign_options)
