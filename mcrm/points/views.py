"""Points actions on a member's page: clerks record purchases and redeem; managers and owners also
adjust and void. Purchases, redemptions and voids text the member as XF/DH by SMS do."""
from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.errors import ConfirmationRequiredError, NotFoundError
from mcrm.core.saving import saving
from mcrm.keywords.apps.staff import queue_member_notice
from mcrm.members.models import Member
from mcrm.points.forms import AdjustForm, PurchaseForm, RedeemForm, VoidForm
from mcrm.points.services import Actor, adjust_points, get_entry, record_purchase, redeem_points, void_entry

bp = Blueprint("points", __name__, url_prefix="/members")


def _act(member, form, title: str, apply, **page):
    """Validate the form, apply one service call, commit and go back to the member.

    Bad input or a refused change shows the form again with what was typed and why; a change that
    needs a confirmation shows it again asking for one.
    """
    confirm = None
    if form.validate_on_submit():
        with saving(quiet=True) as outcome:
            message = apply(member, form)
        if isinstance(outcome.error, ConfirmationRequiredError):
            form.ask_to_confirm()
            confirm = outcome.error.translated()
        elif outcome.error is not None:
            form.form_errors.append(outcome.error.translated())
        else:
            flash(message, "success")
            return redirect(url_for("members.detail", member_id=member.id))
    return render_template("points/action.html", member=member, form=form, title=title, confirm=confirm,
                           **page), 200 if confirm else 400


@bp.route("/<int:member_id>/purchase", methods=["POST"])
@role_required(Role.CLERK)
def purchase(member_id: int):
    def apply(member, form):
        now = now_utc()
        entry = record_purchase(member, g.merchant, form.amount.data, actor=Actor.staff(current_user),
                                now=now, idempotency_key=form.idempotency_key, confirmed=form.is_confirmed)
        queue_member_notice(g.merchant, member, entry, now=now, idempotency_key=f"{form.idempotency_key}:sms",
                            amount=form.amount.data)
        return _("Purchase recorded: +%(points)s points, balance %(balance)s",
                 points=entry.points if entry else 0, balance=member.points_balance)
    return _act(get_owned_or_404(Member, member_id), PurchaseForm(), _("Record a purchase"), apply)


@bp.route("/<int:member_id>/redeem", methods=["POST"])
@role_required(Role.CLERK)
def redeem(member_id: int):
    def apply(member, form):
        now = now_utc()
        entry = redeem_points(member, form.points.data, reason=(form.reason.data or "").strip(),
                              actor=Actor.staff(current_user), now=now, idempotency_key=form.idempotency_key)
        queue_member_notice(g.merchant, member, entry, now=now, idempotency_key=f"{form.idempotency_key}:sms")
        return _("Redeemed %(points)s points, balance %(balance)s", points=form.points.data,
                 balance=member.points_balance)
    return _act(get_owned_or_404(Member, member_id), RedeemForm(), _("Redeem points"), apply)


@bp.route("/<int:member_id>/adjust", methods=["POST"])
@role_required(Role.MANAGER)
def adjust(member_id: int):
    def apply(member, form):
        entry = adjust_points(member, g.merchant, form.points.data, reason=form.reason.data,
                              actor=Actor.staff(current_user), now=now_utc())
        audit(AuditAction.POINTS_ADJUST, f"member {member.id}", points=entry.points, reason=entry.reason,
              entry=entry.id)
        return _("Points adjusted by %(points)+d, balance %(balance)s", points=form.points.data,
                 balance=member.points_balance)
    return _act(get_owned_or_404(Member, member_id), AdjustForm(), _("Adjust points"), apply)


@bp.route("/<int:member_id>/entries/<int:entry_id>/void", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def void(member_id: int, entry_id: int):
    member = get_owned_or_404(Member, member_id)
    try:
        entry = get_entry(member, entry_id)
    except NotFoundError:
        abort(404)

    def apply(member, form):
        now = now_utc()
        reversal = void_entry(entry, g.merchant, reason=form.reason.data, actor=Actor.staff(current_user),
                              now=now)
        audit(AuditAction.POINTS_VOID, f"member {member.id}", voided_entry=entry.id, points=reversal.points,
              reason=reversal.reason)
        queue_member_notice(g.merchant, member, reversal, now=now, idempotency_key=f"void:{reversal.id}:sms")
        return _("Voided: %(points)+d points, balance %(balance)s", points=reversal.points,
                 balance=member.points_balance)
    form = VoidForm()
    if not form.is_submitted():
        return render_template("points/action.html", member=member, form=form, title=_("Void"), voiding=entry)
    return _act(member, form, _("Void"), apply, voiding=entry)
