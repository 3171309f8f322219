"""mcrm/core/rows.py puts Core-inserted rows into the ORM with ``Session._register_persistent``, a
private SQLAlchemy step. The public ways (an ORM INSERT … RETURNING, or reading the row back) cost
more than the statement on the hot paths (inbox, outbox, ledger, members by SMS), so the step stays
and SQLAlchemy is pinned to the minor version these tests ran on; a new minor widens the pin only
after they pass on it."""
import configparser
import re
from pathlib import Path

import sqlalchemy as sa

from mcrm.core.rows import register_inserted
from mcrm.points.models import PointsEntry

ROOT = Path(__file__).resolve().parents[2]


def test_sqlalchemy_is_the_minor_version_register_inserted_is_checked_on():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    line = next(line.strip() for line in config["options"]["install_requires"].splitlines()
                if line.strip().lower().startswith("sqlalchemy"))
    pin = re.fullmatch(r"sqlalchemy>=(\d+\.\d+),<(\d+)\.(\d+)", line, re.IGNORECASE)
    assert pin, f"{line}: pin one minor version (sqlalchemy>=2.1,<2.2): rows.py uses a private step"
    assert sa.__version__.startswith(pin[1] + "."), "run this file on the new version, then move the pin"
    assert f"{pin[2]}.{int(pin[3]) - 1}" == pin[1], f"{line} spans more than one minor version"


def _inserted_entry(db, member, merchant, now, points):
    """A ledger row inserted with Core, and its object with every column set."""
    values = dict(member_id=member.id, merchant_id=merchant.id, kind="adjust", points=points,
                  balance_after=points, reason="test", actor="test", created_at=now, amount=None,
                  actor_staff_id=None, expires_at=None, idempotency_key=None, voids_entry_id=None)
    insert = sa.insert(PointsEntry).returning(PointsEntry.id)
    return PointsEntry(id=db.session.connection().execute(insert, values).scalar_one(), **values)


def test_a_registered_row_is_persistent_and_clean_and_gone_after_a_rollback(db, merchant, make_member, now):
    member = make_member()
    db.session.commit()
    entry = _inserted_entry(db, member, merchant, now, 5)
    register_inserted(entry)
    state = sa.inspect(entry)
    assert state.persistent and entry not in db.session.dirty and entry not in db.session.new
    db.session.rollback()
    assert not sa.inspect(entry).persistent and entry not in db.session
    # SQLite hands the rolled-back id out again: the session must take the new row without a clash
    again = _inserted_entry(db, member, merchant, now, 7)
    register_inserted(again)
    db.session.commit()
    assert db.session.get(PointsEntry, again.id).points == 7
