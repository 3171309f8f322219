"""The owner's form for a new API token."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from mcrm.api.models import TokenScope

SCOPE_LABELS = {TokenScope.READ: _l("read"), TokenScope.WRITE: _l("write")}


class NewTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)],
                       description=_l("Where the token is used, for example the till at the front desk."))
    scope = SelectField(_l("Scope"), default=TokenScope.WRITE, choices=[
        SelectChoice(TokenScope.READ, _l("Read: look up members, balances, messages and campaigns")),
        SelectChoice(TokenScope.WRITE, _l("Write: also record purchases, redeem, void, send and create"))])
