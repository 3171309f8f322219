"""The Alembic migrations build exactly the schema the models describe."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from datetime import UTC

from mcrm.db import include_schema_object


def test_models_and_migrations_agree(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": include_schema_object(connection.dialect.name)})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_migrations_are_a_single_line_of_history(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Config  # noqa: F401
    script = ScriptDirectory(app.extensions["migrate"].directory)
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        assert revision.doc and revision.doc.strip(), f"revision {revision.revision} has no message"



def test_the_opt_out_list_migration_keeps_the_stop_of_members_deleted_before_it(db, merchant, make_member, now):
    from flask_migrate import downgrade, upgrade

    from mcrm.members.models import OptOut
    from mcrm.members.services import opt_out
    stopped, kept = make_member(msisdn="13800138000"), make_member(msisdn="13800138001")
    opt_out(stopped, now=now)
    stopped.deleted_at = kept.deleted_at = now  # deleted the old way: the flag stays on the row only
    db.session.commit()
    db.session.close()
    downgrade(revision="058fe0f41561")
    upgrade()
    assert [(o.msisdn, o.opted_out_at, o.channel) for o in db.session.scalars(sa.select(OptOut))] == \
        [("+8613800138000", now, "member")]


def test_the_tier_rule_migration_keeps_tier_names_moves_cycle_end_expiries_and_fills_purchase_amounts(
        db, make_merchant, make_member):
    from datetime import date, datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from flask_migrate import downgrade, upgrade

    from mcrm.core.clock import now_utc
    from mcrm.merchants.models import Merchant
    from mcrm.points.rules import ExpiryRule
    from mcrm.points.models import PointsEntry
    shanghai = ZoneInfo("Asia/Shanghai")
    old_tiers = [["普通", 0], ["银卡", 1000], ["金卡", 2000]]
    merchant = make_merchant(name="老店", sub_code="07", signature="老店", tier_thresholds=old_tiers,
                             points_expiry_policy="cycle_end", points_cycle_end_month=11, points_per_yuan=2)
    member = make_member(merchant=merchant)
    db.session.commit()
    merchant_id, member_id = merchant.id, member.id
    db.session.close()
    downgrade(revision="03710c321233")
    # a lot earned today lapsed when its own cycle ended: one cycle before the rule's date now
    earned = now_utc()
    expires = ExpiryRule(policy="cycle_end", cycle_end_month=11, timezone="Asia/Shanghai").expires_at(earned)

    def stored(moment):  # naive UTC, as the column holds it
        return moment.astimezone(UTC).replace(tzinfo=None)
    old_rule = {stored(earned): stored(expires.replace(year=expires.year - 1)),
                datetime(2024, 10, 1, 4): datetime(2024, 11, 30, 16)}  # lapsed on 1 December 2024, Shanghai
    with db.engine.begin() as connection:
        for points, (created_at, expires_at) in zip((7, 10), old_rule.items(), strict=True):  # earn rows with no amount
            connection.execute(sa.text(
                "INSERT INTO points_entries (merchant_id, member_id, kind, points, balance_after, reason, "
                "actor, created_at, expires_at) VALUES (:m, :p, 'earn', :n, :n, '', '', :c, :e)").bindparams(
                sa.bindparam("c", type_=sa.DateTime), sa.bindparam("e", type_=sa.DateTime)),
                {"m": merchant_id, "p": member_id, "n": points, "c": created_at, "e": expires_at})
    upgrade()
    merchant = db.session.get(Merchant, merchant_id)
    assert merchant.tier_thresholds == old_tiers and merchant.tier_basis == "last_year"
    entries = db.session.execute(sa.select(PointsEntry.expires_at, PointsEntry.amount)
                                 .where(PointsEntry.member_id == member_id).order_by(PointsEntry.created_at)).all()
    assert [e.expires_at.astimezone(shanghai).date() for e in entries] == [date(2024, 12, 1), expires.date()]
    assert [e.amount for e in entries] == [Decimal("5.00"), Decimal("3.50")]  # points / 2 points a yuan


def test_the_name_key_migration_gives_existing_members_their_pinyin_key(db, merchant, make_member):
    from flask_migrate import downgrade, upgrade

    from mcrm.members.models import Member
    named, unnamed = make_member(msisdn="13800138000", name="张三").id, make_member(msisdn="13800138001").id
    db.session.close()
    downgrade(revision="03710c321233")
    upgrade()
    keys = dict(db.session.execute(sa.select(Member.id, Member.name_key)).all())
    assert keys == {named: "zhang1张san1三", unnamed: ""}


def test_the_purchase_times_migration_fills_them_from_the_ledger_without_voided_purchases(
        db, merchant, make_member, now):
    from datetime import timedelta

    from flask_migrate import downgrade, upgrade

    from mcrm.members.models import Member
    from mcrm.points.services import Actor, record_purchase, void_entry
    member = make_member(points=100)
    entries = [record_purchase(member, merchant, 100, actor=Actor("收银员"), now=now - timedelta(days=d))
               for d in (9, 7, 5, 3, 1)]
    void_entry(entries[3], merchant, reason="录错", actor=Actor("店长"), now=now)
    make_member()                                                    # no purchase: all empty
    db.session.commit()
    db.session.close()
    downgrade(revision="5e2a91c7d3f4")
    upgrade()
    filled = db.session.execute(sa.select(Member.purchase_1_at, Member.purchase_2_at, Member.purchase_3_at)
                                .order_by(Member.id)).all()
    assert [tuple(row) for row in filled] == [tuple(now - timedelta(days=d) for d in (1, 5, 7)), (None,) * 3]


def test_the_birthday_day_migration_fills_the_day_in_each_birthdays_own_calendar(db, make_member):
    from flask_migrate import downgrade, upgrade

    from mcrm.members.models import Member
    solar, lunar, none = (make_member(birthday="19900315"), make_member(birthday="农历0820"),
                          make_member())
    db.session.commit()
    ids = [solar.id, lunar.id, none.id]
    db.session.close()
    downgrade(revision="2a84f8dbe06a")
    upgrade()
    days = dict(db.session.execute(sa.select(Member.id, Member.birthday_day).where(Member.id.in_(ids))).all())
    assert [days[i] for i in ids] == [15, 20, None]


def test_the_survey_code_key_migration_keys_each_survey_by_its_stored_folded_code(db, merchant, now):
    from flask_migrate import downgrade, upgrade

    from mcrm.surveys.models import Survey
    merchant_id = merchant.id
    db.session.commit()
    db.session.close()
    downgrade(revision="c3f5a8e1d294")
    with db.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO surveys (merchant_id, code, title, intro, thanks, is_active, timeout_hours,"
            " max_reasks, reward_points, extension, created_at, updated_at)"
            " VALUES (:merchant, 'q1', '满意度', '调查', '', false, 24, 2, 0, '', :now, :now)"), {"merchant": merchant_id, "now": now})
    upgrade()
    assert db.session.execute(sa.select(Survey.code, Survey.code_key)).all() == [("q1", "q1")]
