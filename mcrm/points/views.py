"""Points actions on a member's page: clerks record purchases; managers and owners redeem and adjust."""
from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.errors import DomainError
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.points.forms import AdjustForm, PurchaseForm, RedeemForm
from mcrm.points.services import Actor, adjust_points, record_purchase, redeem_points

bp = Blueprint("points", __name__, url_prefix="/members")


def _act(member_id: int, form, title: str, apply):
    """Validate the form, apply one service call, commit and go back to the member.

    Bad input or a refused change shows the form again with what was typed and why.
    """
    member = get_owned_or_404(Member, member_id)
    if form.validate_on_submit():
        try:
            message = apply(member, form)
        except DomainError as error:
            db.session.rollback()
            form.form_errors.append(error.translated())
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("members.detail", member_id=member.id))
    return render_template("points/action.html", member=member, form=form, title=title), 400


@bp.route("/<int:member_id>/purchase", methods=["POST"])
@role_required(Role.CLERK)
def purchase(member_id: int):
    def apply(member, form):
        entry = record_purchase(member, g.merchant, form.amount.data, actor=Actor.staff(current_user),
                                now=now_utc(), idempotency_key=form.idempotency_key)
        return _("Purchase recorded: +%(points)s points, balance %(balance)s",
                 points=entry.points if entry else 0, balance=member.points_balance)
    return _act(member_id, PurchaseForm(), _("Record a purchase"), apply)


@bp.route("/<int:member_id>/redeem", methods=["POST"])
@role_required(Role.MANAGER)
def redeem(member_id: int):
    def apply(member, form):
        redeem_points(member, form.points.data, reason=form.reason.data.strip(),
                      actor=Actor.staff(current_user), now=now_utc(), idempotency_key=form.idempotency_key)
        return _("Redeemed %(points)s points, balance %(balance)s", points=form.points.data,
                 balance=member.points_balance)
    return _act(member_id, RedeemForm(), _("Redeem points"), apply)


@bp.route("/<int:member_id>/adjust", methods=["POST"])
@role_required(Role.MANAGER)
def adjust(member_id: int):
    def apply(member, form):
        adjust_points(member, g.merchant, form.points.data, reason=form.reason.data,
                      actor=Actor.staff(current_user), now=now_utc())
        return _("Points adjusted by %(points)+d, balance %(balance)s", points=form.points.data,
                 balance=member.points_balance)
    return _act(member_id, AdjustForm(), _("Adjust points"), apply)
