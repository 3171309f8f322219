"""Who may do what, and the merchant every query is scoped to."""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from mcrm.extensions import db


def role_required(role: str):
    """The view needs a signed-in staff of at least ``role`` (owner > manager > clerk)."""
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def current_merchant_id() -> int:
    return current_user.merchant_id


def get_owned_or_404(model, object_id: int):
    """The row with that id if it belongs to the signed-in staff's merchant, else 404.

    Another merchant's id gives the same answer as a missing one: no leak of what exists.
    """
    row = db.session.get(model, object_id)
    if row is None or row.merchant_id != current_user.merchant_id or getattr(row, "deleted_at", None):
        abort(404)
    return row
