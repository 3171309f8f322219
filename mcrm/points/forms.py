from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange
from wtforms.validators import ValidationError as FieldError

from mcrm.core.errors import ValidationError
from mcrm.core.forms import OncePerSubmitForm
from mcrm.points.rules import parse_amount


class PurchaseForm(OncePerSubmitForm):
    amount = StringField(_l("Amount (yuan)"), validators=[DataRequired(_l("Enter the amount"))],
                         render_kw={"inputmode": "decimal", "placeholder": "88.00"})
    #: the amount staff confirmed when asked (above the merchant's threshold); a changed amount asks again
    confirmed_amount = HiddenField()

    @property
    def is_confirmed(self) -> bool:
        try:
            return parse_amount(self.confirmed_amount.data) == parse_amount(self.amount.data)
        except ValidationError:
            return False

    def ask_to_confirm(self) -> None:
        """Show the form again with the amount to confirm (see is_confirmed)."""
        self.confirmed_amount.data = str(parse_amount(self.amount.data))

    def validate_amount(self, field):
        try:
            parse_amount(field.data)
        except ValidationError as error:
            raise FieldError(error.translated()) from None


class RedeemForm(OncePerSubmitForm):
    points = IntegerField(_l("Points to redeem"), validators=[InputRequired(_l("Enter the points")),
                                                              NumberRange(min=1, max=100_000_000)])
    reason = StringField(_l("For"), validators=[Length(max=200)],
                         render_kw={"placeholder": _l("e.g. free dessert")})


class AdjustForm(FlaskForm):
    points = IntegerField(_l("Change in points"), validators=[InputRequired(_l("Enter the points")),
                                                              NumberRange(min=-100_000_000, max=100_000_000)],
                          description=_l("Negative to take points away"))
    reason = StringField(_l("Reason"), validators=[DataRequired(_l("A reason is required")), Length(max=200)])


class VoidForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(_l("A reason is required")), Length(max=200)],
                         render_kw={"placeholder": _l("e.g. wrong amount typed")})
