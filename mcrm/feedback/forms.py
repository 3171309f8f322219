"""The feedback desk's forms: a ticket typed in, a reply, a note, a status, an assignee, the targets."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mcrm.feedback.services import MAX_TARGET_MINUTES, MAX_TEXT

KIND_LABELS = {"suggestion": _l("Suggestion"), "complaint": _l("Complaint"), "praise": _l("Praise")}
STATUS_LABELS = {"new": _l("New"), "in_progress": _l("In progress"), "resolved": _l("Resolved"),
                 "closed": _l("Closed")}
SATISFACTION_LABELS = {1: _l("Satisfied"), 2: _l("So-so"), 3: _l("Dissatisfied")}


def _kinds() -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in KIND_LABELS.items()]


class TicketForm(FlaskForm):
    msisdn = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=20)])
    kind = SelectField(_l("Kind"), choices=_kinds(), default="complaint")
    text = TextAreaField(_l("What they said"), validators=[DataRequired(), Length(max=MAX_TEXT)],
                         render_kw={"rows": 4})
    assignee_id = SelectField(_l("Assignee"), coerce=int, default=0)


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Reply by SMS"), validators=[DataRequired(), Length(max=MAX_TEXT)],
                         render_kw={"rows": 3})


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Internal note"), validators=[DataRequired(), Length(max=MAX_TEXT)],
                         render_kw={"rows": 2}, description=_l("Only staff see notes"))


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[SelectChoice(v, label) for v, label in STATUS_LABELS.items()])
    ask_satisfaction = BooleanField(_l("Ask the member how satisfied they are (SMS)"), default=True)


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Assignee"), coerce=int)


class TargetsForm(FlaskForm):
    suggestion = IntegerField(_l("Suggestion"), validators=[Optional(), NumberRange(1, MAX_TARGET_MINUTES)])
    complaint = IntegerField(_l("Complaint"), validators=[Optional(), NumberRange(1, MAX_TARGET_MINUTES)])
    praise = IntegerField(_l("Praise"), validators=[Optional(), NumberRange(1, MAX_TARGET_MINUTES)])
