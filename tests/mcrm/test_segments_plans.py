"""How SQLite runs a segment count at a million members: through indexes, never a walk over every
member or ledger entry (that took 0.8 to 6.9 s, see bench/README.md, Segments).

The planner chooses by the statistics ANALYZE keeps; the test database is small, so each test loads
the statistics ANALYZE gave for bench/segments.py's million members and asks for the plan.
"""
import pytest
import sqlalchemy as sa

from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.segments.services import _context, _where, check_definition
from mcrm.segments.sql import segment_count

#: sqlite_stat1 after bench/segments.py seeded 1,000,000 members (2,001,129 ledger entries; the
#: live indexes as migration c3f5a8e1d294 rebuilt them on those members, with the birthday's day)
MILLION = [
    ("member_tags", "ix_member_tags_merchant_tag", "747727 747727 74773 1"),
    ("member_tags", "sqlite_autoindex_member_tags_1", "747727 2 1"),
    ("members", "ix_members_live_birthday_month", "1000000 1000000 76924 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_last_visit", "1000000 1000000 2 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_opted_out", "1000000 1000000 500000 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_points", "1000000 1000000 15385 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_purchase_1", "1000000 1000000 2 1 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_purchase_2", "1000000 1000000 5 1 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_purchase_3", "1000000 1000000 1000000 1 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_spend", "1000000 1000000 15385 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_live_tier", "1000000 1000000 200000 1 1 1 1 1 1 1 1 1"),
    ("members", "ix_members_merchant_id", "1000000 1000000 1"),
    ("members", "ix_members_merchant_msisdn_rev", "1000000 1000000 1"),
    ("members", "ix_members_merchant_name_key", "1000000 1000000 10 1"),
    ("members", "sqlite_autoindex_members_1", "1000000 1000000 1"),
    ("points_entries", "ix_points_entries_member", "2001129 3 1"),
    ("points_entries", "ix_points_entries_merchant_created", "2001129 2001129 2"),
    ("points_entries", "ix_points_entries_purchases", "1001129 1001129 2 1 1 1"),
    ("points_entries", "sqlite_autoindex_points_entries_1", "2001129 2001129"),
    ("points_entries", "sqlite_autoindex_points_entries_2", "2001129 2001129"),
]

#: the five shapes of bench/segments.py
SHAPES = {
    "one value": {"type": "tier", "tiers": ["金卡"]},
    "and": {"op": "and", "items": [{"type": "tier", "tiers": ["金卡"]},
                                   {"type": "birthday_month", "month": 5}]},
    "or": {"op": "or", "items": [{"type": "tags", "tags": ["常客"]},
                                 {"type": "last_visit", "op": "within", "days": 30},
                                 {"type": "points", "min": 1000}]},
    "aggregate": {"op": "and", "items": [{"type": "visits", "min": 2, "period": {"days": 365}},
                                         {"type": "opted_out", "value": False}]},
    "nested": {"op": "and", "items": [
        {"op": "or", "items": [{"type": "birthday_soon", "days": 7},
                               {"type": "last_visit", "op": "not_within", "days": 180}]},
        {"op": "not", "items": [{"type": "tags", "tags": ["黑卡"]}]}, {"type": "spend", "min": "500"}]},
}


@pytest.fixture
def plan(merchant, now):
    """Shape → the lines of SQLite's plan for counting it, under the million members' statistics."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plans of SQLite")
    db.session.execute(sa.text("ANALYZE"))
    db.session.execute(sa.text("DELETE FROM sqlite_stat1"))
    db.session.execute(sa.text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (:tbl, :idx, :stat)"),
                       [dict(tbl=tbl, idx=idx, stat=stat) for tbl, idx, stat in MILLION])
    db.session.execute(sa.text("ANALYZE sqlite_schema"))  # loads the statistics just written
    db.session.commit()

    def explain(definition, *, ids=False) -> list[str]:
        sql = "EXPLAIN QUERY PLAN " + _sql(merchant, definition, now, ids=ids)
        return [row.detail for row in db.session.execute(sa.text(sql))]
    return explain


def _sql(merchant, definition, now, *, ids=False) -> str:
    """The SQL of ``count_members``, or (``ids``) of counting ``member_ids_select``'s rows."""
    query = sa.select(sa.func.count()).select_from(Member).where(*_where(merchant.id, definition, now)) \
        if ids else segment_count(check_definition(merchant.id, definition), _context(merchant.id, now))
    return str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))


def _reads_member_rows(merchant, definition, now) -> bool:
    """Whether the count reads a column from the members table itself rather than from an index
    (EXPLAIN QUERY PLAN names the index either way; the bytecode shows which cursor is read)."""
    root = db.session.scalar(sa.text("SELECT rootpage FROM sqlite_schema WHERE name = 'members'"))
    steps = db.session.execute(sa.text("EXPLAIN " + _sql(merchant, definition, now))).all()
    cursors = {step.p1 for step in steps if step.opcode == "OpenRead" and step.p2 == root}
    return any(step.opcode == "Column" and step.p1 in cursors for step in steps)


