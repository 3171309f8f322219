"""The owner's form for a new webhook endpoint."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from mcrm.webhooks.models import DeliveryStatus, WebhookEvent

EVENT_LABELS = {
    WebhookEvent.MEMBER_JOINED: _l("A member joined"),
    WebhookEvent.MEMBER_OPTED_OUT: _l("A member or number opted out"),
    WebhookEvent.FEEDBACK_RECEIVED: _l("Feedback received"),
    WebhookEvent.CAMPAIGN_FINISHED: _l("A campaign finished sending"),
    WebhookEvent.SURVEY_COMPLETED: _l("A survey was completed"),
}
STATUS_LABELS = {DeliveryStatus.PENDING: _l("Waiting"), DeliveryStatus.DELIVERED: _l("Delivered"),
                 DeliveryStatus.FAILED: _l("Failed")}


class NewEndpointForm(FlaskForm):
    url = StringField(_l("URL"), validators=[DataRequired(), Length(max=500)],
                      description=_l("Where the events are POSTed, for example https://crm.example.com/mcrm-events"))
    events = SelectMultipleField(_l("Events"), widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                 choices=[SelectChoice(event, label) for event, label in EVENT_LABELS.items()],
                                 validators=[DataRequired()])
