import sqlalchemy as sa

from mcrm.auth.models import Staff
from mcrm.members.models import Member
from mcrm.points.models import PointsEntry


def test_merchant_and_staff_created_from_the_command_line(runner, db):
    result = runner.invoke(args=["merchant", "create", "--name", "美发沙龙", "--sub-code", "0023",
                                 "--signature", "美发沙龙"])
    assert result.exit_code == 0, result.output
    assert "service number 10657123450023" in result.output
    result = runner.invoke(args=["staff", "create", "--merchant", "0023", "--username", "Boss",
                                 "--password", "long-enough-1", "--role", "owner", "--msisdn", "13900139000"])
    assert result.exit_code == 0, result.output
    staff = db.session.scalar(sa.select(Staff).where(Staff.username == "boss"))
    assert staff.msisdn == "+8613900139000" and staff.merchant.signature == "【美发沙龙】"


def test_cli_errors_are_clear_and_change_nothing(runner, db, merchant):
    result = runner.invoke(args=["merchant", "create", "--name", "x", "--sub-code", "01", "--signature", "某店"])
    assert result.exit_code != 0 and "already used" in result.output
    result = runner.invoke(args=["staff", "create", "--merchant", "99", "--username", "u",
                                 "--password", "long-enough-1", "--role", "owner"])
    assert result.exit_code != 0 and "No merchant" in result.output
    result = runner.invoke(args=["staff", "create", "--merchant", "01", "--username", "u",
                                 "--password", "short", "--role", "owner"])
    assert result.exit_code != 0 and "at least 8" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Staff)) == 0


def test_demo_loads_once_with_consistent_ledgers(runner, db):
    result = runner.invoke(args=["demo", "--members", "40"])
    assert result.exit_code == 0, result.output
    assert "demo / demo-pass-2026" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 40
    mismatched = db.session.execute(
        sa.select(Member.id).where(Member.points_balance != sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0))
                                   .where(PointsEntry.member_id == Member.id).scalar_subquery())).all()
    assert mismatched == []
    from mcrm.keywords.models import KeywordApp
    apps = db.session.scalars(sa.select(KeywordApp)).all()
    assert sorted(a.kind for a in apps if a.status == "active") == ["coupon", "event", "info", "vote"]
    assert sum(a.uses for a in apps) == 40           # each member texted one app, answered by the engine
    from mcrm.messaging.models import InboundMessage, OutboundMessage
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)
                             .where(InboundMessage.status == "done")) == 40
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) >= 40   # the replies
    again = runner.invoke(args=["demo", "--members", "40"])
    assert "already present" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 40
