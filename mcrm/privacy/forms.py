"""The erasure confirmation."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired


class EraseForm(FlaskForm):
    #: the number's last four digits, typed again: an erasure cannot be undone
    confirm = StringField(_l("Last four digits of the member's number"), validators=[DataRequired()])
