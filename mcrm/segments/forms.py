"""The segment builder's form: a name and the definition the builder's script keeps as JSON."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from mcrm.segments.services import MAX_NAME


class SegmentForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=MAX_NAME)],
                       render_kw={"placeholder": _l("for example: 金卡 May birthdays"), "autocomplete": "off"})
    definition = HiddenField(default='{"op": "and", "items": []}')
