"""The greeting form: switched on, text, hour, days before, gift, the day's date."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Optional

from mcrm.care.services import MAX_DAYS_BEFORE, MAX_GIFT_POINTS


class GreetingForm(FlaskForm):
    enabled = BooleanField(_l("Switched on"))
    name = StringField(_l("Name of the day"), validators=[Optional()])
    body = TextAreaField(_l("Text"), description=_l("Member fields: {name} {points} {tier} {member_no} {shop}; "
                                                   "{coupon} {coupon_expires} with a coupon app"))
    hour = IntegerField(_l("Hour (local time)"), default=10, validators=[NumberRange(0, 23)])
    days_before = IntegerField(_l("Days before (0: on the day)"), default=0,
                               validators=[NumberRange(0, MAX_DAYS_BEFORE)])
    gift_points = IntegerField(_l("Gift points"), default=0, validators=[NumberRange(0, MAX_GIFT_POINTS)])
    tier_gifts = StringField(_l("Gift points by tier"), validators=[Optional()],
                             description=_l("For example: 金卡=200 白金卡=300 (other tiers get the gift points)"))
    coupon_app_id = SelectField(_l("Coupon"), coerce=int, default=0)
    on_date = DateField(_l("Date"), validators=[Optional()])
    yearly = BooleanField(_l("Every year"), default=True)
    tier = SelectField(_l("Tier"), default="")
    days = IntegerField(_l("Days"), validators=[Optional()],
                        description=_l("Win-back: days without a visit; churn: the length of a period; "
                                       "points expiring: the days ahead"))
    drop_percent = IntegerField(_l("Spend fell by at least (%)"), validators=[Optional(), NumberRange(1, 100)])
