"""The segment console: saved segments in plain words, the builder with its live count, and the
member list narrowed to a segment (``/members/?segment=ID``). Managers and owners."""
import json

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.errors import DomainError, NotFoundError
from mcrm.core.msisdn import mask_msisdn
from mcrm.core.saving import saving
from mcrm.core.urls import parse_id
from mcrm.members.queries import Scope
from mcrm.members.views import LIST_SCOPES
from mcrm.segments import services
from mcrm.segments.forms import SegmentForm

bp = Blueprint("segments", __name__, url_prefix="/segments")


def _get_or_404(segment_id: int):
    try:
        return services.get_segment(g.merchant.id, segment_id)
    except NotFoundError:
        abort(404)


@bp.route("/")
@role_required(Role.MANAGER)
def index():
    segments = services.list_segments(g.merchant.id)
    return render_template("segments/index.html", segments=segments,
                           descriptions={s.id: services.describe(g.merchant.id, s.definition) for s in segments})


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:segment_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit(segment_id: int | None = None):
    segment = _get_or_404(segment_id) if segment_id else None
    form = SegmentForm(obj=segment)
    if request.method == "GET" and segment:
        form.definition.data = json.dumps(segment.definition, ensure_ascii=False)
    if form.validate_on_submit():
        with saving(errors=form.form_errors) as outcome:
            saved = services.save_segment(g.merchant.id, name=form.name.data, definition=form.definition.data,
                                          segment_id=segment_id, staff_id=current_user.id, now=now_utc())
        if outcome.ok:
            flash(_("Segment %(name)s saved", name=saved.name), "success")
            return redirect(url_for(".index"))
    return render_template("segments/edit.html", form=form, segment=segment,
                           vocabulary=services.builder_vocabulary(g.merchant.id))


@bp.route("/preview", methods=["POST"])
@role_required(Role.MANAGER)
def preview():
    """The builder's live answer: how many members, who a few of them are, and the segment in words."""
    definition = (request.get_json(silent=True) or {}).get("definition")
    now = now_utc()
    try:
        count = services.count_members(g.merchant.id, definition, now=now)
        sample = services.sample_members(g.merchant.id, definition, now=now)
        description = services.describe(g.merchant.id, definition)
    except DomainError as error:
        return jsonify(error=error.translated()), 400
    return jsonify(count=count, description=description,
                   sample=[{"url": url_for("members.detail", member_id=m.id), "msisdn": mask_msisdn(m.msisdn),
                            "name": m.name, "tier": m.tier} for m in sample])


@bp.route("/<int:segment_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete(segment_id: int):
    segment = _get_or_404(segment_id)
    with saving() as outcome:
        services.delete_segment(segment)
    if outcome.ok:
        flash(_("Segment %(name)s deleted", name=segment.name), "success")
    return redirect(url_for(".index"))


def _member_list_scope(merchant, value: str, now) -> Scope:
    """``/members/?segment=ID``: the list shows that saved segment's members, still paged by keyset."""
    try:
        segment_id = parse_id(value)
    except ValueError:  # no id, or one too big for any column (SQLite cannot even bind it)
        raise NotFoundError("No such segment") from None
    segment = services.get_segment(merchant.id, segment_id)
    return Scope(label=segment.name, member_ids=services.member_ids_select(merchant.id, segment.definition, now=now))


LIST_SCOPES["segment"] = _member_list_scope
