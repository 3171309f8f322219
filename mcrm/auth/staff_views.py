"""Staff pages: the owner manages the merchant's staff; every staff sets their own preferences and password
and can sign out everywhere else.

Kept apart from views.py (sign in and out) so the two grow independently.
"""
from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth import services
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role, Staff
from mcrm.auth.staff_forms import (ROLE_LABELS, NewStaffForm, PasswordChangeForm, PasswordResetForm,
                                   PreferencesForm, StaffForm)
from mcrm.auth.views import _login_limit, keep_signed_in
from mcrm.core.saving import saving
from mcrm.extensions import limiter

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/")
@role_required(Role.OWNER)
def index():
    return render_template("auth/staff_index.html", staff_list=services.list_staff(current_user.merchant),
                           role_labels=ROLE_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.OWNER)
def create():
    form = NewStaffForm()
    if form.validate_on_submit():
        with saving() as outcome:
            staff = services.create_staff(current_user.merchant, username=form.username.data,
                                          password=form.password.data, role=form.role.data,
                                          display_name=form.display_name.data, msisdn=form.msisdn.data)
            audit(AuditAction.STAFF_CREATE, f"staff {staff.id}", username=staff.username, role=staff.role,
                  trusted_phone=staff.msisdn is not None)
        if outcome.ok:
            flash(_("Staff account %(username)s created.", username=staff.username), "success")
            return redirect(url_for("staff.index"))
    return render_template("auth/staff_new.html", form=form)


@bp.route("/<int:staff_id>", methods=["GET", "POST"])
@role_required(Role.OWNER)
def detail(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    form = StaffForm(obj=staff)
    if form.validate_on_submit():
        with saving() as outcome:
            role, msisdn = staff.role, staff.msisdn
            services.update_staff(staff, actor=current_user, role=form.role.data,
                                  display_name=form.display_name.data, msisdn=form.msisdn.data)
            audit(AuditAction.STAFF_UPDATE, f"staff {staff.id}", username=staff.username,
                  **({"role": f"{role} → {staff.role}"} if role != staff.role else {}),
                  trusted_phone_changed=msisdn != staff.msisdn)
        if outcome.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("staff.detail", staff_id=staff.id))
    return render_template("auth/staff_detail.html", staff=staff, form=form,
                           password_form=PasswordResetForm(formdata=None))


@bp.route("/<int:staff_id>/password", methods=["POST"])
@role_required(Role.OWNER)
def reset_password(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    password_form = PasswordResetForm()
    if password_form.validate_on_submit():
        with saving() as outcome:
            services.reset_password(staff, password_form.password.data, actor=current_user)
            audit(AuditAction.STAFF_PASSWORD, f"staff {staff.id}", username=staff.username)
        if outcome.ok:
            flash(_("New password set for %(username)s.", username=staff.username), "success")
            return redirect(url_for("staff.detail", staff_id=staff.id))
    return render_template("auth/staff_detail.html", staff=staff, form=StaffForm(formdata=None, obj=staff),
                           password_form=password_form)


@bp.route("/<int:staff_id>/deactivate", methods=["POST"])
@role_required(Role.OWNER)
def deactivate(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    with saving() as outcome:
        services.deactivate_staff(staff, actor=current_user)
        audit(AuditAction.STAFF_DEACTIVATE, f"staff {staff.id}", username=staff.username)
    if outcome.ok:
        flash(_("%(username)s can no longer sign in.", username=staff.username), "success")
    return redirect(url_for("staff.detail", staff_id=staff.id))


@bp.route("/<int:staff_id>/activate", methods=["POST"])
@role_required(Role.OWNER)
def activate(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    with saving() as outcome:
        services.reactivate_staff(staff)
        audit(AuditAction.STAFF_ACTIVATE, f"staff {staff.id}", username=staff.username)
    if outcome.ok:
        flash(_("%(username)s can sign in again.", username=staff.username), "success")
    return redirect(url_for("staff.detail", staff_id=staff.id))


@bp.route("/<int:staff_id>/sessions/end", methods=["POST"])
@role_required(Role.OWNER)
def sign_out_everywhere(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    with saving() as outcome:
        services.sign_out_everywhere(staff, actor=current_user)
        audit(AuditAction.STAFF_SIGN_OUT, f"staff {staff.id}", username=staff.username)
    if outcome.ok and staff.id == current_user.id:
        keep_signed_in(staff)
        flash(_("Signed out on every other device."), "success")
    elif outcome.ok:
        flash(_("%(username)s is signed out on every device.", username=staff.username), "success")
    return redirect(url_for("staff.index"))


@bp.route("/me", methods=["GET", "POST"])
@login_required
def preferences():
    form = PreferencesForm(data={"locale": current_user.locale or ""})
    if form.validate_on_submit():
        with saving() as outcome:
            services.set_staff_locale(current_user, form.locale.data or None)
        if outcome.ok:
            # the header's language switch sits in the session and would outrank the saved choice
            session.pop("locale", None)
            flash(_("Saved."), "success")
            return redirect(url_for("staff.preferences"))
    return _preferences_page(form=form)


@bp.route("/me/password", methods=["POST"])
@limiter.limit(_login_limit)  # the current password is guessable from an unattended open session
@login_required
def change_password():
    staff = current_user._get_current_object()  # login_user needs the staff, not the proxy
    password_form = PasswordChangeForm()
    if password_form.validate_on_submit():
        with saving() as outcome:
            services.change_own_password(staff, current_password=password_form.current_password.data,
                                         new_password=password_form.password.data)
        if outcome.ok:
            keep_signed_in(staff)
            flash(_("Password changed. Every other device is signed out."), "success")
            return redirect(url_for("staff.preferences"))
    return _preferences_page(password_form=password_form)


@bp.route("/me/sessions/end", methods=["POST"])
@login_required
def sign_out_my_other_sessions():
    staff = current_user._get_current_object()
    with saving() as outcome:
        services.sign_out_everywhere(staff, actor=staff)
    if outcome.ok:
        keep_signed_in(staff)
        flash(_("Signed out on every other device."), "success")
    return redirect(url_for("staff.preferences"))


def _preferences_page(form=None, password_form=None):
    form = form or PreferencesForm(formdata=None, data={"locale": current_user.locale or ""})
    return render_template("auth/staff_preferences.html", form=form,
                           password_form=password_form or PasswordChangeForm(formdata=None))
