"""The agenda console: a day and a week of items (phone-sized too), and the item form. Every staff
role sees its shop's agenda and adds items; a clerk changes only the items they added."""
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from mcrm.agenda import services, texts
from mcrm.agenda.forms import REPEAT_LABELS, WEEKDAY_LABELS, ItemForm
from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.errors import NotFoundError
from mcrm.core.saving import saving
from mcrm.messaging.store import count_parts
from mcrm.messaging.texts import MAX_TEXT_PARTS

bp = Blueprint("agenda", __name__, url_prefix="/agenda")


def _day() -> date:
    """The ``day`` asked for (YYYY-MM-DD), else today in the shop's zone."""
    try:
        return date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return services.local_today(g.merchant, now_utc())


def _changeable_or_404(item_id: int):
    try:
        item = services.get_item(g.merchant, item_id)
    except NotFoundError:
        abort(404)
    if not services.can_change(current_user, item):
        abort(403)
    return item


@bp.context_processor
def _labels():
    return {"repeat_labels": REPEAT_LABELS, "weekday_labels": WEEKDAY_LABELS,
            "can_change": lambda item: services.can_change(current_user, item)}


@bp.route("/")
@role_required(Role.CLERK)
def day():
    shown = _day()
    return render_template("agenda/day.html", day=shown, today=services.local_today(g.merchant, now_utc()),
                           occurrences=services.list_occurrences(g.merchant, shown, 1),
                           previous=shown - timedelta(days=1), following=shown + timedelta(days=1))


@bp.route("/week")
@role_required(Role.CLERK)
def week():
    monday = _day() - timedelta(days=_day().weekday())
    return render_template("agenda/week.html", days=services.list_days(g.merchant, monday, 7), monday=monday,
                           today=services.local_today(g.merchant, now_utc()),
                           previous=monday - timedelta(weeks=1), following=monday + timedelta(weeks=1))


def _form(item=None) -> ItemForm:
    zone = ZoneInfo(g.merchant.timezone)
    form = ItemForm(obj=item)
    form.staff_ids.choices = [SelectChoice(s.id, s.display_name or s.username)
                              for s in services.list_staff_choices(g.merchant)]
    if request.method == "GET" and item is not None:
        form.starts_at.data = item.starts_at.astimezone(zone).replace(tzinfo=None)
        form.repeat.data = item.repeat.value
        form.staff_ids.data = [s.id for s in item.staff]
        form.member_msisdns.data = "\n".join(m.msisdn for m in item.members)
    return form


def _fields(form: ItemForm) -> dict:
    return {"title": form.title.data, "starts_at": form.starts_at.data, "place": form.place.data,
            "repeat": form.repeat.data, "remind_minutes": form.remind_minutes.data,
            "escalate_minutes": form.escalate_minutes.data, "staff_ids": form.staff_ids.data,
            "member_msisdns": form.msisdns()}


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.CLERK)
def new():
    form = _form()
    if request.method == "GET" and request.args.get("day"):
        form.starts_at.data = datetime.combine(_day(), time(9, 0))
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            item = services.create_item(g.merchant, now=now_utc(), actor=current_user, **_fields(form))
        if outcome.ok:
            flash(_("Added %(title)s", title=item.title), "success")
            return redirect(url_for(".day", day=form.starts_at.data.date().isoformat()))
    return render_template("agenda/edit.html", form=form, item=None)


@bp.route("/<int:item_id>", methods=["GET", "POST"])
@role_required(Role.CLERK)
def edit(item_id: int):
    item = _changeable_or_404(item_id)
    form = _form(item)
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            services.update_item(item, g.merchant, now=now_utc(), **_fields(form))
        if outcome.ok:
            flash(_("Saved %(title)s", title=item.title), "success")
            return redirect(url_for(".day", day=form.starts_at.data.date().isoformat()))
    return render_template("agenda/edit.html", form=form, item=item, reminders=services.list_reminders(item))


@bp.route("/<int:item_id>/delete", methods=["POST"])
@role_required(Role.CLERK)
def delete(item_id: int):
    item = _changeable_or_404(item_id)
    with saving() as outcome:
        services.delete_item(item, now=now_utc())
    if outcome.ok:
        flash(_("Deleted %(title)s", title=item.title), "success")
    return redirect(url_for(".day"))


@bp.route("/texts", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def texts_page():
    """The wordings of the agenda's SMS; Preview fills the typed text in (or shows why it is
    refused) without saving, Save keeps it, an empty text puts the default back."""
    typed, previews, errors = {}, {}, {}
    if request.method == "POST":
        name = request.form.get("name", "")
        if name not in texts.NAMES:
            abort(400)
        typed[name], errors[name] = request.form.get("body", "").strip(), []
        if request.form.get("action") == "save":
            with saving(errors=errors[name]) as outcome:
                texts.set_text(g.merchant, name, typed[name], now=now_utc())
            if outcome.ok:
                flash(_("Agenda text saved."), "success")
                return redirect(url_for(".texts_page") + f"#{name}")
        else:
            with saving(errors=errors[name], keep=False) as outcome:
                shown = texts.preview(g.merchant, name, typed[name], now=now_utc())
            if outcome.ok:
                previews[name] = {"text": shown, "shape": count_parts(shown)}
    rows = [{"id": name, "text": typed.get(name, text), "custom": custom, "fields": texts.FIELDS[name],
             "default": texts.default_text(g.merchant, name), "preview": previews.get(name),
             "error": (errors.get(name) or [None])[0]}
            for name, text, custom in texts.list_texts(g.merchant)]
    return (render_template("agenda/texts.html", rows=rows, labels=texts.LABELS, max_parts=MAX_TEXT_PARTS),
            400 if any(errors.values()) else 200)
