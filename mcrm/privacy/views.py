"""A member's data on request (owner only, audited): a copy as one JSON file, and erasure."""
import json

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.saving import saving
from mcrm.members.models import Member
from mcrm.privacy.forms import EraseForm
from mcrm.privacy.services import confirms_erasure, erase_member, member_data

bp = Blueprint("privacy", __name__, url_prefix="/members")


@bp.route("/<int:member_id>/data.json")
@role_required(Role.OWNER)
def export(member_id: int):
    member = get_owned_or_404(Member, member_id)
    with saving():
        audit(AuditAction.MEMBER_DATA_EXPORT, f"member {member.id}")
    body = json.dumps(member_data(member), ensure_ascii=False, indent=1)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f"attachment; filename=member-{member.member_no}-{now_utc():%Y%m%d}.json"})


@bp.route("/<int:member_id>/erase", methods=["GET", "POST"])
@role_required(Role.OWNER)
def erase(member_id: int):
    member = get_owned_or_404(Member, member_id)
    form = EraseForm()
    if form.validate_on_submit():
        if not confirms_erasure(member, form.confirm.data):
            form.confirm.errors.append(_("These are not the last four digits of the member's number."))
        else:
            with saving() as outcome:
                settings = current_app.extensions["mcrm_settings"]
                erase_member(member, now=now_utc(), access_number=settings.access_number,
                             region=settings.default_region)
                audit(AuditAction.MEMBER_ERASE, f"member {member.id}")
            if outcome.ok:
                flash(_("The member's personal data has been erased."), "success")
                return redirect(url_for("members.index"))
    return render_template("privacy/erase.html", member=member, form=form)
