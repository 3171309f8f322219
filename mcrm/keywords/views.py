"""Console: the merchant's keywords and reply texts, and the wizard that makes keyword apps."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role
from mcrm.core import csv_out
from mcrm.core.clock import now_utc
from mcrm.core.errors import DomainError
from mcrm.core.msisdn import normalize_msisdn
from mcrm.core.saving import saving
from mcrm.core.templates import TemplateError, render_template as render_reply
from mcrm.formatting import local_datetime
from mcrm.keywords import fields, forms, records, services, texts
from mcrm.keywords.apps import custom
from mcrm.keywords.models import AppKind, AppStatus, KeywordApp
from mcrm.keywords.rules import split_words
from mcrm.members.services import find_member_by_msisdn
from mcrm.messaging.store import count_parts
from mcrm.messaging.texts import MAX_TEXT_PARTS

bp = Blueprint("keywords", __name__, url_prefix="/keywords")

#: the wizard's steps, in order: endpoint and title
STEPS = [("keywords.app_keywords", _l("Keywords")), ("keywords.app_replies", _l("Replies")),
         ("keywords.app_settings", _l("Limits and settings")), ("keywords.app_try", _l("Test and switch on"))]

#: what the reply preview fills placeholders with: the member fields' samples, then the replies' own
SAMPLE_VALUES = {**fields.SAMPLES,
                 "gift_points": 100, "ticket_no": "000123", "kind": "建议", "msisdn": "+8613800138000",
                 "amount": "88", "earned": 88, "redeemed": 500, "error": "余额不足", "code": "AB12CD34",
                 "expires": "2026-12-31", "option": "红烧肉", "options": "1.红烧肉 2.糖醋鱼", "keyword": "TP",
                 "info": "状态:制作中", "event": "品鉴会", "seats": 2, "when": "12月01日19:00", "position": 1,
                 "status": "已确认", "limit": 1, "offer": "到店满100减20"}


# -- built-in keywords and replies --------------------------------------------------------------

@bp.route("/")
@role_required(Role.MANAGER)
def index(typed: dict | None = None):
    """``typed``: what was typed in a refused form (built-in keywords by name, ``unknown`` and
    ``unknown_per_hour``), shown again."""
    merchant = g.merchant
    return render_template("keywords/index.html", builtins=texts.builtin_keywords(merchant),
                           typed=typed or {},
                           labels=texts.BUILTIN_LABELS,
                           unknown=(typed or {}).get("unknown", texts.unknown_action(merchant)),
                           unknown_per_hour=(typed or {}).get("unknown_per_hour", texts.unknown_per_hour(merchant)),
                           per_hour_range=texts.UNKNOWN_PER_HOUR_RANGE,
                           apps=services.list_keyword_apps(merchant), kind_labels=forms.KIND_LABELS,
                           status_labels=forms.STATUS_LABELS,
                           coupon_form=forms.CouponLookupForm(formdata=None, meta={"csrf": False}))


@bp.route("/builtin/<name>", methods=["POST"])
@role_required(Role.MANAGER)
def builtin_keywords(name: str):
    if name not in texts.DEFAULT_KEYWORDS:
        abort(404)
    typed = request.form.get("keywords", "")
    with saving() as outcome:
        services.set_builtin_keywords(g.merchant, name, split_words(typed))
    if not outcome.ok:
        return index(typed={name: typed}), 400
    flash(_("Keywords saved."), "success")
    return redirect(url_for("keywords.index"))


@bp.route("/unknown", methods=["POST"])
@role_required(Role.MANAGER)
def unknown_texts():
    action = request.form.get("action", "")
    per_hour = request.form.get("per_hour", texts.DEFAULT_UNKNOWN_PER_HOUR)
    with saving() as outcome:
        services.set_unknown_action(g.merchant, action, per_hour=per_hour)
    if not outcome.ok:
        return index(typed={"unknown": action, "unknown_per_hour": per_hour}), 400
    flash(_("Saved."), "success")
    return redirect(url_for("keywords.index"))


@bp.route("/replies", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def replies():
    """Every built-in reply text; Preview renders the typed text (or shows its error) without saving."""
    merchant = g.merchant
    typed, previews, errors = {}, {}, {}
    if request.method == "POST":
        reply_id = request.form.get("reply_id", "")
        if reply_id not in texts.DEFAULT_REPLIES:
            abort(400)
        template = request.form.get("template", "").strip()
        try:
            if template:
                texts.check_reply(reply_id, template, signature=merchant.signature)
        except TemplateError as error:
            typed[reply_id], errors[reply_id] = template, error.translated()
        else:
            if request.form.get("action") == "save":
                with saving() as outcome:
                    services.set_reply_text(merchant, reply_id, template)
                if outcome.ok:
                    flash(_("Reply text saved."), "success")
                    return redirect(url_for("keywords.replies") + f"#{reply_id}")
            typed[reply_id] = template
            # as the phone shows it: with the signature, and how many SMS it costs
            text = merchant.signature + render_reply(template or texts.reply_template(merchant, reply_id),
                                                     {**SAMPLE_VALUES, "shop": merchant.name})
            previews[reply_id] = {"text": text, "shape": count_parts(text)}
    rows = [{"id": reply_id, "text": typed.get(reply_id, texts.reply_template(merchant, reply_id)),
             "default": default, "fields": fields, "preview": previews.get(reply_id), "error": errors.get(reply_id),
             "custom": reply_id in (merchant.texts or {}).get("replies", {})}
            for reply_id, (default, fields) in texts.DEFAULT_REPLIES.items()]
    return render_template("keywords/replies.html", rows=rows, labels=texts.REPLY_LABELS,
                           max_parts=MAX_TEXT_PARTS), (400 if errors else 200)


@bp.route("/coupons")
@role_required(Role.CLERK)
def coupons(refusal: DomainError | None = None):
    """The counter: look a code up (offer, holder, expiry, state), then mark it redeemed.

    ``refusal``: why the redeem just posted failed. A coupon that was looked up shows one verdict,
    its state; the alert is only for a failed redeem or a code that is nobody's coupon.
    """
    form = forms.CouponLookupForm(request.values, meta={"csrf": False})
    code, now = (form.code.data or "").strip(), now_utc()
    coupon_row = custom.find_issued_coupon(g.merchant, code) if code else None
    if code and coupon_row is None and refusal is None:
        refusal = custom.coupon_refusal(None, code, now)
    # the holder as a member now (they may have joined since, or left)
    member = coupon_row and find_member_by_msisdn(g.merchant, coupon_row.msisdn)
    page = render_template("keywords/coupons.html", form=form, code=code, coupon=coupon_row, member=member,
                           state=coupon_row and custom.coupon_state(coupon_row, now),
                           valid_through=coupon_row and custom.last_valid_day(coupon_row.expires_at,
                                                                               g.merchant.timezone),
                           refusal=refusal and refusal.translated())
    return page, (400 if refusal and request.method == "POST" else 200)


@bp.route("/coupons/redeem", methods=["POST"])
@role_required(Role.CLERK)
def redeem_coupon():
    form = forms.RedeemCouponForm()
    if not form.validate_on_submit():
        abort(400)
    with saving(quiet=True) as outcome:
        coupon = custom.redeem_coupon(g.merchant, form.code.data, by=_staff_label(), now=now_utc())
    if not outcome.ok:
        return coupons(refusal=outcome.error)
    flash(_("Coupon %(code)s redeemed.", code=coupon.code), "success")
    return redirect(url_for("keywords.coupons", code=coupon.code))


def _staff_label() -> str:
    from flask_login import current_user
    return current_user.display_name or current_user.username


# -- the wizard -----------------------------------------------------------------------------------

def _app(app_id: int, *, to_change: bool = False) -> KeywordApp:
    """The signed-in merchant's app; ``to_change``: an ended one sends the staff back to its page."""
    app = get_owned_or_404(KeywordApp, app_id)
    if to_change and app.status == AppStatus.ENDED:
        flash(_("This app has ended and can no longer be changed."), "error")
        abort(redirect(url_for("keywords.app_detail", app_id=app.id)))
    return app


