"""The owner's merchant settings page."""
from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from mcrm.audit.models import AuditAction
from mcrm.audit.views import audit
from mcrm.auth.access import role_required
from mcrm.auth.models import Role
from mcrm.core.clock import now_utc
from mcrm.core.saving import saving
from mcrm.merchants.forms import MerchantSettingsForm
from mcrm.merchants.services import update_rules
from mcrm.points.services import refresh_all_tiers

bp = Blueprint("merchants", __name__, url_prefix="/settings")


@bp.route("/", methods=["GET", "POST"])
@role_required(Role.OWNER)
def settings():
    merchant = g.merchant
    form = MerchantSettingsForm.for_merchant(merchant)
    if form.validate_on_submit():
        rules = form.rules()
        tiers_changed = (rules["tier_basis"], rules["tier_thresholds"], rules["tenure_bonus"]) != \
            (merchant.tier_basis, merchant.tier_thresholds, merchant.tenure_bonus)
        with saving() as outcome:
            changed = sorted(name for name, value in rules.items() if getattr(merchant, name) != value)
            update_rules(merchant, **rules)
            audit(AuditAction.SETTINGS_UPDATE, f"merchant {merchant.id}", changed=changed)
            if tiers_changed:
                # members should not wait for the monthly job to see the new thresholds
                refresh_all_tiers(merchant, now=now_utc())
        if outcome.ok:
            flash(_("Settings saved."), "success")
            return redirect(url_for("merchants.settings"))
    elif form.errors:
        flash(_("Nothing was saved: correct the fields marked below."), "error")
    return render_template("merchants/settings.html", form=form, merchant=merchant)
