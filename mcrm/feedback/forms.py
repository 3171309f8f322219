"""The feedback desk's forms: a ticket typed in, a reply, a note, a status, an assignee, the targets."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mcrm.core.forms import OncePerSubmitForm
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


class ReplyForm(OncePerSubmitForm):
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
    """The minutes of each kind for everyone (fields named by the kind) and for each tier (named
    ``<kind>_<n>``, n the tier's place in ``tiers``); see ``targets_form``."""
    tiers: list[str] = []

    def rows(self) -> list[tuple[str, list]]:
        """(tier, [(kind label, field)]) per row, everyone's ("") first: the template's table."""
        return [(tier, [(label, self[_field_name(kind, n)]) for kind, label in KIND_LABELS.items()])
                for n, tier in enumerate(["", *self.tiers])]

    def targets(self) -> dict[tuple[str, str], int | None]:
        """(kind, tier) → minutes, as ``services.set_response_targets`` takes them."""
        return {(kind, tier): self[_field_name(kind, n)].data
                for kind in KIND_LABELS for n, tier in enumerate(["", *self.tiers])}


def _field_name(kind: str, n: int) -> str:
    """Field 0 is everyone's, named by the kind alone; n ≥ 1 is ``tiers[n - 1]``."""
    return kind if n == 0 else f"{kind}_{n - 1}"


def targets_form(tiers: list[str], targets: dict[tuple[str, str], int | None]) -> TargetsForm:
    """The targets form for the merchant's ``tiers`` (a field per kind and per tier), filled in
    with the saved ``targets``. Built per request because each merchant names its own tiers."""
    fields: dict[str, object] = {"tiers": tiers}
    for kind, label in KIND_LABELS.items():
        for n, tier in enumerate(["", *tiers]):
            fields[_field_name(kind, n)] = IntegerField(
                label if n == 0 else tier, validators=[Optional(), NumberRange(1, MAX_TARGET_MINUTES)],
                default=targets.get((kind, tier)))
    return type("TargetsForm", (TargetsForm,), fields)()
