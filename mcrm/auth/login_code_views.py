"""Sign in with a one-time code texted to the staff's registered phone ("send me a code")."""
from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Regexp

from mcrm.auth.login_codes import MAX_CODES_PER_WINDOW, RATE_WINDOW, find_staff_for_code, verify_login_code
from mcrm.auth.services import LoginError
from mcrm.auth.views import _safe_next, sign_in
from mcrm.core.clock import now_utc
from mcrm.core.saving import saving
from mcrm.extensions import limiter
from mcrm.keywords.apps.staff import send_login_code

bp = Blueprint("login_codes", __name__, url_prefix="/login/code")

#: session key holding what the user typed on the first step (never whether it matched)
PENDING = "login_code_for"


class CodeRequestForm(FlaskForm):
    identifier = StringField(_l("Username or phone number"), validators=[DataRequired(), Length(max=64)])


class CodeVerifyForm(FlaskForm):
    code = StringField(_l("Code from the SMS"), validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$",
                                                                                 message=_l("The code has 6 digits"))],
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"})


@bp.route("/", methods=["GET", "POST"])
@limiter.limit("5 per 15 minutes", methods=["POST"])
def request_code():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = CodeRequestForm()
    if form.validate_on_submit():
        staff = find_staff_for_code(form.identifier.data)
        if staff is not None:
            # quiet: a refusal (too many codes) would tell the account exists; the answer below is the same
            with saving(quiet=True):
                send_login_code(staff, now=now_utc())
        session[PENDING] = form.identifier.data.strip()
        # the same answer whether or not the account exists: no account probing
        flash(_("If this account has a registered phone, a code is on its way. It is valid for 5 minutes. "
                "One phone gets at most %(count)s codes in %(minutes)s minutes.", count=MAX_CODES_PER_WINDOW,
                minutes=RATE_WINDOW.seconds // 60))
        return redirect(url_for("login_codes.verify_code"))
    return render_template("auth/code_request.html", form=form)


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit("20 per 15 minutes", methods=["POST"])
def verify_code():
    if PENDING not in session:
        return redirect(url_for("login_codes.request_code"))
    form = CodeVerifyForm()
    if form.validate_on_submit():
        staff = find_staff_for_code(session[PENDING])
        with saving(keep_refused=True) as outcome:  # a wrong code is kept: it counts to the limit
            if staff is None:
                raise LoginError("The code is wrong or has expired: ask for a new one")
            verify_login_code(staff, form.code.data, now=now_utc())
        if outcome.ok:
            session.clear()
            sign_in(staff, remember=False)
            return redirect(_safe_next(None))
    return render_template("auth/code_verify.html", form=form)