def _wizard(app: KeywordApp, step: str, **context):
    return render_template("keywords/wizard.html", app=app, step=step, steps=STEPS,
                           kind_labels=forms.KIND_LABELS, labels=texts.REPLY_LABELS, **context)


@bp.route("/apps/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def app_new():
    form = forms.AppStartForm()
    if form.validate_on_submit():
        with saving() as outcome:
            app = services.create_keyword_app(g.merchant, kind=form.kind.data, name=form.name.data)
        if outcome.ok:
            return redirect(url_for("keywords.app_keywords", app_id=app.id))
    return render_template("keywords/wizard.html", app=None, step="keywords.app_new", steps=STEPS, form=form,
                           kind_labels=forms.KIND_LABELS)


@bp.route("/apps/<int:app_id>/name", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def app_name(app_id: int):
    app = _app(app_id, to_change=True)
    form = forms.AppNameForm(obj=app)
    if form.validate_on_submit():
        with saving(errors=form.name.errors) as outcome:
            services.rename_keyword_app(app, form.name.data)
        if outcome.ok:
            return redirect(url_for("keywords.app_keywords", app_id=app.id))
    return _wizard(app, "keywords.app_name", form=form), (400 if form.errors else 200)


@bp.route("/apps/<int:app_id>/keywords", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def app_keywords(app_id: int):
    app = _app(app_id, to_change=True)
    form = forms.KeywordsForm(data={"keywords": " ".join(app.keywords)} if request.method == "GET" else None)
    if form.validate_on_submit():
        with saving(errors=form.keywords.errors) as outcome:
            services.set_app_keywords(app, g.merchant, split_words(form.keywords.data))
        if outcome.ok:
            return redirect(url_for("keywords.app_replies", app_id=app.id))
    return _wizard(app, "keywords.app_keywords", form=form), (400 if form.errors else 200)


@bp.route("/apps/<int:app_id>/replies", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def app_replies(app_id: int):
    app = _app(app_id, to_change=True)
    typed = dict(app.replies or {})
    error = None
    if request.method == "POST":
        typed = {reply_id: request.form.get(reply_id, "") for reply_id in custom.reply_ids(app.kind)}
        with saving(quiet=True) as outcome:  # each reason is shown under its own box
            services.set_app_replies(app, typed)
        error = outcome.error
        if outcome.ok:
            return redirect(url_for("keywords.app_settings", app_id=app.id))
    rows = [{"id": reply_id, "text": typed.get(reply_id, ""), "default": custom.reply_default(app.kind, reply_id),
             "fields": custom.reply_fields(app, reply_id),
             # shown under its own box: the reason alone, without the reply's internal name
             "error": (error.details["reason"].translated()
                       if error is not None and error.details.get("reply_id") == reply_id else None)}
            for reply_id in custom.reply_ids(app.kind)]
    return _wizard(app, "keywords.app_replies", rows=rows, max_parts=MAX_TEXT_PARTS), (400 if error else 200)


def _local_start(day, zone: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time(0), tzinfo=zone) if day else None


@bp.route("/apps/<int:app_id>/settings", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def app_settings(app_id: int):
    app, merchant = _app(app_id, to_change=True), g.merchant
    zone = ZoneInfo(merchant.timezone)
    kind_form = _kind_form(app, zone)
    limits = forms.LimitsForm(data=None if request.method == "POST" else {
        "per_number_limit": app.per_number_limit, "extension": app.extension,
        "starts_on": app.starts_at.astimezone(zone).date() if app.starts_at else None,
        "ends_on": (app.ends_at.astimezone(zone) - timedelta(days=1)).date() if app.ends_at else None})
    if request.method == "POST" and limits.validate() and (kind_form is None or kind_form.validate()):
        ends = _local_start(limits.ends_on.data, zone)
        with saving() as outcome:
            services.set_app_limits(app, merchant, per_number_limit=limits.per_number_limit.data,
                                    starts_at=_local_start(limits.starts_on.data, zone),
                                    ends_at=ends + timedelta(days=1) if ends else None,
                                    extension=limits.extension.data)
            if kind_form is not None:
                _save_kind_settings(app, kind_form, zone)
        if outcome.ok:
            if app.kind == AppKind.COUPON and app.config.get("source") == "pool" \
                    and not services.app_figures(app)["pool_left"]:
                flash(_("The code pool is empty: texts get the 'no coupons left' reply until you add codes."),
                      "warning")
            return redirect(url_for("keywords.app_try", app_id=app.id))
    return _wizard(app, "keywords.app_settings", limits=limits, kind_form=kind_form)


def _kind_form(app: KeywordApp, zone: ZoneInfo):
    config = app.config or {}
    if request.method == "POST":
        data = None
    elif app.kind == AppKind.VOTE:
        data = {"options": "\n".join(f"{k} {label}" for k, label in custom.vote_options(app))}
    elif app.kind == AppKind.EVENT:
        data = {**config, "event_at": datetime.fromisoformat(config["event_at"]).astimezone(zone).replace(tzinfo=None)
                if config.get("event_at") else None}
    else:
        data = config
    info_form = forms.InfoReplaceForm if config.get("columns") else forms.InfoUploadForm
    form_class = {AppKind.COUPON: forms.CouponForm, AppKind.VOTE: forms.VoteForm, AppKind.EVENT: forms.EventForm,
                  AppKind.INFO: info_form}.get(app.kind)
    return form_class(data=data) if form_class else None


def _save_kind_settings(app: KeywordApp, form, zone: ZoneInfo) -> None:
    if app.kind == AppKind.COUPON:
        services.set_app_config(app, source=form.source.data, stock=form.stock.data, valid_days=form.valid_days.data,
                                prefix=form.prefix.data)
        if form.pool.data and form.pool.data.strip():
            custom.add_pool_codes(app, form.pool.data.split())
    elif app.kind == AppKind.VOTE:
        services.set_app_config(app, options=form.options.data)
    elif app.kind == AppKind.EVENT:
        services.set_app_config(app, capacity=form.capacity.data, max_seats=form.max_seats.data,
                                remind_hours=form.remind_hours.data or 0,
                                event_at=form.event_at.data.replace(tzinfo=zone))
    elif app.kind == AppKind.INFO and form.table.data:
        services.upload_info_table(app, form.table.data.read())


@bp.route("/apps/<int:app_id>/try", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def app_try(app_id: int):
    """The live test panel: what a text would get right now, with nothing kept."""
    app = _app(app_id, to_change=True)
    form = forms.TryForm(data={"text": app.keywords[0] if app.keywords else "", "extension": app.extension}
                         if request.method == "GET" else None)
    if not app.extension:
        del form.extension      # only an app with extension digits is reached through them
    replies = None
    if form.validate_on_submit():
        with saving(errors=form.msisdn.errors, keep=False):
            msisdn = normalize_msisdn(form.msisdn.data)
            extension = (form.extension.data or "") if app.extension else ""
            replies = services.try_text(g.merchant, msisdn=msisdn, text=form.text.data, now=now_utc(),
                                        extension=extension, app=app)
    return _wizard(app, "keywords.app_try", form=form, replies=replies)


@bp.route("/apps/<int:app_id>/status", methods=["POST"])
@role_required(Role.MANAGER)
def app_status(app_id: int):
    app = _app(app_id, to_change=True)
    with saving() as outcome:
        if request.form.get("status") == AppStatus.ACTIVE:
            services.activate_keyword_app(app)
        else:
            services.pause_keyword_app(app)
    if outcome.ok:
        flash(_("The app is on.") if app.status == AppStatus.ACTIVE else _("The app is paused."), "success")
    return redirect(url_for("keywords.app_detail", app_id=app.id))


@bp.route("/apps/<int:app_id>/end", methods=["POST"])
@role_required(Role.MANAGER)
def app_end(app_id: int):
    app = _app(app_id)
    with saving() as outcome:
        services.end_keyword_app(app, now=now_utc())
    if outcome.ok:
        flash(_("The app has ended: its keywords are free for other apps, what it collected stays here."),
              "success")
    return redirect(url_for("keywords.app_detail", app_id=app.id))


@bp.route("/apps/<int:app_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def app_delete(app_id: int):
    app = _app(app_id)
    name = app.name
    with saving() as outcome:
        services.delete_keyword_app(app)
    if not outcome.ok:
        return redirect(url_for("keywords.app_detail", app_id=app.id))
    flash(_("App %(name)s deleted.", name=name), "success")
    return redirect(url_for("keywords.index"))


@bp.route("/apps/<int:app_id>/signups/<int:signup_id>/cancel", methods=["POST"])
@role_required(Role.MANAGER)
def cancel_signup(app_id: int, signup_id: int):
    app = _app(app_id)
    with saving() as outcome:
        promoted = services.cancel_event_signup(app, signup_id, now=now_utc())
    if outcome.ok:
        flash(_("Sign-up cancelled; %(count)s moved up from the waiting list.", count=promoted), "success")
    return redirect(url_for("keywords.app_detail", app_id=app.id))


@bp.route("/apps/<int:app_id>/records.csv")
@role_required(Role.OWNER)
def app_records(app_id: int):
    """Everything the app collected (sign-ups, votes, coupons handed out, answered texts) as a CSV:
    member data, so for owners only, and audited."""
    app = _app(app_id)
    with saving():
        audit(AuditAction.EXPORT_APP_RECORDS, f"app {app.id}")
    encoding = csv_out.requested_encoding()
    chunks = records.records_csv(app, encoding=encoding, local_time=local_datetime)
    return csv_out.download(chunks, filename=f"app-{app.id}-{now_utc():%Y%m%d}.csv", charset=encoding)


@bp.route("/apps/<int:app_id>")
@role_required(Role.MANAGER)
def app_detail(app_id: int):
    app = _app(app_id)
    event_at = (app.config or {}).get("event_at")
    return render_template("keywords/app.html", app=app, kind_labels=forms.KIND_LABELS, steps=STEPS,
                           status_labels=forms.STATUS_LABELS, signup_labels=records.STATUS_LABELS,
                           deletable=services.can_delete_keyword_app(app),
                           event_at=datetime.fromisoformat(event_at) if event_at else None,
                           **services.app_figures(app))
