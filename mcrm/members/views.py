"""The members console: list, member page, create and edit, delete, opt out/in, CSV import and export.

Roles: a clerk looks members up (list, member page), enrols members and records purchases and
redemptions (points views), as a cashier does; managers and owners do everything else on members
and points.
"""
import threading
from dataclasses import replace
from collections.abc import Callable

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request,
                   url_for)
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import get_owned_or_404, role_required
from mcrm.auth.models import Role, Staff
from mcrm.core import csv_out
from mcrm.core.clock import now_utc
from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.core.saving import saving
from mcrm.core.urls import parse_id
from mcrm.extensions import db
from mcrm.formatting import local_datetime
from mcrm.members import csv_io
from mcrm.members.forms import (GENDER_CHOICES, IMPORT_FIELD_LABELS, ImportUploadForm, MemberEditForm,
                                MemberFilterForm, MemberForm, OptOutForm, format_custom_fields)
from mcrm.members.models import ImportStatus, Member, MemberImport, Source
from mcrm.merchants.models import Merchant
from mcrm.members.queries import Scope, list_members
from mcrm.members.services import (Consent, Welcome, delete_member, enrol_member, list_consent_records,
                                   list_opt_outs, member_birthday,
                                   opt_in, opt_out, opt_out_number, update_member, welcome_members)
from mcrm.points.forms import AdjustForm, PurchaseForm, RedeemForm
from mcrm.points.services import Actor, expiring_points, list_entries

bp = Blueprint("members", __name__, url_prefix="/members")

#: ledger lines per page of a member's points history
HISTORY_LINES = 50
#: members per page on a phone (base.html's script sets the cookie from the screen width): fifty
#: cards make a page a thumb scrolls for ever
PHONE_PAGE_SIZE = 20


def _region() -> str:
    return current_app.extensions["mcrm_settings"].default_region


def _filter_form() -> MemberFilterForm:
    return MemberFilterForm(request.args, tiers=[name for name, _threshold in g.merchant.tier_thresholds])


#: query argument → resolve(merchant, value, now) giving the Scope it names (NotFoundError: 404).
#: Features above members register here (segments: ``?segment=ID``), so this list never imports them
LIST_SCOPES: dict[str, Callable[[Merchant, str, object], Scope]] = {}


def _filters():
    """The filters of the list and its export, narrowed to a registered scope when the URL names one."""
    filters = _filter_form().to_filter()
    for arg, resolve in LIST_SCOPES.items():
        if request.args.get(arg):
            try:
                filters = replace(filters, scope=resolve(g.merchant, request.args[arg], now_utc()))
            except NotFoundError:
                abort(404)
    return filters


@bp.route("/")
@login_required
def index():
    form = _filter_form()
    filters = _filters()
    try:
        page = list_members(g.merchant, filters, after=request.args.get("after"),
                            before=request.args.get("before"),
                            limit=PHONE_PAGE_SIZE if request.cookies.get("mcrm_screen") == "narrow" else None)
    except ValidationError as error:
        flash(error.translated(), "warning")
        return redirect(url_for(".index", **_filter_args()))
    return render_template("members/index.html", form=form, filters=filters, page=page, query=_filter_args())


def _filter_args() -> dict:
    """The list's query string without the page cursor, for links that keep the filters."""
    return {k: v for k, v in request.args.items() if k not in ("after", "before") and v}


@bp.route("/<int:member_id>")
@login_required
def detail(member_id: int):
    member = get_owned_or_404(Member, member_id)
    before = request.args.get("before", type=parse_id)
    entries = list_entries(member, before_id=before, limit=HISTORY_LINES + 1)
    return render_template("members/detail.html", member=member, birthday=member_birthday(member),
                           entries=entries[:HISTORY_LINES], paged=before is not None,
                           older_before=entries[HISTORY_LINES - 1].id if len(entries) > HISTORY_LINES else None,
                           expiring=expiring_points(member, now=now_utc()), consents=list_consent_records(member),
                           CONSENT_EVENTS=CONSENT_EVENTS,
                           purchase_form=PurchaseForm(formdata=None), redeem_form=RedeemForm(formdata=None),
                           adjust_form=AdjustForm(formdata=None))


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.CLERK)
def new():
    form = MemberForm()
    if form.validate_on_submit():
        with saving(quiet=True) as outcome:
            now = now_utc()
            member = enrol_member(g.merchant, msisdn=form.msisdn.data, now=now, source=Source.CONSOLE,
                                  region=_region(), consent=_console_consent(), **form.member_fields())
            if form.opted_out.data:
                opt_out(member, now=now, how=_console_consent())
            welcome_members(g.merchant, [member], Welcome.of(g.merchant), now=now, actor=Actor.staff(current_user))
        if isinstance(outcome.error, ConflictError):
            link = url_for(".detail", member_id=outcome.error.details["member_id"])
            form.msisdn.errors.append(Markup('{} <a href="{}">{}</a>').format(
                _("This number is already a member."), link, _("Open that member")))
        elif outcome.error is not None:
            form.form_errors.append(outcome.error.translated())
        else:
            flash(_("Member added"), "success")
            return redirect(url_for(".detail", member_id=member.id))
    return render_template("members/form.html", form=form, member=None, welcome=Welcome.of(g.merchant))


