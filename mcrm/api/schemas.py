"""What the API reads and writes, as marshmallow schemas: flask-smorest validates requests with
them (400 with field errors) and builds the OpenAPI document from them."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from mcrm.core import errors
from mcrm.core.msisdn import normalize_mobile, normalize_msisdn
from mcrm.core.text import strip_controls
from mcrm.core.urls import MAX_ID
from mcrm.members.models import Gender

ID = validate.Range(min=1, max=MAX_ID)
#: Numeric(12, 2): the most a purchase amount can be stored as
MAX_AMOUNT = 9_999_999_999


class Text(fields.String):
    """A string without control characters (PostgreSQL refuses NUL; none belongs in a name or text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return strip_controls(super()._deserialize(value, attr, data, **kwargs))


class Msisdn(Text):
    """A phone number, checked and made E.164 by mcrm's own rules (``core.msisdn``); ``mobile``:
    it must receive SMS (a member's number)."""

    def __init__(self, *, mobile: bool = False, **kwargs):
        super().__init__(validate=validate.Length(max=40), **kwargs)
        self.normalize = normalize_mobile if mobile else normalize_msisdn

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.normalize(text)
        except errors.ValidationError as error:
            raise ValidationError(error.translated()) from None


class Amount(fields.Decimal):
    """Yuan: a number or its text, more than 0 and within what Numeric(12, 2) stores. The range is
    checked here and written into the document as numbers (a Range validator on a Decimal puts
    them there as strings, which is no valid OpenAPI)."""

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"exclusiveMinimum": True, "minimum": 0, "maximum": MAX_AMOUNT,
                              **kwargs.get("metadata", {})}
        super().__init__(places=None, allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        amount = super()._deserialize(value, attr, data, **kwargs)
        if not 0 < amount <= MAX_AMOUNT:
            raise ValidationError(f"An amount is more than 0 and at most {MAX_AMOUNT}")
        return amount


class _In(Schema):
    class Meta:
        unknown = EXCLUDE  # a till sending a field this version does not know still works


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "For 400: what is wrong with which field"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class PageArgs(_In):
    cursor = Text(validate=validate.Length(max=500),
                  metadata={"description": "next_cursor of the page before; leave out for the first page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class Page(Schema):
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "Pass as cursor for the next page; null on the last"})


# ------------------------------------------------------------------------------------ members


class MemberOut(Schema):
    id = fields.Integer(required=True, metadata={"example": 42})
    member_no = fields.String(required=True, metadata={"example": "00000042"})
    msisdn = fields.String(required=True, metadata={"example": "+8613800138000"})
    name = fields.String(required=True, metadata={"example": "王小明"})
    gender = fields.String(required=True, metadata={"example": "u"})
    birthday = fields.Method("_birthday", allow_none=True, metadata={"example": "1990-03-15"})
    tags = fields.List(fields.String(), attribute="tag_names", required=True)
    points_balance = fields.Integer(required=True, metadata={"example": 120})
    tier = fields.String(required=True)
    opted_out = fields.Boolean(required=True)
    joined_at = fields.DateTime(required=True)

    def _birthday(self, member):
        return member.birthday.isoformat() if member.birthday else None


class MemberPage(Page):
    items = fields.List(fields.Nested(MemberOut), required=True)


class MemberFields(_In):
    name = Text(validate=validate.Length(max=64), metadata={"example": "王小明"})
    gender = fields.String(validate=validate.OneOf(list(Gender)), metadata={"example": "f"})
    birthday = Text(validate=validate.Length(max=20), allow_none=True,
                    metadata={"description": "1990-03-15, 0315 (no year) or 农历0815", "example": "1990-03-15"})
    tags = fields.List(Text(validate=validate.Length(max=32)), validate=validate.Length(max=20))


class MemberIn(MemberFields):
    msisdn = Msisdn(mobile=True, required=True, metadata={"example": "13800138000"})
    marketing_consent = fields.Boolean(load_default=False, metadata={
        "description": "The member agreed to marketing SMS at the till (recorded as consent by api)"})


class LookupArgs(_In):
    msisdn = Msisdn(mobile=True, metadata={"example": "13800138000"})
    member_no = fields.Integer(validate=ID, metadata={"example": 42, "description": "00000042 or 42"})

    @validates_schema
    def _one(self, data, **kwargs):
        if ("msisdn" in data) == ("member_no" in data):
            raise ValidationError("Give either msisdn or member_no", "_schema")


# ------------------------------------------------------------------------------------- points


class BalanceOut(Schema):
    member_id = fields.Integer(required=True)
    points_balance = fields.Integer(required=True, metadata={"example": 120})
    expiring_soon = fields.Integer(required=True, metadata={"description": "Points that lapse within 30 days"})
    tier = fields.String(required=True)


class EntryOut(Schema):
    id = fields.Integer(required=True)
    member_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"example": "earn"})
    points = fields.Integer(required=True, metadata={"example": 88})
    balance_after = fields.Integer(required=True)
    amount = fields.String(allow_none=True, metadata={"example": "88.00", "description": "Yuan, for purchases"})
    reason = fields.String(required=True)
    voids_entry_id = fields.Integer(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class EntryPage(Page):
    items = fields.List(fields.Nested(EntryOut), required=True)


class PurchaseIn(_In):
    member_id = fields.Integer(required=True, validate=ID, metadata={"example": 42})
    amount = Amount(required=True, metadata={"example": 88.0, "description": "Yuan, at most 2 decimals"})
    client_key = Text(validate=validate.Length(min=1, max=64), metadata={
        "example": "till-3-20261206-0042",
        "description": "The till's key for this sale (or the Idempotency-Key header): a retry with it awards nothing twice"})
    confirmed = fields.Boolean(load_default=False, metadata={
        "description": "true once staff confirmed an amount above the merchant's confirmation threshold"})


class PurchaseOut(Schema):
    member_id = fields.Integer(required=True)
    amount = fields.String(required=True, metadata={"example": "88.00"})
    points_awarded = fields.Integer(required=True, metadata={"example": 88})
    points_balance = fields.Integer(required=True)
    entry = fields.Nested(EntryOut, allow_none=True, required=True,
                          metadata={"description": "The ledger line; null when the amount earns no whole point"})


class RedemptionIn(_In):
    member_id = fields.Integer(required=True, validate=ID)
    points = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000_000), metadata={"example": 50})
    reason = Text(load_default="", validate=validate.Length(max=200), metadata={"example": "兑换饮料"})


