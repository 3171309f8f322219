"""Console forms of the message log and the phone simulator."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from mcrm.core.errors import ValidationError as DomainValidationError
from mcrm.core.msisdn import normalize_msisdn
from mcrm.core.urls import id_or_none
from mcrm.messaging.models import MessageKind, MessageStatus


STATUS_LABELS = {
    MessageStatus.QUEUED: _l("queued"), MessageStatus.SENDING: _l("sending"),
    MessageStatus.SUBMITTED: _l("submitted"), MessageStatus.DELIVERED: _l("delivered"),
    MessageStatus.FAILED: _l("failed"), MessageStatus.EXPIRED: _l("expired"),
    MessageStatus.SUPPRESSED: _l("suppressed"),
}
SUPPRESS_LABELS = {"opted out": _l("opted out"), "frequency cap": _l("frequency cap"),
                   "duplicate occasion": _l("duplicate occasion")}
KIND_LABELS = {MessageKind.MARKETING: _l("marketing"), MessageKind.TRANSACTIONAL: _l("transactional")}


def _status_choices():
    return [("", _l("Any status"))] + [(s.value, label) for s, label in STATUS_LABELS.items()]


def _kind_choices():
    return [("", _l("Any kind"))] + [(k.value, label) for k, label in KIND_LABELS.items()]


class MsisdnField(StringField):
    """A phone number as people type it; ``data`` is its E.164 form (None when empty)."""

    def __init__(self, *args, region="CN", **kwargs):
        super().__init__(*args, **kwargs)
        self.region = region

    def pre_validate(self, form):
        raw = (self.data or "").strip()
        if not raw:
            self.data = None
            return
        try:
            self.data = normalize_msisdn(raw, self.region)
        except DomainValidationError as error:
            raise ValidationError(error.translated()) from None


class MessageFilterForm(FlaskForm):
    """GET filters of the message log (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), choices=_status_choices, validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=_kind_choices, validators=[Optional()])
    msisdn = MsisdnField(_l("Phone number"))
    day = DateField(_l("Date"), validators=[Optional()])
    before = IntegerField(validators=[Optional()], filters=[id_or_none])


class SimulatorForm(FlaskForm):
    msisdn = MsisdnField(_l("Phone number"), validators=[DataRequired()],
                         description=_l("Pick a member or type any number."))
    extension = StringField(_l("Extension"), validators=[Optional(), Regexp(r"^\d{0,6}$"), Length(max=6)],
                            description=_l("Digits after the service number, to reach one app."))
    text = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=1000)])