@bp.route("/<int:member_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit(member_id: int):
    member = get_owned_or_404(Member, member_id)
    form = MemberEditForm(obj=member)
    if request.method == "GET":
        birthday = member_birthday(member)
        form.birthday.data = birthday.display() if birthday else ""
        form.tags.data = " ".join(member.tag_names)
        form.custom_fields.data = format_custom_fields(member.custom_fields)
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            update_member(member, **form.member_fields())
            _set_opted_out(member, form.opted_out.data)
        if outcome.ok:
            flash(_("Member saved"), "success")
            return redirect(url_for(".detail", member_id=member.id))
    return render_template("members/form.html", form=form, member=member)


def _set_opted_out(member: Member, wanted: bool) -> None:
    if wanted:
        opt_out(member, now=now_utc(), how=_console_consent())
    elif member.opted_out:
        opt_in(member, _console_consent(), now=now_utc())


def _console_consent() -> Consent:
    return Consent(Source.CONSOLE, f"staff {current_user.username}")


@bp.route("/<int:member_id>/opt-out", methods=["POST"])
@role_required(Role.MANAGER)
def opt_out_member(member_id: int):
    member = get_owned_or_404(Member, member_id)
    with saving() as outcome:
        _set_opted_out(member, True)
    if outcome.ok:
        flash(_("The member gets no more marketing messages"), "success")
    return redirect(url_for(".detail", member_id=member.id))


@bp.route("/<int:member_id>/opt-in", methods=["POST"])
@role_required(Role.MANAGER)
def opt_in_member(member_id: int):
    member = get_owned_or_404(Member, member_id)
    with saving() as outcome:
        _set_opted_out(member, False)
    if outcome.ok:
        flash(_("Marketing messages resumed, consent recorded"), "success")
    return redirect(url_for(".detail", member_id=member.id))


#: opt-out list lines on a page
OPT_OUT_PAGE = 50


@bp.route("/opt-outs", methods=["GET", "POST"])
@login_required
def opt_outs():
    """Numbers that asked for no marketing while not members; managers add requests made by phone."""
    form = OptOutForm()
    if form.validate_on_submit():
        if not current_user.has_role(Role.MANAGER):
            abort(403)
        note = (form.note.data or "").strip()
        detail = f"staff {current_user.username}" + (f": {note}" if note else "")
        with saving(errors=form.msisdn.errors) as outcome:
            added = opt_out_number(g.merchant, form.msisdn.data, now=now_utc(), channel=Source.CONSOLE,
                                   detail=detail, region=_region())
        if outcome.ok:
            flash(_("The number gets no more marketing messages") if added
                  else _("The number had already opted out"), "success" if added else "warning")
            return redirect(url_for(".opt_outs"))
    search = (request.args.get("q") or "").strip()
    before = request.args.get("before", type=parse_id)
    entries = list_opt_outs(g.merchant, search=search, before_id=before, limit=OPT_OUT_PAGE + 1)
    return render_template("members/opt_outs.html", form=form, entries=entries[:OPT_OUT_PAGE], search=search,
                           next_before=entries[OPT_OUT_PAGE - 1].id if len(entries) > OPT_OUT_PAGE else None)


@bp.route("/<int:member_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete(member_id: int):
    member = get_owned_or_404(Member, member_id)
    with saving() as outcome:
        delete_member(member, now=now_utc())
    if not outcome.ok:
        return redirect(url_for(".detail", member_id=member.id))
    flash(_("Member %(number)s deleted", number=member.msisdn), "success")
    return redirect(url_for(".index"))


#: the consent history's words
CONSENT_EVENTS = {"consent": _l("consented"), "opt_out": _l("opted out"), "opt_in": _l("opted in")}


# -- CSV export -----------------------------------------------------------------------------------

#: in csv_io.ExportLabels' order; the import maps them back (in either language), so an export imports
#: again unchanged
EXPORT_HEADERS = (_l("Member number"), _l("Mobile"), _l("Name"), _l("Gender"), _l("Birthday"), _l("Tags"),
                  _l("Points"), _l("Tier"), _l("Total spend"), _l("Last visit"), _l("Joined"), _l("Opted out"))


def _export_labels() -> csv_io.ExportLabels:
    """The export's words in the console's language (read by the import in both languages)."""
    return csv_io.ExportLabels(headers=[str(h) for h in EXPORT_HEADERS],
                               genders={choice.value: str(choice.label) for choice in GENDER_CHOICES},
                               yes=_("Yes"), no=_("No"), custom=_("Custom: %(name)s", name="%s"))


@bp.route("/export.csv")
@role_required(Role.OWNER)
def export():
    encoding = csv_out.requested_encoding()
    filters = _filters()
    with saving():
        audit(AuditAction.EXPORT_MEMBERS, query=_filter_args())
    chunks = csv_io.export_csv(g.merchant, filters, labels=_export_labels(), encoding=encoding,
                               local_time=local_datetime)
    return csv_out.download(chunks, filename=f"members-{now_utc():%Y%m%d}.csv", charset=encoding)


# -- CSV import -----------------------------------------------------------------------------------

#: failed lines listed on the import page; the downloadable report has them all
IMPORT_ERRORS_SHOWN = 100


@bp.route("/import", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def import_upload():
    form = ImportUploadForm()
    if form.validate_on_submit():
        with saving(errors=form.file.errors) as outcome:
            job = csv_io.create_import(g.merchant, staff_id=current_user.id, filename=form.file.data.filename,
                                       data=form.file.data.read(), header=not form.first_line_is_data.data)
        if outcome.ok:
            return redirect(url_for(".import_job", job_id=job.id))
    return render_template("members/import_upload.html", form=form)


@bp.route("/import/<int:job_id>", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def import_job(job_id: int):
    job = get_owned_or_404(MemberImport, job_id)
    mapping, error = job.mapping, None
    if request.method == "POST":
        mapping = {str(i): request.form.get(f"column-{i}", "ignore") for i in range(len(job.headers))}
        welcome = Welcome(gift="welcome_gift" in request.form, sms="welcome_sms" in request.form)
        with saving(quiet=True) as outcome:
            csv_io.start_import(job, mapping, welcome)
        if not outcome.ok:
            error = outcome.error.translated()
        else:
            _start_in_background(job.id)
            return redirect(url_for(".import_job", job_id=job.id))
    preview = csv_io.preview_rows(job) if job.status == ImportStatus.MAPPING else []
    errors = csv_io.list_import_errors(job, limit=IMPORT_ERRORS_SHOWN) if job.is_finished else []
    return render_template("members/import_job.html", job=job, preview=preview, error=error, mapping=mapping,
                           field_labels=IMPORT_FIELD_LABELS, errors=errors, stalled=job.is_stalled(now_utc()))


@bp.route("/import/<int:job_id>/status")
@role_required(Role.MANAGER)
def import_status(job_id: int):
    job = get_owned_or_404(MemberImport, job_id)
    return jsonify(status=job.status, total=job.total_lines, processed=job.processed, imported=job.imported,
                   updated=job.updated, failed=job.failed, message=job.message)


@bp.route("/import/<int:job_id>/errors.csv")
@role_required(Role.MANAGER)
def import_errors(job_id: int):
    job = get_owned_or_404(MemberImport, job_id)
    with saving():
        audit(AuditAction.EXPORT_IMPORT_ERRORS, f"import {job.id}", failed=job.failed)
    chunks = csv_io.error_report_csv(job, headers=[_("Line"), _("Reason"), *job.headers])
    return csv_out.download(chunks, filename=f"import-{job.id}-errors.csv", charset=csv_io.error_report_encoding(job))


def _start_in_background(job_id: int) -> None:
    """Run the import in a thread with its own app context, so the page can poll its progress; the
    reasons of refused lines are written in the language of the staff who started it."""
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run_import, args=(app, job_id, str(get_locale())),
                              name=f"member-import-{job_id}", daemon=True)
    thread.start()


def _run_import(app, job_id: int, locale: str) -> None:
    with app.app_context(), force_locale(locale):
        job = db.session.get(MemberImport, job_id)
        staff = db.session.get(Staff, job.staff_id) if job.staff_id else None
        actor = Actor.staff(staff) if staff else Actor("import")
        csv_io.run_import(job, db.session.get(Merchant, job.merchant_id), actor=actor,
                          region=app.extensions["mcrm_settings"].default_region, clock=now_utc)
        db.session.remove()