class VoidIn(_In):
    member_id = fields.Integer(required=True, validate=ID)
    entry_id = fields.Integer(required=True, validate=ID, metadata={"description": "A purchase or redemption"})
    reason = Text(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "录错金额"})


# ------------------------------------------------------------------------------------ messages


class MessageIn(_In):
    msisdn = Msisdn(required=True, metadata={"example": "13800138000"})
    body = Text(required=True, validate=validate.Length(min=1, max=1000),
                metadata={"example": "您的订单已备好，请到店取餐。"})


class MessageOut(Schema):
    id = fields.Integer(required=True)
    msisdn = fields.String(required=True)
    kind = fields.String(required=True, metadata={"example": "transactional"})
    status = fields.String(required=True, metadata={"example": "queued"})
    suppressed_reason = fields.String(allow_none=True)
    parts = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


# ----------------------------------------------------------------------------------- campaigns


class CampaignIn(_In):
    name = Text(required=True, validate=validate.Length(min=1, max=60), metadata={"example": "周末特惠"})
    body = Text(required=True, validate=validate.Length(min=1, max=1000),
                metadata={"example": "{name}您好，周末全场8折！"})
    segment = fields.Dict(metadata={"description": "A segment definition (docs/campaigns.md); "
                                                   "leave out with segment_id for every member",
                                    "example": {"tier": "金卡"}})
    segment_id = fields.Integer(validate=ID, metadata={"description": "A saved segment instead"})
    send_at = fields.AwareDateTime(metadata={"description": "When to send; leave out to send at once"})
    launch = fields.Boolean(load_default=False, metadata={"description": "false keeps a draft for the console"})


class CampaignFigures(Schema):
    targeted = fields.Integer(required=True)
    queued = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    suppressed = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                             metadata={"example": {"opted out": 3}})


class CampaignOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, metadata={"example": "scheduled"})
    send_at = fields.DateTime(allow_none=True)
    scheduled_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class CampaignStatusOut(CampaignOut):
    figures = fields.Nested(CampaignFigures, required=True)


class CampaignPage(Page):
    items = fields.List(fields.Nested(CampaignOut), required=True)
