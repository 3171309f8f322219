"""The feedback desk (客户反馈): the inbox with its filters, a ticket with its SMS thread, replies,
notes, statuses and assignment; tickets typed in; the response targets and the figures.

Every staff role works the inbox and answers tickets; managers and owners assign them and read the
figures; owners set the targets. Another merchant's ticket is not found (404)."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.errors import NotFoundError
from mcrm.core.saving import saving
from mcrm.feedback import services
from mcrm.feedback.forms import (KIND_LABELS, SATISFACTION_LABELS, STATUS_LABELS, AssignForm, NoteForm, ReplyForm,
                                 StatusForm, TicketForm, targets_form)
from mcrm.feedback.rules import MOVES

bp = Blueprint("feedback", __name__, url_prefix="/feedback")


@bp.context_processor
def _labels():
    return {"kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, "satisfaction_labels": SATISFACTION_LABELS}


def _ticket_or_404(ticket_id: int):
    try:
        return services.get_ticket(g.merchant, ticket_id)
    except NotFoundError:
        abort(404)


def _staff_choices(none_label: str) -> list[SelectChoice]:
    return [SelectChoice(0, none_label)] + [SelectChoice(s.id, s.display_name or s.username)
                                            for s in services.list_assignable_staff(g.merchant)]


@bp.route("/")
@role_required(Role.CLERK)
def index():
    filters = services.InboxFilter(kind=request.args.get("kind", ""), status=request.args.get("status", "open"),
                                   assignee=request.args.get("assignee", ""),
                                   overdue=request.args.get("overdue") == "1")
    if filters.assignee == "me":
        filters = services.InboxFilter(filters.kind, filters.status, str(current_user.id), filters.overdue)
    page = services.list_tickets(g.merchant, filters, now=now_utc(),
                                 after=services.InboxCursor.parse(request.args.get("after")))
    return render_template("feedback/index.html", page=page, filters=filters, now=page.as_of,
                           staff=services.list_assignable_staff(g.merchant))


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.CLERK)
def new():
    form = TicketForm()
    form.assignee_id.choices = _staff_choices(_("Nobody yet"))
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            ticket = services.create_ticket(g.merchant, msisdn=form.msisdn.data, kind=form.kind.data,
                                            text=form.text.data, now=now_utc(), actor=current_user,
                                            assignee_id=form.assignee_id.data)
        if outcome.ok:
            flash(_("Ticket %(number)s opened", number=ticket.number), "success")
            return redirect(url_for(".detail", ticket_id=ticket.id))
    return render_template("feedback/new.html", form=form)


def _render_detail(ticket, **forms):
    assign = forms.get("assign") or AssignForm(assignee_id=ticket.assignee_id or 0)
    assign.assignee_id.choices = _staff_choices(_("Nobody"))
    return render_template("feedback/detail.html", ticket=ticket, entries=services.list_entries(ticket),
                           now=now_utc(), moves=MOVES[ticket.status], reply_form=forms.get("reply") or ReplyForm(),
                           note_form=forms.get("note") or NoteForm(), status_form=StatusForm(), assign_form=assign)


@bp.route("/<int:ticket_id>")
@role_required(Role.CLERK)
def detail(ticket_id: int):
    return _render_detail(_ticket_or_404(ticket_id))


@bp.route("/<int:ticket_id>/reply", methods=["POST"])
@role_required(Role.CLERK)
def reply(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = ReplyForm()
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            services.reply_to_ticket(ticket, g.merchant, body=form.body.data, actor=current_user, now=now_utc(),
                                     idempotency_key=form.idempotency_key)
        if outcome.ok:
            flash(_("Reply queued to the member"), "success")
            return redirect(url_for(".detail", ticket_id=ticket.id))
    return _render_detail(ticket, reply=form), 400


@bp.route("/<int:ticket_id>/note", methods=["POST"])
@role_required(Role.CLERK)
def note(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = NoteForm()
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            services.add_note(ticket, body=form.body.data, actor=current_user, now=now_utc())
        if outcome.ok:
            return redirect(url_for(".detail", ticket_id=ticket.id))
    return _render_detail(ticket, note=form), 400


@bp.route("/<int:ticket_id>/status", methods=["POST"])
@role_required(Role.CLERK)
def status(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = StatusForm()
    if form.validate_on_submit():
        with saving() as outcome:
            services.move_ticket(ticket, g.merchant, to=form.status.data, now=now_utc(),
                                 ask_satisfaction=form.ask_satisfaction.data)
        if outcome.ok:
            flash(_("Ticket %(number)s is now %(status)s", number=ticket.number,
                    status=STATUS_LABELS[ticket.status]), "success")
    return redirect(url_for(".detail", ticket_id=ticket.id))


@bp.route("/<int:ticket_id>/assign", methods=["POST"])
@role_required(Role.MANAGER)
def assign(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = AssignForm()
    form.assignee_id.choices = _staff_choices(_("Nobody"))
    if form.validate_on_submit():
        with saving() as outcome:
            services.assign_ticket(ticket, g.merchant, assignee_id=form.assignee_id.data)
        if outcome.ok:
            flash(_("Assignment saved"), "success")
            return redirect(url_for(".detail", ticket_id=ticket.id))
    return _render_detail(ticket, assign=form), 400


@bp.route("/targets", methods=["GET", "POST"])
@role_required(Role.OWNER)
def targets():
    form = targets_form(services.list_target_tiers(g.merchant), services.response_targets(g.merchant))
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            services.set_response_targets(g.merchant, form.targets())
        if outcome.ok:
            flash(_("Response targets saved"), "success")
            return redirect(url_for(".targets"))
    return render_template("feedback/targets.html", form=form)


@bp.route("/figures")
@role_required(Role.MANAGER)
def figures():
    return render_template("feedback/figures.html", figures=services.ticket_figures(g.merchant, now=now_utc()))
