"""The survey console: the list, the builder (survey settings and its questions) and the results
with their CSV and XLSX, of every texter or of a saved segment's members. Managers and owners build;
every role reads results (docs/surveys.md)."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.campaigns.services import get_coupon_app, list_coupon_apps
from mcrm.core import csv_out, xlsx_out
from mcrm.core.clock import now_utc
from mcrm.core.errors import DomainError, NotFoundError
from mcrm.core.saving import saving
from mcrm.core.urls import parse_id
from mcrm.formatting import local_datetime
from mcrm.segments import services as segments
from mcrm.surveys import services
from mcrm.surveys.charts import bar_chart
from mcrm.surveys.forms import KIND_LABELS, QuestionForm, SurveyForm

bp = Blueprint("surveys", __name__, url_prefix="/surveys")


def _survey_or_404(survey_id: int):
    try:
        return services.get_survey(g.merchant, survey_id)
    except NotFoundError:
        abort(404)


def _question_or_404(survey, question_id: int):
    try:
        return services.get_question(survey, question_id)
    except NotFoundError:
        abort(404)


@bp.context_processor
def _labels():
    return {"kind_labels": KIND_LABELS, "is_open": lambda survey: services.is_open(survey, now=now_utc())}


@bp.route("/")
@role_required(Role.CLERK)
def index():
    return render_template("surveys/index.html", surveys=services.list_surveys(g.merchant))


def _local(value: datetime | None) -> datetime | None:
    """A naive local time typed in the form as an aware one in the shop's zone, and back."""
    if value is None:
        return None
    zone = ZoneInfo(g.merchant.timezone)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone).replace(tzinfo=None)


def _survey_fields(form: SurveyForm) -> dict:
    return {"code": form.code.data, "title": form.title.data, "intro": form.intro.data, "thanks": form.thanks.data,
            "opens_at": _local(form.opens_at.data), "closes_at": _local(form.closes_at.data),
            "timeout_hours": form.timeout_hours.data, "max_reasks": form.max_reasks.data,
            "reward_points": form.reward_points.data, "extension": form.extension.data,
            "reward_coupon_app_id": _coupon_app_id(form)}


def _coupon_app_id(form: SurveyForm) -> int | None:
    """The chosen reward coupon app, checked to be the merchant's live one (a ValidationError the
    form shows): surveys sit below the coupon apps and cannot check it themselves."""
    app = get_coupon_app(g.merchant, form.reward_coupon_app_id.data)
    return app.id if app else None


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def new():
    form = SurveyForm(coupon_apps=list_coupon_apps(g.merchant))
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            survey = services.create_survey(g.merchant, **_survey_fields(form))
        if outcome.ok:
            flash(_("Survey %(code)s created: now add its questions", code=survey.code), "success")
            return redirect(url_for(".edit", survey_id=survey.id))
    return render_template("surveys/edit.html", form=form, survey=None)


