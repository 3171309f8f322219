from flask import Blueprint, g, render_template
from flask_login import login_required
import sqlalchemy as sa

from mcrm.extensions import db
from mcrm.members.models import Member

bp = Blueprint("members", __name__, url_prefix="/members")


@bp.route("/")
@login_required
def index():
    members = db.session.scalars(sa.select(Member).where(Member.merchant_id == g.merchant.id,
                                                         Member.deleted_at.is_(None))
                                 .order_by(Member.id.desc()).limit(50)).all()
    return render_template("members/index.html", members=members)
