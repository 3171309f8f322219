"""bench/load.py, CI-sized: 20 tills for 20 s while a 2,000-message campaign sends through the
production layout on PostgreSQL; and its checks, which must catch a lost or doubled purchase and a
balance that is not its ledger's sum."""
from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from mcrm.api.models import ApiRequest
from mcrm.points.models import PointsEntry
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (bench/load.py)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_load_test_runs_ci_sized_and_finds_the_ledger_whole(capsys):
    code = load.main(["--clients", "20", "--minutes", "0.33", "--campaign", "2000", "--workers", "2",
                      "--hot-members", "200", "--campaign-wait", "60", "--database-url", PG_URL])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "OK: no purchase lost or doubled" in out
    assert "2,000 in all" in out, out   # the whole campaign was delivered


def _purchase(db, merchant, member, key: str, points: int, now, *, stored: bool = True) -> PointsEntry:
    member.points_balance += points
    entry = PointsEntry(merchant_id=merchant.id, member_id=member.id, kind="earn", points=points,
                        balance_after=member.points_balance, amount=points, reason="bench", actor="till",
                        created_at=now)
    db.session.add(entry)
    db.session.flush()
    if stored:
        db.session.add(ApiRequest(merchant_id=merchant.id, key=key, fingerprint="f" * 64, status=201,
                                  created_at=now, body={"entry": {"id": entry.id}}))
    db.session.commit()
    return entry


def test_the_checks_find_lost_doubled_and_unbalanced(app, db, merchant, make_member, now):
    member = make_member()
    kept = _purchase(db, merchant, member, "load-0-1", 58, now)
    till = load.Till(accepted={"load-0-1": kept.id})
    assert load.check(app, merchant.id, [till], now - timedelta(seconds=1)) == []

    till.accepted["load-0-2"] = kept.id + 100                     # answered, but not in the ledger
    _purchase(db, merchant, member, "load-0-3", 18, now, stored=False)   # in the ledger, no key's
    member.points_balance += 1                                    # a balance off its ledger
    db.session.commit()
    problems = load.check(app, merchant.id, [till], now - timedelta(seconds=1))
    assert [p.split(" ", 2)[1] for p in problems] == ["accepted", "keys", "purchase", "members'"], problems
