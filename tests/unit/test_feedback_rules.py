"""The feedback desk's pure rules: which response target a ticket gets."""
from mcrm.feedback.rules import target_minutes

TARGETS = {("complaint", ""): 120, ("complaint", "金卡"): 30, ("suggestion", ""): None, ("suggestion", "钻石卡"): 600}


def test_a_tier_with_its_own_target_gets_it():
    assert target_minutes(TARGETS, "complaint", "金卡") == 30


def test_other_tiers_and_non_members_get_the_kinds_target():
    assert target_minutes(TARGETS, "complaint", "银卡") == 120
    assert target_minutes(TARGETS, "complaint", "") == 120
    assert target_minutes(TARGETS, "complaint", None) == 120


def test_a_tier_target_applies_where_the_kind_has_none():
    assert target_minutes(TARGETS, "suggestion", "钻石卡") == 600
    assert target_minutes(TARGETS, "suggestion", "金卡") is None
    assert target_minutes(TARGETS, "praise", "金卡") is None
