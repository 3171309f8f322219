"""Forms of the staff pages: the owner's staff management and each staff's own preferences."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from mcrm.auth.models import Role
from mcrm.auth.services import MIN_PASSWORD_LENGTH

#: role names as shown in the console (base.html translates current_user.role with these msgids)
ROLE_LABELS = {Role.OWNER: _l("owner"), Role.MANAGER: _l("manager"), Role.CLERK: _l("clerk")}

ROLE_CHOICES = [SelectChoice(Role.OWNER, _l("Owner: everything, including staff and settings")),
                SelectChoice(Role.MANAGER, _l("Manager: members, points and campaigns")),
                SelectChoice(Role.CLERK, _l("Clerk: look up members and record purchases"))]


class _Credentials:
    """Declared first: WTForms orders fields by declaration, so these come first on the new-staff form."""
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                           description=_l("Letters, digits, '.' or '_'."))
    password = PasswordField(_l("Password"),
                             validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)])


class StaffForm(FlaskForm):
    display_name = StringField(_l("Name shown in the console"), validators=[Optional(), Length(max=64)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.CLERK)
    msisdn = StringField(_l("Trusted mobile number"), validators=[Optional(), Length(max=30)],
                         description=_l("Staff SMS commands are accepted from this number only."))


class NewStaffForm(_Credentials, StaffForm):
    pass


class _CurrentPassword:
    """Declared before PasswordResetForm, so it comes first on the change form (see _Credentials)."""
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)],
                                     render_kw={"autocomplete": "current-password"})


class PasswordResetForm(FlaskForm):
    password = PasswordField(_l("New password"),
                             validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(),
                                        EqualTo("password", message=_l("The passwords differ."))])


class PasswordChangeForm(_CurrentPassword, PasswordResetForm):
    """A staff's change of their own password."""


class PreferencesForm(FlaskForm):
    locale = SelectField(_l("Console language"),
                         choices=[SelectChoice("", _l("Same as the browser")), SelectChoice("zh", "中文"),
                                  SelectChoice("en", "English")])
