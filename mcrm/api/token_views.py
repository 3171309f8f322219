"""The owner's API token page: make a token (its secret shown once), see when each was last used,
revoke one. Owner only: a token acts for the whole merchant."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mcrm.api import services
from mcrm.api.token_forms import SCOPE_LABELS, NewTokenForm
from mcrm.api.models import ApiToken
from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.saving import saving

bp = Blueprint("api_tokens", __name__, url_prefix="/api-tokens")


def _page(form: NewTokenForm, secret: str | None = None) -> str:
    return render_template("api/tokens.html", form=form, secret=secret, scope_labels=SCOPE_LABELS,
                           tokens=services.list_tokens(current_user.merchant))


@bp.route("/", methods=["GET", "POST"])
@role_required(Role.OWNER)
def index():
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(form)
    with saving(errors=form.form_errors) as outcome:
        token, secret = services.create_token(current_user.merchant, name=form.name.data, scope=form.scope.data,
                                              actor=current_user, now=now_utc())
        audit(AuditAction.API_TOKEN_CREATE, f"token {token.id}", name=token.name, scope=token.scope)
    if not outcome.ok:
        return _page(form)
    # rendered, not flashed: a flash would put the secret into the session cookie
    return _page(NewTokenForm(formdata=None), secret=secret), 201, {"Cache-Control": "no-store"}


@bp.route("/<int:token_id>/revoke", methods=["POST"])
@role_required(Role.OWNER)
def revoke(token_id: int):
    token = get_owned_or_404(ApiToken, token_id)
    with saving() as outcome:
        services.revoke_token(token, now=now_utc())
        audit(AuditAction.API_TOKEN_REVOKE, f"token {token.id}", name=token.name)
    if outcome.ok:
        flash(_("Token %(name)s revoked: requests with it are refused from now on.", name=token.name), "success")
    return redirect(url_for("api_tokens.index"))
