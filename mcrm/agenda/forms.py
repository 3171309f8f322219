"""The agenda item form: what, when (local time), where, how often, who, and the reminder times."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectChoice, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from mcrm.agenda.parse import MAX_TITLE
from mcrm.agenda.services import DEFAULT_ESCALATE_MINUTES, DEFAULT_REMIND_MINUTES, MAX_MINUTES, MAX_PLACE

REPEAT_LABELS = {"none": _l("Does not repeat"), "daily": _l("Every day"), "weekly": _l("Every week"),
                 "monthly": _l("Every month")}

WEEKDAY_LABELS = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))


class ItemForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=MAX_TITLE)],
                        render_kw={"placeholder": _l("for example: 王总来店"), "autocomplete": "off"})
    starts_at = DateTimeLocalField(_l("Date and time"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                                   validators=[DataRequired()])
    place = StringField(_l("Place"), validators=[Optional(), Length(max=MAX_PLACE)])
    repeat = SelectField(_l("Repeat"), choices=[SelectChoice(v, label) for v, label in REPEAT_LABELS.items()], default="none")
    staff_ids = SelectMultipleField(_l("Staff to remind"), coerce=int, widget=ListWidget(prefix_label=False),
                                    option_widget=CheckboxInput(),
                                    description=_l("None chosen: you are reminded"))
    member_msisdns = TextAreaField(_l("Members (for an appointment): mobile numbers, one a line"),
                                   validators=[Optional()], render_kw={"rows": 2})
    remind_minutes = IntegerField(_l("Remind, minutes before"), default=DEFAULT_REMIND_MINUTES,
                                  validators=[Optional(), NumberRange(0, MAX_MINUTES)],
                                  description=_l("Empty: no reminder"))
    escalate_minutes = IntegerField(_l("Tell the owner when unconfirmed after, minutes"),
                                    default=DEFAULT_ESCALATE_MINUTES,
                                    validators=[Optional(), NumberRange(0, MAX_MINUTES)],
                                    description=_l("Staff confirm a reminder by replying 1. Empty: never"))

    def msisdns(self) -> list[str]:
        text = (self.member_msisdns.data or "").replace(",", "\n").replace("，", "\n")
        return [line.strip() for line in text.splitlines() if line.strip()]
