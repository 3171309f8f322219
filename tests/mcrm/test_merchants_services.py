"""Sub-codes: no merchant's sub-code begins with another's, on creation, on a change and in old data."""
import pytest
import sqlalchemy as sa

from mcrm.core.errors import ConflictError, ValidationError
from mcrm.merchants.models import Merchant
from mcrm.merchants.services import change_sub_code, create_merchant


@pytest.mark.parametrize("sub_code", ["021", "0", "02"])
def test_a_sub_code_equal_to_beginning_or_extending_another_is_refused(db, make_merchant, sub_code):
    """Before, 021 was accepted beside 02, and texts to 02's extension 1 reached 021's merchant."""
    make_merchant(sub_code="02", name="老店")
    with pytest.raises(ConflictError) as refused:
        create_merchant(name="新店", sub_code=sub_code, signature="新店")
    assert "02" in refused.value.message
    if sub_code != "02":
        assert "老店" in refused.value.message and "begin with another" in refused.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Merchant)) == 1


def test_sub_codes_that_only_share_digits_are_fine(db, make_merchant):
    make_merchant(sub_code="02")
    assert create_merchant(name="新店", sub_code="03", signature="新店").sub_code == "03"
    assert create_merchant(name="另一店", sub_code="102", signature="另一店").sub_code == "102"


def test_changing_a_sub_code_follows_the_same_rule(db, make_merchant):
    old, other = make_merchant(sub_code="02"), make_merchant(sub_code="05")
    change_sub_code(old, "021")  # its own old code is no clash
    assert old.sub_code == "021"
    with pytest.raises(ConflictError):
        change_sub_code(other, "0211")
    with pytest.raises(ValidationError):
        change_sub_code(other, "0x")
    db.session.rollback()
    assert db.session.get(Merchant, other.id).sub_code == "05"


def test_the_command_line_refuses_a_clashing_sub_code_clearly(runner, db, merchant):
    result = runner.invoke(args=["merchant", "create", "--name", "x", "--sub-code", "012", "--signature", "某店"])
    assert result.exit_code != 0 and "clashes with 01 of 小王烧烤" in result.output
    other = runner.invoke(args=["merchant", "create", "--name", "y", "--sub-code", "05", "--signature", "某店"])
    assert other.exit_code == 0, other.output
    moved = runner.invoke(args=["merchant", "set-sub-code", "--merchant", "05", "--new", "0123"])
    assert moved.exit_code != 0 and "clashes with 01" in moved.output
    moved = runner.invoke(args=["merchant", "set-sub-code", "--merchant", "05", "--new", "06"])
    assert moved.exit_code == 0 and "service number 106571234506" in moved.output
    assert sorted(db.session.scalars(sa.select(Merchant.sub_code))) == ["01", "06"]


def test_the_migration_reports_clashing_sub_codes_and_changes_nothing(db, capfd):
    from flask_migrate import downgrade, upgrade
    db.session.close()
    downgrade(revision="03710c321233")
    with db.engine.begin() as connection:  # as a database from before the rule may hold them
        for name, sub_code in (("老店", "02"), ("新店", "021"), ("别家", "03")):
            connection.execute(sa.text(
                "INSERT INTO merchants (name, sub_code, signature, timezone, locale, send_window_start, "
                "send_window_end, frequency_cap_per_day, unsubscribe_hint, points_per_yuan, join_gift_points, "
                "points_expiry_policy, points_expiry_months, points_cycle_end_month, tier_thresholds, "
                "tenure_bonus, texts, is_active, created_at, updated_at) VALUES (:name, :sub_code, '【店】', "
                "'Asia/Shanghai', 'zh', '08:00:00', '21:00:00', 1, '回T退订', 1, 0, 'never', 12, 12, '[]', '[]', "
                "'{}', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"name": name, "sub_code": sub_code})
    capfd.readouterr()
    upgrade()
    warning = capfd.readouterr().err
    assert "WARNI" in warning and "02 (老店, id 1) and 021 (新店, id 2)" in warning and "03 (" not in warning
    assert sorted(db.session.scalars(sa.select(Merchant.sub_code))) == ["02", "021", "03"]
