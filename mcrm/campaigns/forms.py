"""The campaign composer's form, and the words for the codes a campaign and its report store."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (DateTimeLocalField, HiddenField, RadioField, SelectChoice, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from mcrm.campaigns.models import CampaignStatus, Recurrence
from mcrm.core.urls import optional_id

STATUS_LABELS = {
    CampaignStatus.DRAFT: _l("draft"), CampaignStatus.SCHEDULED: _l("scheduled"),
    CampaignStatus.SENDING: _l("sending"), CampaignStatus.PAUSED: _l("paused"),
    CampaignStatus.DONE: _l("done"), CampaignStatus.CANCELLED: _l("cancelled"),
}
#: the badge colour of each status in the list and on the campaign page
STATUS_BADGES = {CampaignStatus.SENDING: "warn", CampaignStatus.PAUSED: "warn", CampaignStatus.DONE: "good",
                 CampaignStatus.CANCELLED: "bad"}
#: why a recipient got no message, as the report counts them (an unknown reason shows as stored)
SUPPRESS_LABELS = {"opted out": _l("opted out"), "frequency cap": _l("frequency cap"),
                   "invalid number": _l("invalid number"),
                   "duplicate occasion": _l("already sent this occasion"),
                   "too long": _l("text too long"), "cancelled": _l("cancelled"),
                   "no coupon left": _l("no coupon left")}
#: what the composer's buttons insert, in the order the service lists its fields
FIELD_LABELS = {"name": _l("Name"), "points": _l("Points"), "tier": _l("Tier"),
                "expiring_points": _l("Expiring points"), "member_no": _l("Member number"),
                "shop": _l("Shop"),
                "coupon": _l("Coupon code"), "coupon_expires": _l("Coupon expiry")}

AUDIENCE_ALL, AUDIENCE_SEGMENT, AUDIENCE_BUILD = "all", "segment", "build"
SCHEDULE_NOW, SCHEDULE_AT, SCHEDULE_REPEAT = "now", "at", "repeat"
REPEAT_LABELS = {Recurrence.DAILY: _l("every day"), Recurrence.WEEKLY: _l("every week"),
                 Recurrence.MONTHLY: _l("every month")}


class CampaignForm(FlaskForm):
    name = StringField(_l("Campaign name"), validators=[DataRequired(), Length(max=60)],
                       render_kw={"placeholder": _l("for example: 五月会员日"), "autocomplete": "off"})
    audience = RadioField(_l("Send to"), default=AUDIENCE_ALL,
                          choices=[SelectChoice(AUDIENCE_ALL, _l("All members")),
                                   SelectChoice(AUDIENCE_SEGMENT, _l("A saved segment")),
                                   SelectChoice(AUDIENCE_BUILD,
                                                _l("Members matching conditions I set here"))])
    segment_id = SelectField(_l("Segment"), coerce=optional_id, validate_choice=False)
    definition = HiddenField(default='{"op": "and", "items": []}')
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=1000)],
                         render_kw={"rows": 5},
                         description=_l("The signature goes before it and the unsubscribe hint after it."))
    coupon_app_id = SelectField(_l("Coupon app"), coerce=optional_id, validate_choice=False,
                                description=_l("Every recipient gets a code of their own in {coupon}."))
    survey_id = SelectField(_l("Invite to a survey"), coerce=optional_id, validate_choice=False,
                            description=_l("The survey's opening and first question follow the text; "
                                           "each recipient's reply is their first answer."))
    schedule = RadioField(_l("When"), default=SCHEDULE_NOW,
                          choices=[SelectChoice(SCHEDULE_NOW, _l("Now")),
                                   SelectChoice(SCHEDULE_AT, _l("At a date and time")),
                                   SelectChoice(SCHEDULE_REPEAT, _l("Again and again"))])
    #: the browser's own form of the value first: an edited draft shows its time in the picker
    send_at = DateTimeLocalField(_l("Date and time"), validators=[Optional()],
                                 format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
    recurrence = SelectField(_l("Repeat"), default=Recurrence.DAILY.value,
                             choices=[SelectChoice(r.value, label) for r, label in REPEAT_LABELS.items()])

    def __init__(self, *args, segments=(), coupon_apps=(), surveys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.segment_id.choices = [SelectChoice("", _l("Choose a segment"))] + [SelectChoice(s.id, s.name)
                                                                                 for s in segments]
        self.coupon_app_id.choices = [SelectChoice("", _l("No coupon"))] + [SelectChoice(a.id, a.name)
                                                                           for a in coupon_apps]
        self.survey_id.choices = [SelectChoice("", _l("No survey"))] + [
            SelectChoice(s.id, f"{s.code} · {s.title}") for s in surveys]

    def validate_segment_id(self, field):
        if self.audience.data == AUDIENCE_SEGMENT and field.data is None:
            raise ValidationError(_l("Choose a segment"))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Optional() ends send_at's own checks when it is empty, so whether it is needed is asked here
        if self.schedule.data != SCHEDULE_NOW and self.send_at.data is None and not self.send_at.errors:
            self.send_at.errors = [_l("Choose the date and time")]
            valid = False
        return valid

    def send_at_utc(self, zone: ZoneInfo) -> datetime | None:
        """The moment asked for, read as the merchant's local time (None: now)."""
        if self.schedule.data == SCHEDULE_NOW or self.send_at.data is None:
            return None
        return self.send_at.data.replace(tzinfo=zone)

    def chosen_recurrence(self) -> str:
        return self.recurrence.data if self.schedule.data == SCHEDULE_REPEAT else Recurrence.ONCE.value
