"""The campaign console: the list, the composer with its live figures and test send, the
confirmation before sending, and the campaign page with its controls, progress and report.
Managers and owners: a clerk neither composes nor sends marketing."""
import json
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.campaigns import services
from mcrm.campaigns.forms import (AUDIENCE_ALL, AUDIENCE_BUILD, AUDIENCE_SEGMENT, FIELD_LABELS, SCHEDULE_AT,
                                  SCHEDULE_NOW, SCHEDULE_REPEAT, STATUS_BADGES, STATUS_LABELS, SUPPRESS_LABELS,
                                  CampaignForm)
from mcrm.campaigns.models import CampaignStatus, Recurrence
from mcrm.core.clock import now_utc
from mcrm.core.errors import NotFoundError
from mcrm.core.msisdn import mask_msisdn
from mcrm.core.saving import saving
from mcrm.core.urls import id_or_none
from mcrm.segments import services as segments
from mcrm.surveys import services as surveys

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

#: statuses whose figures still change: their page polls for progress
LIVE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED})
#: the controls each status offers, in the order the page shows them
CONTROLS = {CampaignStatus.SCHEDULED: ("pause", "cancel"), CampaignStatus.SENDING: ("pause", "cancel"),
            CampaignStatus.PAUSED: ("resume", "cancel")}
_ACTIONS = {
    "pause": (services.pause_campaign, _l("Campaign %(name)s paused: nothing goes out until you resume it.")),
    "resume": (services.resume_campaign, _l("Campaign %(name)s resumed.")),
    "cancel": (services.cancel_campaign, _l("Campaign %(name)s cancelled: what was not sent never will be.")),
}


@bp.context_processor
def _labels():
    return {"status_labels": STATUS_LABELS, "status_badges": STATUS_BADGES,
            "suppress_labels": SUPPRESS_LABELS, "field_labels": FIELD_LABELS}


def _get_or_404(campaign_id: int):
    try:
        return services.get_campaign(g.merchant, campaign_id)
    except NotFoundError:
        abort(404)


def _zone() -> ZoneInfo:
    return ZoneInfo(g.merchant.timezone)


@bp.route("/")
@role_required(Role.MANAGER)
def index():
    campaigns = services.list_campaigns(g.merchant)
    return render_template("campaigns/index.html", campaigns=campaigns,
                           reports=services.campaign_reports(campaigns, now=now_utc()))


# -- composing ------------------------------------------------------------------------------------

def _form(campaign=None) -> CampaignForm:
    """The composer, holding the draft's values when it opens; a post holds only what was posted (a
    field left out keeps no stale value of the draft)."""
    shown = campaign if request.method == "GET" else None
    saved = segments.list_segments(g.merchant.id)
    values = _draft_values(shown)
    if values is None and request.method == "GET":
        values = _segment_preset(request.args.get("segment", ""), saved)
    offered = surveys.list_open_surveys(g.merchant, now=now_utc())
    if campaign is not None and campaign.survey_id and campaign.survey_id not in {s.id for s in offered}:
        offered.append(surveys.get_survey(g.merchant, campaign.survey_id))   # the draft's, closed since
    return CampaignForm(segments=saved, coupon_apps=services.list_coupon_apps(g.merchant), surveys=offered,
                        data=values)


def _segment_preset(asked: str, saved: list) -> dict | None:
    """``/campaigns/new?segment=ID`` (the Segments page's link): that saved segment already chosen.
    An id that is not one of the merchant's segments chooses nothing."""
    chosen = next((s for s in saved if str(s.id) == asked), None)
    return {"audience": AUDIENCE_SEGMENT, "segment_id": chosen.id} if chosen else None


def _draft_values(campaign) -> dict | None:
    if campaign is None:
        return None
    once = campaign.recurrence is Recurrence.ONCE
    return {"name": campaign.name, "body": campaign.body, "segment_id": campaign.segment_id,
            "coupon_app_id": campaign.coupon_app_id, "survey_id": campaign.survey_id,
            "audience": (AUDIENCE_SEGMENT if campaign.segment_id else
                         AUDIENCE_BUILD if campaign.segment_definition.get("items") else AUDIENCE_ALL),
            "definition": json.dumps(campaign.segment_definition, ensure_ascii=False),
            "schedule": (SCHEDULE_REPEAT if not once else SCHEDULE_AT if campaign.send_at else SCHEDULE_NOW),
            "send_at": (campaign.send_at.astimezone(_zone()).replace(tzinfo=None) if campaign.send_at
                        else None),
            "recurrence": Recurrence.DAILY.value if once else campaign.recurrence.value}


