"""Staff pages: the owner manages the merchant's staff; every staff sets their own preferences.

Kept apart from views.py (sign in and out) so the two grow independently.
"""
from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mcrm.auth import services
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role, Staff
from mcrm.auth.staff_forms import ROLE_LABELS, NewStaffForm, PasswordResetForm, PreferencesForm, StaffForm
from mcrm.core.errors import DomainError
from mcrm.extensions import db

bp = Blueprint("staff", __name__, url_prefix="/staff")


def _refused(error: DomainError) -> None:
    """Keep nothing half-done and show the reason; the form keeps what was typed."""
    db.session.rollback()
    flash(_(error.message), "error")


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
        try:
            staff = services.create_staff(current_user.merchant, username=form.username.data,
                                          password=form.password.data, role=form.role.data,
                                          display_name=form.display_name.data, msisdn=form.msisdn.data)
        except DomainError as error:
            _refused(error)
        else:
            db.session.commit()
            flash(_("Staff account %(username)s created.", username=staff.username), "success")
            return redirect(url_for("staff.index"))
    return render_template("auth/staff_new.html", form=form)


@bp.route("/<int:staff_id>", methods=["GET", "POST"])
@role_required(Role.OWNER)
def detail(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    form = StaffForm(obj=staff)
    if form.validate_on_submit():
        try:
            services.update_staff(staff, actor=current_user, role=form.role.data,
                                  display_name=form.display_name.data, msisdn=form.msisdn.data)
        except DomainError as error:
            _refused(error)
        else:
            db.session.commit()
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
        try:
            services.set_password(staff, password_form.password.data)
        except DomainError as error:
            _refused(error)
        else:
            db.session.commit()
            flash(_("New password set for %(username)s.", username=staff.username), "success")
            return redirect(url_for("staff.detail", staff_id=staff.id))
    return render_template("auth/staff_detail.html", staff=staff, form=StaffForm(formdata=None, obj=staff),
                           password_form=password_form)


@bp.route("/<int:staff_id>/deactivate", methods=["POST"])
@role_required(Role.OWNER)
def deactivate(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    try:
        services.deactivate_staff(staff, actor=current_user)
    except DomainError as error:
        _refused(error)
    else:
        db.session.commit()
        flash(_("%(username)s can no longer sign in.", username=staff.username), "success")
    return redirect(url_for("staff.detail", staff_id=staff.id))


@bp.route("/<int:staff_id>/activate", methods=["POST"])
@role_required(Role.OWNER)
def activate(staff_id: int):
    staff = get_owned_or_404(Staff, staff_id)
    services.reactivate_staff(staff)
    db.session.commit()
    flash(_("%(username)s can sign in again.", username=staff.username), "success")
    return redirect(url_for("staff.detail", staff_id=staff.id))


@bp.route("/me", methods=["GET", "POST"])
@login_required
def preferences():
    form = PreferencesForm(data={"locale": current_user.locale or ""})
    if form.validate_on_submit():
        services.set_staff_locale(current_user, form.locale.data or None)
        db.session.commit()
        # the header's language switch sits in the session and would outrank the saved choice
        session.pop("locale", None)
        flash(_("Saved."), "success")
        return redirect(url_for("staff.preferences"))
    return render_template("auth/staff_preferences.html", form=form)