def _walks(lines: list[str]) -> list[str]:
    """Steps that read a whole table or index of members or ledger entries, or one lookup per row."""
    return [line for line in lines if line.startswith("SCAN") and "subquery" not in line
            and line != "SCAN CONSTANT ROW"  # the outer SELECT of a sum of counts
            or "CORRELATED" in line or ("members" in line and "USING INDEX ix_members_merchant" in line)]


@pytest.mark.parametrize("shape", SHAPES)
def test_no_segment_shape_walks_all_members_or_the_whole_ledger(plan, shape):
    lines = plan(SHAPES[shape])
    assert _walks(lines) == [], lines


def test_one_value_is_counted_in_its_live_index(plan):
    assert plan(SHAPES["one value"]) == [
        "SEARCH members USING INDEX ix_members_live_tier (merchant_id=? AND tier=?)"]


@pytest.mark.parametrize("shape", SHAPES)
def test_no_segments_members_are_selected_by_a_walk_over_all_members_or_the_whole_ledger(plan, shape):
    lines = plan(SHAPES[shape], ids=True)
    assert _walks(lines) == [], lines


def test_an_ors_members_are_selected_by_uniting_the_searches_of_its_branches(plan):
    lines = plan(SHAPES["or"], ids=True)
    assert lines[0] == "MULTI-INDEX OR"
    for index, term in (("last_visit", "last_visit_at>?"), ("points", "points_balance>?")):
        assert f"SEARCH members USING INDEX ix_members_live_{index} (merchant_id=? AND {term})" in lines


def test_at_least_k_visits_in_a_period_are_counted_in_the_index_of_the_kth_latest_purchase(plan, merchant, now):
    # with the opt-out, which that index carries: no row read, no ledger read (0.4 s at a million)
    assert plan(SHAPES["aggregate"]) == [
        "SEARCH members USING INDEX ix_members_live_purchase_2 (merchant_id=? AND purchase_2_at>?)"]
    assert not _reads_member_rows(merchant, SHAPES["aggregate"], now)


def test_other_visit_counts_are_counted_from_the_purchases_index(plan):
    lines = plan({"type": "visits", "min": 4, "period": {"days": 365}})
    assert "SEARCH points_entries USING INDEX ix_points_entries_purchases (merchant_id=?)" in lines


@pytest.mark.parametrize("shape", ["one value", "and", "nested"])
def test_counts_driven_by_a_live_index_test_the_other_member_conditions_in_it(plan, merchant, now, shape):
    # and: the birthday month index carries the tier; nested: the spend index carries the last visit
    # and the birthday, and deleted_at stays out of every branch
    assert not _reads_member_rows(merchant, SHAPES[shape], now)


def test_the_check_sees_a_row_read(plan, merchant, now):
    custom = {"type": "custom_field", "name": "城市", "op": "eq", "value": "上海"}  # in no index
    assert _reads_member_rows(merchant, {"op": "and", "items": [SHAPES["one value"], custom]}, now)


def _calls_functions(merchant, definition, now) -> list[str]:
    """The SQL functions the count calls (EXPLAIN's Function opcodes: once per member tested)."""
    steps = db.session.execute(sa.text("EXPLAIN " + _sql(merchant, definition, now))).all()
    return [step.p4 for step in steps if step.opcode in ("Function", "PureFunc")]


@pytest.mark.parametrize("definition", [
    SHAPES["nested"], {"type": "birthday_date", "month": 5, "day": 20},
    {"type": "birthday_date", "month": 5, "day": 20, "calendar": "lunar"}])
def test_birthday_conditions_compare_the_indexed_month_and_day_and_call_no_function(plan, merchant, now, definition):
    # the solar birthday's month and day extracted from the date (strftime) were 0.1 s of the
    # nested count's 0.18 s of CPU at a million members
    assert _calls_functions(merchant, definition, now) == []
    assert not _reads_member_rows(merchant, definition, now)


def test_an_or_is_counted_in_parts_each_one_index_search_and_the_tagged_last(plan):
    # a sum of counts, each branch without the ones before: no set of row ids (165 ms of CPU as a
    # union, 125 ms in parts at a million members); the tag's 82,817 members are looked up last so
    # that no other branch probes their list
    assert plan(SHAPES["or"]) == [
        "SCAN CONSTANT ROW",
        "SCALAR SUBQUERY 1",
        "SEARCH members USING INDEX ix_members_live_last_visit (merchant_id=? AND last_visit_at>?)",
        "SCALAR SUBQUERY 2",
        "SEARCH members USING INDEX ix_members_live_points (merchant_id=? AND points_balance>?)",
        "SCALAR SUBQUERY 4",
        "SEARCH members USING INTEGER PRIMARY KEY (rowid=?)",
        "LIST SUBQUERY 3",
        "SEARCH member_tags USING COVERING INDEX ix_member_tags_merchant_tag (merchant_id=? AND tag=?)"]


@pytest.mark.parametrize("definition", [{"type": "birthday_soon", "days": 30},
                                        {"type": "birthday_date", "month": 5, "day": 20}])
def test_a_birthday_day_or_window_is_searched_in_the_birthday_month_index(plan, merchant, now, definition):
    # a window walked every member (0.23 s of CPU at a million), a day 0.12 s
    assert plan(definition) == [
        "SEARCH members USING INDEX ix_members_live_birthday_month (merchant_id=? AND birthday_month=?)"]
    assert not _reads_member_rows(merchant, definition, now)