@bp.route("/<int:survey_id>", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit(survey_id: int):
    survey = _survey_or_404(survey_id)
    form = SurveyForm(obj=survey, coupon_apps=list_coupon_apps(g.merchant))
    if request.method == "GET":
        form.opens_at.data, form.closes_at.data = _local(survey.opens_at), _local(survey.closes_at)
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            services.update_survey(survey, **_survey_fields(form))
        if outcome.ok:
            flash(_("Survey %(code)s saved", code=survey.code), "success")
            return redirect(url_for(".edit", survey_id=survey.id))
    return render_template("surveys/edit.html", form=form, survey=survey, question_form=QuestionForm(formdata=None),
                           questions=services.list_questions(survey), started=services.is_started(survey))


@bp.route("/<int:survey_id>/state", methods=["POST"])
@role_required(Role.MANAGER)
def set_state(survey_id: int):
    survey = _survey_or_404(survey_id)
    active = request.form.get("active") == "1"
    with saving() as outcome:
        services.set_survey_active(survey, active)
    if outcome.ok:
        flash(_("Survey %(code)s is open", code=survey.code) if active
              else _("Survey %(code)s is closed", code=survey.code), "success")
    return redirect(url_for(".edit", survey_id=survey.id))


def _question_fields(form: QuestionForm) -> dict:
    return {"kind": form.kind.data, "text": form.text.data, "options": form.option_list(),
            "branches": form.branches.data or "", "reask_text": form.reask_text.data}


@bp.route("/<int:survey_id>/questions/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def new_question(survey_id: int):
    survey = _survey_or_404(survey_id)
    form = QuestionForm()
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            question = services.add_question(survey, **_question_fields(form))
        if outcome.ok:
            flash(_("Question %(number)s added", number=question.position), "success")
            return redirect(url_for(".edit", survey_id=survey.id))
    return render_template("surveys/question.html", form=form, survey=survey, question=None)


@bp.route("/<int:survey_id>/questions/<int:question_id>", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit_question(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    question = _question_or_404(survey, question_id)
    # the stored question fills a GET only: a field a POST leaves out is empty, never the old value
    form = QuestionForm(data=None if request.method == "POST" else {
        "kind": question.kind, "text": question.text, "reask_text": question.reask_text,
        "options": "\n".join(question.options),
        "branches": "\n".join(f"{letter}={target}" for letter, target in sorted(question.branches.items()))})
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            services.update_question(survey, question.id, **_question_fields(form))
        if outcome.ok:
            flash(_("Question %(number)s saved", number=question.position), "success")
            return redirect(url_for(".edit", survey_id=survey.id))
    return render_template("surveys/question.html", form=form, survey=survey, question=question)


@bp.route("/<int:survey_id>/questions/<int:question_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete_question(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    question = _question_or_404(survey, question_id)
    with saving() as outcome:
        services.remove_question(survey, question.id)
    if outcome.ok:
        flash(_("Question removed"), "success")
    return redirect(url_for(".edit", survey_id=survey.id))


@bp.route("/<int:survey_id>/questions/<int:question_id>/move", methods=["POST"])
@role_required(Role.MANAGER)
def move_question(survey_id: int, question_id: int):
    survey = _survey_or_404(survey_id)
    question = _question_or_404(survey, question_id)
    with saving():
        services.move_question(survey, question.id, -1 if request.form.get("direction") == "up" else 1)
    return redirect(url_for(".edit", survey_id=survey.id))


def _segment_numbers():
    """The saved segment ``?segment=ID`` filters by, and the SELECT of its members' numbers; (None,
    None) for every texter. Another merchant's segment is 404, one naming a tier or tag that is
    gone 400 (the Segments page says why)."""
    segment_id = request.args.get("segment", type=parse_id)
    if not segment_id:
        return None, None
    try:
        segment = segments.get_segment(g.merchant.id, segment_id)
        return segment, segments.member_msisdns_select(g.merchant.id, segment.definition, now=now_utc())
    except NotFoundError:
        abort(404)
    except DomainError:
        abort(400)


@bp.route("/<int:survey_id>/results")
@role_required(Role.CLERK)
def results(survey_id: int):
    survey = _survey_or_404(survey_id)
    segment, msisdns = _segment_numbers()
    found = services.survey_results(survey, msisdns=msisdns)
    return render_template("surveys/results.html", survey=survey, results=found, segment=segment,
                           segments=segments.list_segments(g.merchant.id),
                           charts={r.question.id: bar_chart(r.counts) for r in found.questions if r.counts})


def _answer_table(survey, cell):
    """The exports' header and rows, one per answer (of the chosen segment's members). Exports of
    member data are for owners, who see whole numbers. ``cell`` makes a texted text safe for the file."""
    _segment, msisdns = _segment_numbers()
    headers = [_("Mobile"), _("Started"), _("Completed"), _("Question"), _("Text sent"), _("Answer"), _("Received")]
    rows = ([row.msisdn, local_datetime(row.started_at), local_datetime(row.completed_at), row.position,
             cell(row.text), cell(row.value), local_datetime(row.received_at)]
            for row in services.iter_answers(survey, msisdns=msisdns))
    return headers, rows


def _filename(survey, extension: str) -> str:
    return f"survey-{survey.code}-{now_utc():%Y%m%d}.{extension}"


@bp.route("/<int:survey_id>/answers.csv")
@role_required(Role.OWNER)
def answers_csv(survey_id: int):
    """Every answer, streamed: member data, so for owners only, and audited."""
    survey = _survey_or_404(survey_id)
    encoding = csv_out.requested_encoding()
    with saving():
        audit(AuditAction.EXPORT_SURVEY_ANSWERS, f"survey {survey.id}", file_format="csv")
    headers, rows = _answer_table(survey, csv_out.safe_cell)
    chunks = csv_out.csv_chunks(headers, rows, codec=csv_out.ENCODINGS[encoding])
    return csv_out.download(chunks, filename=_filename(survey, "csv"), charset=encoding)


@bp.route("/<int:survey_id>/answers.xlsx")
@role_required(Role.OWNER)
def answers_xlsx(survey_id: int):
    """Every answer, the CSV's columns, as a workbook (its texts are never formulas): owners only."""
    survey = _survey_or_404(survey_id)
    with saving():
        audit(AuditAction.EXPORT_SURVEY_ANSWERS, f"survey {survey.id}", file_format="xlsx")
    headers, rows = _answer_table(survey, lambda text: text)
    return xlsx_out.download(xlsx_out.xlsx_file(headers, rows, sheet=survey.code), filename=_filename(survey, "xlsx"))
