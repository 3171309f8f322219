"""Birthday greetings end to end through the real SMSC peer: the care job queues today's solar and
lunar birthdays, the gateway hands each one signed copy with the unsubscribe hint to the SMSC, the
gift points (by tier) are credited once, the opted-out member's phone gets nothing, and the job run
again, or a day replayed (``mcrm jobs run care --now``) whose occasion is the same birthday, sends
and gives nothing more."""
from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from lunardate import LunarDate

from mcrm.care import services
from mcrm.core.clock import now_utc
from mcrm.jobs.tasks import care
from mcrm.members.models import Member
from mcrm.messaging.models import MessageStatus, OutboundMessage
from mcrm.points.models import EntryKind, PointsEntry
from tests.e2e.test_gateway_smsc import MCRM, count, gateway, process_env, smsc  # noqa: F401  (fixtures)
from tests.e2e.test_keywords_smsc import texts_to
from tests.smsc_peer import wait_until

SOLAR, LUNAR, GOLD, OPTED_OUT = "8613800000001", "8613800000002", "8613800000003", "8613800000004"


def gifts(db) -> dict[str, int]:
    """The gift points credited per number."""
    rows = db.session.execute(sa.select(Member.msisdn, sa.func.sum(PointsEntry.points))
                              .join(PointsEntry, PointsEntry.member_id == Member.id)
                              .where(PointsEntry.kind == EntryKind.GIFT).group_by(Member.msisdn)).all()
    db.session.rollback()          # SQLite: never hold the write lock the gateway needs
    return {msisdn.lstrip("+"): points for msisdn, points in rows}


def test_todays_birthdays_get_one_signed_greeting_and_their_gift_once(db, merchant, make_member, smsc, gateway,
                                                                    settings):
    now = now_utc()
    today = now.astimezone(ZoneInfo(merchant.timezone)).date()
    lunar = LunarDate.from_solar_date(today.year, today.month, today.day)
    if lunar.is_leap_month:
        pytest.skip("today is in a lunar leap month, where no lunar birthday is greeted (docs/care.md)")
    merchant.send_window_start, merchant.send_window_end = (datetime.min.time(),
                                                            datetime.max.time().replace(microsecond=0))
    db.session.commit()                  # the test may run at any hour: the window is the whole day
    make_member(msisdn=SOLAR, name="王芳", birthday=f"1990-{today:%m-%d}")
    make_member(msisdn=LUNAR, name="李雷", birthday=f"农历{lunar.month:02d}{lunar.day:02d}")
    make_member(msisdn=GOLD, name="金卡会员", birthday=f"1985-{today:%m-%d}").tier = "金卡"
    make_member(msisdn=OPTED_OUT, name="退订者", birthday=f"1992-{today:%m-%d}", opted_out=True)
    make_member(msisdn="8613800000005", name="明天生日", birthday="1990-01-01" if today.month != 1 else "1990-07-01")
    services.save_greeting(merchant, kind="birthday", enabled=True, hour=0, body="{name}，{shop}祝您生日快乐！",
                           gift_points=50, gift_points_by_tier={"金卡": 200}, now=now)
    db.session.commit()

    assert care(now=now) == 4
    assert care(now=now) == 0            # the job again: the day's run is done
    db.session.rollback()
    gateway()
    wait_until(lambda: count(db, OutboundMessage.status == MessageStatus.DELIVERED) == 3, timeout=15,
               message="three greetings delivered")
    for number, name in ((SOLAR, "王芳"), (LUNAR, "李雷"), (GOLD, "金卡会员")):
        assert texts_to(smsc, number, 1) == [f"【小王烧烤】{name}，小王烧烤祝您生日快乐！回T退订"]
    assert {r["destination_addr"] for r in smsc.records("message")} == {SOLAR, LUNAR, GOLD}
    # the gift is the member's benefit: the opted-out member's stands though the text does not go
    assert gifts(db) == {SOLAR: 50, LUNAR: 50, GOLD: 200, OPTED_OUT: 50}

    # the merchant moves the greeting to the day before, and the operator replays yesterday in
    # another process: a new run whose occasion is today's birthdays, which have had theirs
    services.save_greeting(merchant, kind="birthday", enabled=True, hour=0, body="{name}，{shop}祝您生日快乐！",
                           days_before=1, gift_points=50, gift_points_by_tier={"金卡": 200}, now=now)
    db.session.commit()
    yesterday = now - timedelta(days=1)
    replay = subprocess.run([MCRM, "jobs", "run", "care", "--now", yesterday.isoformat()],
                            env=process_env(settings), capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    assert count(db, OutboundMessage.occasion.like("care:%")) == 4
    assert gifts(db) == {SOLAR: 50, LUNAR: 50, GOLD: 200, OPTED_OUT: 50}
    time.sleep(0.5)                      # the gateway polls every 20 ms: anything queued would have gone
    assert len(smsc.records("message")) == 3
