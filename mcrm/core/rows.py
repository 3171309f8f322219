"""ORM objects for rows written with Core statements on the hot paths (inbox, outbox, ledger,
members by SMS), where the ORM's unit of work would cost several times the statement itself."""
import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached

from mcrm.extensions import db


def as_loaded(model, values: dict):
    """A detached ``model`` instance for a row that holds exactly ``values`` (every column), as if
    just read: its attributes are filled the way the ORM fills a loaded row, without the attribute
    events a constructor fires, which cost more than the INSERT itself."""
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def register_inserted(obj) -> None:
    """Put an object whose row was just inserted with a Core statement (every column set on it) into
    the session as the ORM's flush leaves its own: persistent and clean, and expunged again if the
    transaction is rolled back. Added as a detached object instead, it would stay after a rollback
    and clash with the next row given its id (SQLite hands out a rolled-back id again).

    ``_register_persistent`` is SQLAlchemy's private step after a flush's INSERT; the public ways (an
    ORM INSERT … RETURNING, a read back) cost more than the statement here. So setup.cfg pins
    SQLAlchemy's minor version, and tests/mcrm/test_core_rows.py says when to move the pin."""
    db.session.add(obj)
    db.session()._register_persistent({sa.inspect(obj)})
