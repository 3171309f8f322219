"""Sign in and out, and the console language."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from mcrm.auth.forms import LoginForm
from mcrm.auth.services import LoginError, authenticate
from mcrm.core.clock import now_utc
from mcrm.extensions import db, limiter
from mcrm.settings import LOCALES

bp = Blueprint("auth", __name__)


def _login_limit() -> str:
    return current_app.extensions["mcrm_settings"].login_rate_limit


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        settings = current_app.extensions["mcrm_settings"]
        try:
            staff = authenticate(form.username.data, form.password.data, now=now_utc(),
                                 lockout_after=settings.login_lockout,
                                 lockout_minutes=settings.login_lockout_minutes)
        except LoginError as error:
            db.session.commit()  # keep the failed-attempt count
            flash(_(error.message), "error")
        else:
            db.session.commit()
            session.clear()
            login_user(staff, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/language/<code>", methods=["POST"])
def set_language(code: str):
    if code in LOCALES:
        session["locale"] = code
    return redirect(_safe_next(request.form.get("next")))
