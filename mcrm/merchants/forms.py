"""The owner's merchant settings form: shop identity, sending rules, points and tiers."""
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DecimalField, FieldList, Form, FormField, IntegerField, SelectChoice,
                     SelectField, StringField, TimeField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from mcrm.merchants.models import MAX_FREQUENCY_CAP, ExpiryPolicy, TierBasis

#: blank rows offered after the saved tiers and tenure bonuses, to add more
SPARE_ROWS = 2


class TierRow(Form):
    name = StringField(_l("Tier name"), validators=[Optional(), Length(max=20)])
    score = IntegerField(_l("From score"), validators=[Optional(), NumberRange(min=0, max=10_000_000)])


class TenureRow(Form):
    years = IntegerField(_l("After years"), validators=[Optional(), NumberRange(min=1, max=100)])
    bonus = IntegerField(_l("Score bonus"), validators=[Optional(), NumberRange(min=0, max=1_000_000)])


def _timezone_choices():
    return sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith("Etc/"))


class MerchantSettingsForm(FlaskForm):
    name = StringField(_l("Merchant name"), validators=[DataRequired(), Length(max=100)])
    signature = StringField(_l("SMS signature"), validators=[DataRequired(), Length(max=22)],
                            description=_l("Starts every SMS, like 【小王烧烤】: 2 to 20 characters."))
    timezone = SelectField(_l("Time zone"), choices=_timezone_choices)
    send_window_start = TimeField(_l("Marketing SMS from"), validators=[InputRequired()])
    send_window_end = TimeField(_l("Marketing SMS until"), validators=[InputRequired()])
    frequency_cap_per_day = IntegerField(
        _l("Marketing SMS per member per day, at most"),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_FREQUENCY_CAP)])
    message_retention_days = IntegerField(
        _l("Keep SMS texts for (days)"), validators=[InputRequired(), NumberRange(min=0, max=3650)],
        description=_l("Older message texts are blanked every night; 0 keeps them."))
    unsubscribe_hint = StringField(_l("Unsubscribe hint"), validators=[DataRequired(), Length(max=30)],
                                   description=_l("Appended to marketing SMS, like 回T退订."))
    points_per_yuan = DecimalField(_l("Points per yuan spent"), places=2,
                                   validators=[InputRequired(), NumberRange(min=0, max=1000)])
    join_gift_points = IntegerField(_l("Points given on joining"),
                                    validators=[InputRequired(), NumberRange(min=0, max=1_000_000)])
    points_expiry_policy = SelectField(_l("Points expire"), choices=[
        SelectChoice(ExpiryPolicy.MONTHS, _l("A number of months after they are earned")),
        SelectChoice(ExpiryPolicy.CYCLE_END, _l("At the end of the cycle after the one they were earned in")),
        SelectChoice(ExpiryPolicy.NEVER, _l("Never"))])
    points_expiry_months = IntegerField(_l("Months points stay valid"),
                                        validators=[InputRequired(), NumberRange(min=1, max=120)])
    points_cycle_end_month = SelectField(_l("The cycle ends with month"), coerce=int,
                                         choices=[SelectChoice(month, str(month)) for month in range(1, 13)])
    tier_basis = SelectField(_l("Tier score counts the spend of"), choices=[
        SelectChoice(TierBasis.LAST_YEAR, _l("The previous calendar year (January to December)")),
        SelectChoice(TierBasis.ROLLING_12_MONTHS, _l("The last 12 months, today included"))])
    added_members_get_gift = BooleanField(_l("They get the join gift"))
    added_members_get_sms = BooleanField(_l("They get the welcome SMS"))
    tiers = FieldList(FormField(TierRow), label=_l("Tiers"))
    # at the counter
    points_change_sms = BooleanField(
        _l("Text the member when staff record a purchase or redemption, or void one"),
        description=_l("The same SMS as XF and DH by text; it goes at any hour."))
    max_purchase_amount = DecimalField(_l("Largest purchase recorded (yuan)"), places=2,
                                       validators=[Optional(), NumberRange(min=1, max=10_000_000)],
                                       description=_l("A larger amount is refused. Empty: no limit."))
    confirm_purchase_above = DecimalField(
        _l("Ask to confirm purchases above (yuan)"), places=2,
        validators=[Optional(), NumberRange(min=1, max=10_000_000)],
        description=_l("The console asks staff to confirm a larger amount; XF by text refuses it and points to "
                       "the console. Empty: never asks."))
    tenure = FieldList(FormField(TenureRow), label=_l("Tenure bonus"))

    @classmethod
    def for_merchant(cls, merchant):
        """The form filled from the merchant (or the posted data), with spare rows for more tiers and bonuses."""
        tiers = [{"name": name, "score": score} for name, score in merchant.tier_thresholds]
        tenure = [{"years": years, "bonus": bonus} for years, bonus in merchant.tenure_bonus]
        spare = [{}] * SPARE_ROWS
        return cls(obj=merchant, data={"tiers": tiers + spare, "tenure": tenure + spare})

    def validate_tiers(self, field):
        rows = [row for row in field.entries if row.form.name.data or row.form.score.data is not None]
        for row in rows:
            if not (row.form.name.data or "").strip() or row.form.score.data is None:
                raise ValidationError(_l("Each tier needs a name and the score it starts from."))
        scores = [row.form.score.data for row in rows]
        if 0 not in scores:
            raise ValidationError(_l("One tier must start from score 0."))
        if len(set(scores)) != len(scores):
            raise ValidationError(_l("Two tiers cannot start from the same score."))

    def validate_tenure(self, field):
        for row in field.entries:
            if (row.form.years.data is None) != (row.form.bonus.data is None):
                raise ValidationError(_l("Each tenure bonus needs both the years and the bonus."))

    def validate_confirm_purchase_above(self, field):
        maximum = self.max_purchase_amount.data
        if field.data is not None and maximum is not None and field.data >= maximum:
            raise ValidationError(_l("Purchases to confirm must start below the largest purchase."))

    def validate_send_window_end(self, field):
        if self.send_window_start.data and field.data and field.data <= self.send_window_start.data:
            raise ValidationError(_l("The sending window must end after it starts."))

    def rules(self) -> dict:
        """The submitted values as merchants.services.update_rules keywords."""
        return {
            "name": self.name.data.strip(),
            "signature": self.signature.data,
            "timezone": self.timezone.data,
            "send_window_start": self.send_window_start.data,
            "send_window_end": self.send_window_end.data,
            "frequency_cap_per_day": self.frequency_cap_per_day.data,
            "unsubscribe_hint": self.unsubscribe_hint.data.strip(),
            "message_retention_days": self.message_retention_days.data,
            "points_per_yuan": self.points_per_yuan.data,
            "join_gift_points": self.join_gift_points.data,
            "points_expiry_policy": self.points_expiry_policy.data,
            "points_expiry_months": self.points_expiry_months.data,
            "points_cycle_end_month": self.points_cycle_end_month.data,
            "tier_basis": self.tier_basis.data,
            "added_members_get_gift": self.added_members_get_gift.data,
            "added_members_get_sms": self.added_members_get_sms.data,
            "tier_thresholds": [[row.form.name.data.strip(), row.form.score.data]
                                for row in self.tiers.entries
                                if row.form.score.data is not None],
            "tenure_bonus": sorted([row.form.years.data, row.form.bonus.data] for row in self.tenure.entries
                                   if row.form.years.data is not None),
            "points_change_sms": self.points_change_sms.data,
            "max_purchase_amount": self.max_purchase_amount.data,
            "confirm_purchase_above": self.confirm_purchase_above.data,
        }
