"""The owner's webhook pages: endpoints (the secret shown once, switched on and off) and the
delivery log with its resend button. Owner only: the events are the whole merchant's."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.saving import saving
from mcrm.core.urls import parse_id
from mcrm.webhooks import services
from mcrm.webhooks.forms import EVENT_LABELS, STATUS_LABELS, NewEndpointForm
from mcrm.webhooks.models import WebhookDelivery, WebhookEndpoint

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

#: deliveries on a page of the log
PAGE = 50


def _page(form: NewEndpointForm, secret: str | None = None) -> str:
    return render_template("webhooks/index.html", form=form, secret=secret, event_labels=EVENT_LABELS,
                           endpoints=services.list_endpoints(current_user.merchant))


@bp.route("/", methods=["GET", "POST"])
@role_required(Role.OWNER)
def index():
    form = NewEndpointForm()
    if not form.validate_on_submit():
        return _page(form)
    with saving(errors=form.url.errors) as outcome:
        endpoint, secret = services.create_endpoint(
            current_user.merchant, url=form.url.data, events=form.events.data, actor=current_user, now=now_utc(),
            allow_private=current_app.extensions["mcrm_settings"].webhook_allow_private)
        audit(AuditAction.WEBHOOK_CREATE, f"webhook {endpoint.id}", host=urlsplit(endpoint.url).hostname,
              events=endpoint.events)
    if not outcome.ok:
        return _page(form)
    # rendered, not flashed: a flash would put the secret into the session cookie
    return _page(NewEndpointForm(formdata=None), secret=secret), 201, {"Cache-Control": "no-store"}


@bp.route("/<int:endpoint_id>/<any(enable, disable):switch>", methods=["POST"])
@role_required(Role.OWNER)
def switch(endpoint_id: int, switch: str):
    endpoint = get_owned_or_404(WebhookEndpoint, endpoint_id)
    with saving():
        if services.set_endpoint_enabled(endpoint, switch == "enable"):
            audit(AuditAction.WEBHOOK_ENABLE if endpoint.enabled else AuditAction.WEBHOOK_DISABLE,
                  f"webhook {endpoint.id}")
    return redirect(url_for("webhooks.index"))


@bp.route("/<int:endpoint_id>/secret", methods=["POST"])
@role_required(Role.OWNER)
def new_secret(endpoint_id: int):
    endpoint = get_owned_or_404(WebhookEndpoint, endpoint_id)
    with saving() as outcome:
        secret = services.replace_secret(endpoint)
        audit(AuditAction.WEBHOOK_NEW_SECRET, f"webhook {endpoint.id}", host=urlsplit(endpoint.url).hostname)
    if not outcome.ok:
        return redirect(url_for("webhooks.index"))
    return _page(NewEndpointForm(formdata=None), secret=secret), 200, {"Cache-Control": "no-store"}


@bp.route("/<int:endpoint_id>/delete", methods=["POST"])
@role_required(Role.OWNER)
def delete(endpoint_id: int):
    endpoint = get_owned_or_404(WebhookEndpoint, endpoint_id)
    host = urlsplit(endpoint.url).hostname
    with saving() as outcome:
        deliveries = services.delete_endpoint(endpoint)
        audit(AuditAction.WEBHOOK_DELETE, f"webhook {endpoint_id}", host=host, deliveries=deliveries)
    if outcome.ok:
        flash(_("The endpoint to %(host)s is deleted, with its %(count)s deliveries.", host=host, count=deliveries),
              "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/deliveries")
@role_required(Role.OWNER)
def deliveries():
    status = request.args.get("status", "")
    status = status if status in STATUS_LABELS else ""
    rows = services.list_deliveries(current_user.merchant, status=status,
                                    before_id=request.args.get("before", type=parse_id), limit=PAGE + 1)
    return render_template("webhooks/deliveries.html", deliveries=rows[:PAGE], status=status,
                           status_labels=STATUS_LABELS, event_labels=EVENT_LABELS,
                           next_before=rows[PAGE - 1].id if len(rows) > PAGE else None)


@bp.route("/deliveries/<int:delivery_id>/resend", methods=["POST"])
@role_required(Role.OWNER)
def resend(delivery_id: int):
    delivery = get_owned_or_404(WebhookDelivery, delivery_id)
    with saving() as outcome:
        services.resend_delivery(delivery, now=now_utc())
        audit(AuditAction.WEBHOOK_RESEND, f"webhook delivery {delivery.id}")
    if outcome.ok:
        flash(_("Delivery %(id)s is sent again within a minute.", id=delivery.id), "success")
    return redirect(url_for("webhooks.deliveries"))
