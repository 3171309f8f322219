"""Sign in and out, sessions that were ended elsewhere, and the console language."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import COOKIE_DURATION, COOKIE_NAME, current_user, login_required, login_user, logout_user

from mcrm.auth.forms import LoginForm
from mcrm.auth.services import authenticate, end_session, start_session
from mcrm.core.clock import now_utc
from mcrm.core.saving import saving
from mcrm.extensions import limiter
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
        with saving(keep_refused=True) as outcome:  # a failed attempt is kept: it counts to the lock-out
            staff = authenticate(form.username.data, form.password.data, address=request.remote_addr or "",
                                 now=now_utc(), lockout_after=settings.login_lockout,
                                 lockout_minutes=settings.login_lockout_minutes)
        if outcome.ok:
            session.clear()
            sign_in(staff, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


def sign_in(staff, *, remember: bool) -> None:
    """Start a session of ``staff`` (a StaffSession row, committed) and give this browser its cookies."""
    with saving() as outcome:
        start_session(staff, now=now_utc(),
                      max_age=current_app.config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION))
    if outcome.ok:
        login_user(staff, remember=remember)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    with saving():
        end_session(current_user._get_current_object())  # server-side: a copied cookie dies with it
    session.clear()
    logout_user()  # after the clear: it leaves the note that deletes the remember-me cookie
    return redirect(url_for("auth.login"))


@bp.after_app_request
def _end_refused_session(response):
    """A session or remember-me cookie the user loader refused (its staff signed out everywhere, changed
    password or role, or was deactivated) is dropped once, with a word why; the rest of the session stays.

    After the request, not before: the user is loaded by then, inside a GET's read-only transaction
    (mcrm.db), and Flask-Login's own after-request hook, which runs later, deletes the remember-me cookie.
    """
    if request.endpoint == "static" or current_user.is_authenticated:
        return response
    # "_remember" == "clear": a sign-out (or Flask-Login) is already deleting the cookie
    if "_user_id" in session or (_remember_cookie_name() in request.cookies
                                 and session.get("_remember") != "clear"):
        logout_user()
        flash(_("Your session ended: please sign in again."), "warning")
    return response


def keep_signed_in(staff) -> None:
    """Sign this browser in again after ``staff``'s sessions were ended by their own action,
    remembered on this device if it was."""
    sign_in(staff, remember=_remember_cookie_name() in request.cookies)


def _remember_cookie_name() -> str:
    return current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)


@bp.route("/language/<code>", methods=["POST"])
def set_language(code: str):
    if code in LOCALES:
        session["locale"] = code
    return redirect(_safe_next(request.form.get("next")))
