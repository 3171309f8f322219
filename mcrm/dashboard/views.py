from flask import Blueprint, g, render_template
from flask_login import login_required

from mcrm.core.clock import now_utc
from mcrm.dashboard.services import dashboard_figures

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@login_required
def index():
    figures = dashboard_figures(g.merchant, now=now_utc())
    return render_template("dashboard/index.html", figures=figures)
