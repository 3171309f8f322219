"""The care console: which greetings are on, what went out today and what the week will send, and
each greeting's settings. Managers and owners."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.campaigns.services import list_coupon_apps
from mcrm.care import services
from mcrm.care.calendar import FESTIVALS
from mcrm.care.forms import GreetingForm
from mcrm.care.models import CareKind
from mcrm.core import csv_out
from mcrm.core.clock import now_utc
from mcrm.core.errors import NotFoundError
from mcrm.core.saving import saving

bp = Blueprint("care", __name__, url_prefix="/care")


@bp.route("/")
@role_required(Role.MANAGER)
def index():
    greetings = services.list_greetings(g.merchant)
    return render_template("care/index.html", greetings=greetings, festivals=FESTIVALS, kinds=CareKind,
                           names={greeting.id: services.greeting_name(greeting) for greeting in greetings},
                           outlook=services.outlook(g.merchant, now=now_utc()))


@bp.route("/greeting", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit():
    """``?kind=birthday``, ``?kind=festival&code=mid_autumn``, ``?id=7`` (a saved one)."""
    try:
        greeting = services.get_greeting(g.merchant, int(request.args["id"])) if "id" in request.args else None
        kind = CareKind(greeting.kind if greeting else request.args.get("kind", ""))
    except (NotFoundError, ValueError):
        abort(404)
    code = greeting.code if greeting else request.args.get("code", "")
    form = GreetingForm(obj=greeting)
    form.tier.choices = [("", _("Every tier"))] + [(name, name) for name, _score in g.merchant.tier_thresholds]
    form.coupon_app_id.choices = [(0, _("No coupon"))] + [(app.id, app.name) for app in list_coupon_apps(g.merchant)]
    if request.method == "GET":
        form.body.data = greeting.body if greeting else services.DEFAULT_BODIES[kind]
        form.name.data = form.tier.data = code
        if greeting:
            form.tier_gifts.data = " ".join(f"{tier}={points}" for tier, points in greeting.gift_points_by_tier.items())
            form.coupon_app_id.data = greeting.coupon_app_id or 0
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            saved = services.save_greeting(
                g.merchant, kind=kind, code=_code(form, kind, code),
                enabled=form.enabled.data, body=form.body.data, hour=form.hour.data, days_before=form.days_before.data,
                gift_points=form.gift_points.data, gift_points_by_tier=services.parse_tier_gifts(form.tier_gifts.data),
                coupon_app_id=form.coupon_app_id.data or None, on_date=form.on_date.data, yearly=form.yearly.data,
                days=form.days.data, drop_percent=form.drop_percent.data, now=now_utc())
        if outcome.ok:
            flash(_("Greeting %(name)s saved", name=services.greeting_name(saved)), "success")
            return redirect(url_for(".index"))
    title = services.greeting_name(greeting) if greeting else _kind_title(kind, code)
    return render_template("care/edit.html", form=form, kind=kind, title=title)


def _code(form: GreetingForm, kind: CareKind, code: str) -> str:
    """A named day's name and a win-back's or churn's tier come from the form, the rest from the URL."""
    if kind is CareKind.NAMED_DAY:
        return form.name.data
    return form.tier.data if kind in services.PER_TIER else code


#: the call list's page shows this many; the CSV has them all
CALLS_SHOWN = 200


@bp.route("/calls")
@role_required(Role.CLERK)
def calls():
    rows = services.list_to_call(g.merchant, now=now_utc())
    shown = [row for _, row in zip(range(CALLS_SHOWN + 1), rows, strict=False)]
    rows.close()
    return render_template("care/calls.html", rows=shown[:CALLS_SHOWN], more=len(shown) > CALLS_SHOWN)


@bp.route("/calls.csv")
@role_required(Role.OWNER)
def calls_csv():
    with saving():
        audit(AuditAction.EXPORT_CARE_CALLS)
    encoding = csv_out.requested_encoding()
    headers = [_("Greeting"), _("Mobile"), _("Name"), _("Tier"), _("Last visit"), _("Total spend")]
    rows = ([name, row.msisdn, csv_out.safe_cell(row.name), row.tier,
             row.last_visit_at.isoformat() if row.last_visit_at else "", row.total_spend]
            for name, row in services.list_to_call(g.merchant, now=now_utc()))
    chunks = csv_out.csv_chunks(headers, rows, codec=csv_out.ENCODINGS[encoding])
    return csv_out.download(chunks, filename=f"care-calls-{now_utc():%Y%m%d}.csv", charset=encoding)


def _kind_title(kind: CareKind, code: str) -> str:
    if kind is CareKind.FESTIVAL:
        return next((festival.name for festival in FESTIVALS if festival.code == code), code)
    return {CareKind.BIRTHDAY: _("Birthday"), CareKind.STORE_ANNIVERSARY: _("Store anniversary"),
            CareKind.JOIN_ANNIVERSARY: _("Join anniversary"), CareKind.NAMED_DAY: _("A day you name"),
            CareKind.WIN_BACK: _("Win-back"), CareKind.CHURN: _("Churn warning"),
            CareKind.POINTS_EXPIRING: _("Points expiring"),
            CareKind.TIER_CHANGE: _("Tier up") if code == services.TIER_UP else _("Tier down")}[kind]
