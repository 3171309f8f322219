"""Console forms of the keyword settings and the app wizard."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, DateTimeLocalField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from mcrm.keywords.models import AppKind, AppStatus

KIND_LABELS = {
    AppKind.AUTOREPLY: _l("Auto-reply: a fixed or templated answer"),
    AppKind.COUPON: _l("Coupon: a unique code per member"),
    AppKind.VOTE: _l("Vote / poll: one vote per number"),
    AppKind.INFO: _l("Info query: look a code up in your table"),
    AppKind.EVENT: _l("Event sign-up: capacity and waiting list"),
}

STATUS_LABELS = {AppStatus.ACTIVE: _l("on"), AppStatus.PAUSED: _l("paused"), AppStatus.ENDED: _l("ended")}


class AppStartForm(FlaskForm):
    kind = SelectField(_l("Type"), choices=[SelectChoice(kind, KIND_LABELS[kind]) for kind in tuple(AppKind)])
    name = StringField(_l("App name"), validators=[DataRequired(), Length(max=100)],
                       description=_l("Shown in the help reply and the console, e.g. 周末活动"))


class AppNameForm(FlaskForm):
    """Step one again, for an app that exists: its type stays, its name may change."""
    name = AppStartForm.name


class KeywordsForm(FlaskForm):
    keywords = StringField(_l("Keywords"), validators=[DataRequired(), Length(max=200)],
                           description=_l("The first is the keyword, the others aliases; separate with commas or spaces"))


class LimitsForm(FlaskForm):
    per_number_limit = IntegerField(_l("Uses per phone number"), validators=[Optional(), NumberRange(min=1)],
                                    description=_l("Empty: no limit"))
    starts_on = DateField(_l("Active from"), validators=[Optional()],
                          description=_l("Empty: as soon as it is on"))
    ends_on = DateField(_l("Active until (inclusive)"), validators=[Optional()],
                        description=_l("Empty: no end date"))
    extension = StringField(_l("Extension digits"), validators=[Optional(), Length(max=6)],
                            description=_l("Texts to your service number followed by these digits go straight to this app"))


class CouponForm(FlaskForm):
    source = SelectField(_l("Codes"), choices=[SelectChoice("generated", _l("Generated automatically")),
                                               SelectChoice("pool", _l("From a list I upload"))])
    stock = IntegerField(_l("Stock (generated codes)"), validators=[Optional(), NumberRange(min=1)],
                         description=_l("Empty: unlimited"))
    valid_days = IntegerField(_l("Days a code stays valid"), default=30, validators=[DataRequired(), NumberRange(1, 3650)])
    prefix = StringField(_l("Code prefix"), validators=[Optional(), Length(max=8)])
    pool = TextAreaField(_l("Add codes to the pool, one a line"), validators=[Optional()])


class VoteForm(FlaskForm):
    options = TextAreaField(_l("Options, one a line"), validators=[DataRequired()],
                            description=_l("'1 红烧肉' (number and label) or just the label"))


class EventForm(FlaskForm):
    capacity = IntegerField(_l("Seats"), validators=[DataRequired(), NumberRange(min=1)])
    event_at = DateTimeLocalField(_l("Event starts at"), validators=[DataRequired()])
    max_seats = IntegerField(_l("Most seats one text may take"), default=5, validators=[DataRequired(), NumberRange(1, 50)])
    remind_hours = IntegerField(_l("Reminder, hours before"), default=24, validators=[Optional(), NumberRange(0, 720)])


TABLE_LABEL = _l("Table (CSV, first row = column names, first column = the code texted)")


class InfoUploadForm(FlaskForm):
    table = FileField(TABLE_LABEL, validators=[FileRequired()], description=_l(
        "In Excel: Save as, CSV (UTF-8 or GBK both work). E.g. 单号,状态 then A001,制作中"))


class InfoReplaceForm(FlaskForm):
    """An app that has its table already: a new file replaces it, none keeps it (limits alone can change)."""
    table = FileField(TABLE_LABEL, validators=[Optional()],
                      description=_l("Empty: keep the current table"))


class TryForm(FlaskForm):
    text = StringField(_l("Text"), validators=[DataRequired(), Length(max=700)])
    msisdn = StringField(_l("From number"), default="13800138000", validators=[DataRequired(), Length(max=20)])
    extension = StringField(_l("Sent to the service number plus"),
                            validators=[Optional(), Regexp(r"^\d{1,6}$")],
                            description=_l("Empty: the service number alone"))


class CouponLookupForm(FlaskForm):
    code = StringField(_l("Coupon code"), validators=[DataRequired(), Length(max=32)])


class RedeemCouponForm(CouponLookupForm):
    """The same field, posted with a CSRF token to mark the code redeemed."""
