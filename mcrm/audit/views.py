"""The audit log page (owner only), and ``audit()``, which pages call to record what staff do."""
from flask import Blueprint, render_template, request
from flask_login import current_user

from mcrm.audit.models import AuditAction, AuditEntry
from mcrm.audit.services import AuditFilter, list_entries, record
from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.auth.services import list_staff
from mcrm.core.clock import now_utc
from mcrm.core.urls import parse_id

bp = Blueprint("audit", __name__, url_prefix="/audit")

#: entries on a page
PAGE = 50


def audit(action: AuditAction, target: str = "", **details) -> AuditEntry:
    """Record an action of the signed-in staff, from this request's address, in its transaction."""
    return record(current_user.merchant_id, action, now=now_utc(), staff_id=current_user.id, target=target,
                  details=details, ip=request.remote_addr)


@bp.route("/")
@role_required(Role.OWNER)
def index():
    action = request.args.get("action", "")
    staff_id = request.args.get("staff", type=parse_id)
    filters = AuditFilter(action=action if action in tuple(AuditAction) else "", staff_id=staff_id)
    before = request.args.get("before", type=parse_id)
    entries = list_entries(current_user.merchant_id, filters, before_id=before, limit=PAGE + 1)
    staff = {s.id: s for s in list_staff(current_user.merchant)}
    return render_template("audit/index.html", entries=entries[:PAGE], filters=filters, staff=staff,
                           actions=list(AuditAction),
                           next_before=entries[PAGE - 1].id if len(entries) > PAGE else None)