def _audience(audience: str, segment_id, definition) -> dict:
    """The service's audience arguments for what the composer chose: nothing is every member."""
    if audience == AUDIENCE_SEGMENT:
        return {"segment_id": segment_id}
    if audience == AUDIENCE_BUILD:
        return {"segment": definition}
    return {}


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit(campaign_id: int | None = None):
    campaign = _get_or_404(campaign_id) if campaign_id else None
    if campaign is not None and campaign.status is not CampaignStatus.DRAFT:
        flash(_("A campaign that was sent or scheduled cannot change; copy it into a new one instead."),
              "warning")
        return redirect(url_for(".detail", campaign_id=campaign.id))
    form = _form(campaign)
    if form.validate_on_submit():
        fields = dict(name=form.name.data, body=form.body.data, send_at=form.send_at_utc(_zone()),
                      recurrence=form.chosen_recurrence(), coupon_app_id=form.coupon_app_id.data,
                      survey_id=form.survey_id.data,
                      **_audience(form.audience.data, form.segment_id.data, form.definition.data))
        with saving(errors=form.form_errors) as outcome:
            if campaign is None:
                campaign = services.create_campaign(g.merchant, actor=current_user, now=now_utc(), **fields)
            else:
                # the audience not chosen any more is cleared
                services.update_campaign(campaign, now=now_utc(),
                                         **{"segment": None, "segment_id": None, **fields})
        if outcome.ok:
            return redirect(url_for(".confirm", campaign_id=campaign.id))
    return render_template("campaigns/edit.html", form=form, campaign=campaign,
                           fields=services.FIELDS, sender=_test_phone(), most_parts=services.MAX_TEXT_PARTS,
                           vocabulary=segments.builder_vocabulary(g.merchant.id))


def _test_phone() -> str | None:
    return mask_msisdn(current_user.msisdn) if current_user.msisdn else None


def _json_body() -> dict:
    answer = request.get_json(silent=True)
    return answer if isinstance(answer, dict) else {}


def _optional_id(value) -> int | None:
    """An id the composer's script sent, or None for anything no row can have."""
    return id_or_none(value) if isinstance(value, int) and not isinstance(value, bool) else None


@bp.route("/preview", methods=["POST"])
@role_required(Role.MANAGER)
def preview():
    """The composer's live figures: recipients, the longest text and its SMS parts, parts in all,
    coupons left, and what would stop the campaign from going out."""
    asked = _json_body()
    audience = _audience(asked.get("audience"), _optional_id(asked.get("segment_id")),
                         asked.get("definition"))
    # it only reads: nothing is kept, so SQLite's write lock is free for the dispatch job at once
    with saving(quiet=True, keep=False) as outcome:
        figures = services.preview(g.merchant, body=str(asked.get("body") or ""), now=now_utc(),
                                   coupon_app_id=_optional_id(asked.get("coupon_app_id")),
                                   survey_id=_optional_id(asked.get("survey_id")), **audience)
        saved = audience.get("segment_id")
        words = _audience_words(segments.get_segment(g.merchant.id, saved).definition if saved
                                else audience.get("segment"))
    if not outcome.ok:
        return jsonify(error=outcome.error.translated()), 400
    return jsonify(audience=words, recipients=figures.recipients, opted_out=figures.opted_out,
                   chars=figures.chars, parts=figures.parts, total_parts=figures.total_parts,
                   longest_text=figures.longest_text,
                   longest_values={k: str(v) for k, v in figures.longest_values.items()},
                   coupons_available=figures.coupons_available,
                   problems=[problem.translated() for problem in figures.problems])


@bp.route("/test", methods=["POST"])
@role_required(Role.MANAGER)
def test_send():
    """Queue the text, as it stands in the composer, once to the signed-in staff's own phone."""
    asked = _json_body()
    with saving(quiet=True) as outcome:
        services.send_test(str(asked.get("body") or ""), merchant=g.merchant, actor=current_user,
                           now=now_utc(), coupon_app_id=_optional_id(asked.get("coupon_app_id")),
                           survey_id=_optional_id(asked.get("survey_id")))
    if not outcome.ok:
        return jsonify(error=outcome.error.translated()), 400
    return jsonify(message=_("Test sent to %(number)s.", number=_test_phone()))


@bp.route("/<int:campaign_id>/confirm")
@role_required(Role.MANAGER)
def confirm(campaign_id: int):
    """The last step: who gets it, how many SMS it costs and when it goes, before anything is sent."""
    campaign = _get_or_404(campaign_id)
    if campaign.status is not CampaignStatus.DRAFT:
        return redirect(url_for(".detail", campaign_id=campaign.id))
    figures = services.preview_campaign(campaign, now=now_utc())
    return render_template("campaigns/confirm.html", campaign=campaign, figures=figures,
                           problems=[problem.translated() for problem in figures.problems],
                           audience=_audience_words(campaign.segment_definition),
                           coupon_names={app.id: app.name for app in services.list_coupon_apps(g.merchant)},
                           survey=_invited(campaign))


