"""Console: the message log, one message's parts and receipts, daily figures, the phone simulator."""
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.core.clock import now_utc
from mcrm.core.errors import DomainError, ValidationError
from mcrm.core.msisdn import normalize_msisdn
from mcrm.extensions import db
from mcrm.merchants.services import service_number
from mcrm.messaging import services
from mcrm.members.services import find_member_by_msisdn
from mcrm.messaging.forms import (DIRECTION_LABELS, INBOUND_STATUS_LABELS, KIND_LABELS, RECEIPT_LABELS,
                                  STATUS_LABELS, SUPPRESS_LABELS, MessageFilterForm, SimulatorForm)
from mcrm.messaging.models import OutboundMessage
from mcrm.messaging.store import InboundSms, SqlMessageStore, count_parts

bp = Blueprint("messaging", __name__, url_prefix="/messages")


def _settings():
    return current_app.extensions["mcrm_settings"]


@bp.context_processor
def _labels():
    return {"status_labels": STATUS_LABELS, "kind_labels": KIND_LABELS, "suppress_labels": SUPPRESS_LABELS,
            "inbound_status_labels": INBOUND_STATUS_LABELS, "receipt_labels": RECEIPT_LABELS, "direction_labels": DIRECTION_LABELS,
            "sms_sandbox": _settings().sms_transport == "sandbox"}


@bp.route("/")
@role_required("manager")
def index():
    form = MessageFilterForm(request.args, meta={"csrf": False})
    form.msisdn.region = _settings().default_region
    filters = {k: v for k, v in request.args.items() if k != "before" and v}
    entries = []
    if form.validate():
        try:
            entries = services.list_log(g.merchant, direction=form.direction.data or None,
                                        status=form.status.data or None, kind=form.kind.data or None,
                                        msisdn=form.msisdn.data, day=form.day.data, before=form.before.data,
                                        limit=services.PAGE_SIZE + 1)
        except ValidationError as error:
            flash(error.translated(), "warning")
            return redirect(url_for(".index", **filters))
    older = url_for(".index", before=entries[-2].cursor, **filters) if len(entries) > services.PAGE_SIZE else None
    return render_template("messaging/index.html", form=form, entries=entries[:services.PAGE_SIZE], older=older,
                           newest=url_for(".index", **filters) if form.before.data else None)


@bp.route("/numbers/<msisdn>")
@role_required("manager")
def conversation(msisdn: str):
    """Every text to and from one number, oldest first, as a chat."""
    try:
        msisdn = normalize_msisdn(msisdn, _settings().default_region)
    except ValidationError:
        pass            # an MO's sender is kept as given when it is no phone number
    before = request.args.get("before")
    try:
        entries = services.list_log(g.merchant, msisdn=msisdn, before=before, limit=services.PAGE_SIZE + 1)
    except ValidationError:
        abort(404)
    earlier = url_for(".conversation", msisdn=msisdn, before=entries[-2].cursor) \
        if len(entries) > services.PAGE_SIZE else None
    return render_template("messaging/conversation.html", msisdn=msisdn, entries=entries[services.PAGE_SIZE - 1::-1],
                           earlier=earlier, latest=url_for(".conversation", msisdn=msisdn) if before else None,
                           member=find_member_by_msisdn(g.merchant, msisdn))


@bp.route("/<int:message_id>")
@role_required("manager")
def detail(message_id: int):
    message = get_owned_or_404(OutboundMessage, message_id)
    return render_template("messaging/detail.html", message=message)


@bp.route("/daily")
@role_required("manager")
def daily():
    return render_template("messaging/daily.html", days=services.daily_figures(g.merchant, now=now_utc()))


def _sandbox_only():
    if _settings().sms_transport != "sandbox":
        abort(404)      # with a real SMSC, phones are real: nothing to simulate


@bp.route("/simulator", methods=["GET", "POST"])
@role_required("manager")
def simulator():
    _sandbox_only()
    form = SimulatorForm(msisdn=request.args.get("msisdn", ""))
    form.msisdn.region = _settings().default_region
    number = service_number(g.merchant, _settings().access_number)
    if form.validate_on_submit() and _within_reach(form.msisdn.data, number + (form.extension.data or "")):
        text = form.text.data.strip()
        shape = count_parts(text)
        sms = InboundSms(source_addr=form.msisdn.data, destination_addr=number + (form.extension.data or ""),
                         text=text, data_coding=shape.data_coding, received_at=now_utc(), parts=shape.parts,
                         payload=text.encode("utf-16-be" if shape.data_coding == 8 else "latin-1", "replace"))
        db.session.commit()      # SQLite: the store writes from its own connection; free the lock first
        SqlMessageStore(current_app._get_current_object()).save_inbound(sms)
        return redirect(url_for(".simulator", msisdn=form.msisdn.data))
    msisdn = form.msisdn.data if not form.msisdn.errors else None
    return render_template("messaging/simulator.html", form=form, service_number=number, msisdn=msisdn,
                           entries=services.list_conversation(g.merchant, msisdn) if msisdn else [],
                           numbers=services.list_member_numbers(g.merchant))


def _within_reach(msisdn: str, destination: str) -> bool:
    """Whether the signed-in staff may text this from the simulator; if not, say why."""
    try:
        services.check_simulated_text(g.merchant, actor=current_user, msisdn=msisdn, destination_addr=destination,
                                      access_number=_settings().access_number)
    except DomainError as error:
        flash(error.translated(), "error")
        return False
    return True


@bp.route("/simulator/thread")
@role_required("manager")
def simulator_thread():
    """The conversation alone, fetched by the simulator page every few seconds."""
    _sandbox_only()
    try:
        msisdn = normalize_msisdn(request.args.get("msisdn", ""), _settings().default_region)
    except ValidationError:
        abort(400)
    return render_template("messaging/_thread.html", entries=services.list_conversation(g.merchant, msisdn))
