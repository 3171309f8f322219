"""The member's latest purchase times (members.PURCHASE_TIMES), kept by the points services, answer
"at least k visits since" as the ledger does."""
from datetime import timedelta

from mcrm.members.models import PURCHASE_TIMES
from mcrm.points import services
from mcrm.points.services import Actor
from mcrm.segments.services import count_members

CLERK, MANAGER = Actor("收银员"), Actor("店长")


def times(db, member):
    db.session.expire(member)
    return [getattr(member, column) for column in PURCHASE_TIMES]


def test_purchases_keep_the_three_latest_times_newest_first(db, merchant, make_member, now):
    member = make_member()
    assert times(db, member) == [None, None, None]
    for days_ago in (9, 2, 5, 7):     # one recorded late (a clock set back) still sorts in place
        services.record_purchase(member, merchant, 100, actor=CLERK, now=now - timedelta(days=days_ago))
    db.session.commit()
    assert times(db, member) == [now - timedelta(days=d) for d in (2, 5, 7)]
    services.record_purchase(member, merchant, "0.10", actor=CLERK, now=now)     # earns no point: no entry
    db.session.commit()
    assert times(db, member)[0] == now - timedelta(days=2)


def test_a_void_takes_its_purchase_out_and_an_older_one_back(db, merchant, make_member, now):
    member = make_member(points=100)
    entries = [services.record_purchase(member, merchant, 100, actor=CLERK, now=now - timedelta(days=d))
               for d in (8, 6, 4, 2)]
    db.session.commit()
    services.void_entry(entries[2], merchant, reason="录错", actor=MANAGER, now=now)
    db.session.commit()
    assert times(db, member) == [now - timedelta(days=d) for d in (2, 6, 8)]
    assert count_members(merchant.id, {"type": "visits", "min": 3, "period": {"days": 7}}, now=now) == 0
    assert count_members(merchant.id, {"type": "visits", "min": 3, "period": {"days": 9}}, now=now) == 1