def _invited(campaign):
    """The survey the campaign invites to, for its pages (None: no invitation, or the survey is gone)."""
    return surveys.get_survey(g.merchant, campaign.survey_id) if campaign.survey_id else None


def _audience_words(definition) -> str:
    """The audience in plain words (``金卡 且 5月生日``); no conditions (None) is every member."""
    normalized = segments.check_definition(g.merchant.id, definition)
    return segments.describe(g.merchant.id, normalized) if normalized["items"] else _("All members")


@bp.route("/<int:campaign_id>/launch", methods=["POST"])
@role_required(Role.MANAGER)
def launch(campaign_id: int):
    campaign = _get_or_404(campaign_id)
    with saving() as outcome:
        services.launch_campaign(campaign, now=now_utc())
    if not outcome.ok:
        return redirect(url_for(".confirm", campaign_id=campaign.id))
    if campaign.send_at:
        flash(_("Campaign %(name)s scheduled.", name=campaign.name), "success")
    else:
        flash(_("Campaign %(name)s is on its way: sending starts within a minute.", name=campaign.name),
              "success")
    return redirect(url_for(".detail", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/copy", methods=["POST"])
@role_required(Role.MANAGER)
def copy(campaign_id: int):
    """A new draft with the text, audience and coupon app of a campaign, to send again or adapt."""
    campaign = _get_or_404(campaign_id)
    audience = ({"segment_id": campaign.segment_id} if campaign.segment_id
                else {"segment": campaign.segment_definition})
    with saving() as outcome:
        draft = services.create_campaign(g.merchant, name=campaign.name, body=campaign.body,
                                         coupon_app_id=campaign.coupon_app_id, survey_id=campaign.survey_id,
                                         actor=current_user,
                                         now=now_utc(), **audience)
    if not outcome.ok:     # the saved segment or coupon app it used is gone
        return redirect(url_for(".detail", campaign_id=campaign.id))
    flash(_("A new draft with the text and audience of %(name)s: change what you need, then send it.",
            name=campaign.name), "success")
    return redirect(url_for(".edit", campaign_id=draft.id))


@bp.route("/<int:campaign_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete(campaign_id: int):
    campaign = _get_or_404(campaign_id)
    with saving() as outcome:
        services.delete_campaign(campaign)
    if not outcome.ok:
        return redirect(url_for(".detail", campaign_id=campaign.id))
    flash(_("Draft %(name)s deleted.", name=campaign.name), "success")
    return redirect(url_for(".index"))


# -- sending and the report ------------------------------------------------------------------------

@bp.route("/<int:campaign_id>")
@role_required(Role.MANAGER)
def detail(campaign_id: int):
    campaign = _get_or_404(campaign_id)
    now = now_utc()
    return render_template("campaigns/detail.html", campaign=campaign, live=campaign.status in LIVE,
                           report=services.campaign_report(campaign, now=now),
                           controls=CONTROLS.get(campaign.status, ()),
                           runs=[(run, services.run_report(run, now=now)) for run in campaign.runs],
                           audience=_audience_words(campaign.segment_definition), survey=_invited(campaign))


@bp.route("/<int:campaign_id>/progress")
@role_required(Role.MANAGER)
def progress(campaign_id: int):
    """What the campaign page's progress bar and figures show, polled while the campaign is live."""
    campaign = _get_or_404(campaign_id)
    report = services.campaign_report(campaign, now=now_utc())
    return jsonify(status=campaign.status.value, status_label=str(STATUS_LABELS[campaign.status]),
                   live=campaign.status in LIVE, **_figures(report))


def _figures(report) -> dict:
    return {"targeted": report.targeted, "processed": report.processed, "queued": report.queued,
            "submitted": report.submitted, "delivered": report.delivered, "failed": report.failed,
            "suppressed": report.suppressed_total, "replies": report.replies,
            "coupons_issued": report.coupons_issued, "coupons_redeemed": report.coupons_redeemed,
            "redeemed_spend": str(report.redeemed_spend), "survey_invited": report.survey_invited,
            "survey_responses": report.survey_responses, "survey_completions": report.survey_completions,
            "suppressed_by_reason": {str(SUPPRESS_LABELS.get(reason, reason)): count
                                     for reason, count in report.suppressed.items()}}


@bp.route("/<int:campaign_id>/<any(pause, resume, cancel):action>", methods=["POST"])
@role_required(Role.MANAGER)
def control(campaign_id: int, action: str):
    campaign = _get_or_404(campaign_id)
    act, done = _ACTIONS[action]
    with saving() as outcome:
        act(campaign, now=now_utc())
    if outcome.ok:
        flash(done % {"name": campaign.name}, "success")
    return redirect(url_for(".detail", campaign_id=campaign.id))
