from flask import Blueprint, g, render_template
from flask_login import login_required

from mcrm.core.clock import now_utc
from mcrm.dashboard.services import dashboard_figures
from mcrm.keywords.forms import CouponLookupForm
from mcrm.keywords.services import has_coupon_app

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@login_required
def index():
    figures = dashboard_figures(g.merchant, now=now_utc())
    coupon_form = CouponLookupForm(formdata=None, meta={"csrf": False}) if has_coupon_app(g.merchant) else None
    return render_template("dashboard/index.html", figures=figures, coupon_form=coupon_form)
