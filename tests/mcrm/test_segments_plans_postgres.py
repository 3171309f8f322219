"""How PostgreSQL counts a top-level OR of member columns and a tag: in parts, each from an index,
no member row read (bench/README.md, Segments: 146 ms p50 at a million members, 276 ms as one scan
of every member row, 312 ms in parts when the tagged members' rows were looked up).

The test database is small, so PostgreSQL would read every row whatever the SQL; with sequential
scans priced out, the plan shows what the SQL and the indexes let it do at a million members.
"""
import json

import pytest
import sqlalchemy as sa

from mcrm.extensions import db
from mcrm.segments.services import _context, check_definition
from mcrm.segments.sql import segment_count

pytestmark = pytest.mark.postgres

OR_OF_THREE = {"op": "or", "items": [{"type": "tags", "tags": ["常客"]},
                                     {"type": "last_visit", "op": "within", "days": 30},
                                     {"type": "points", "min": 1000}]}


def _nodes(plan: dict) -> list[dict]:
    """The plan's nodes, depth first."""
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


@pytest.fixture
def plan(merchant, make_member, now):
    """Definition → the nodes of PostgreSQL's plan for ``count_members``, sequential scans off."""
    for n in range(40):
        make_member(points=1200 * (n % 3 == 0), tags=["常客"] if n % 4 == 0 else [])
    # index-only scans need the visibility map VACUUM keeps
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE members, member_tags"))

    def explain(definition) -> list[dict]:
        query = segment_count(check_definition(merchant.id, definition), _context(merchant.id, now))
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        explained = db.session.scalar(sa.text("EXPLAIN (FORMAT JSON) " + sql))
        db.session.rollback()
        return _nodes((explained if isinstance(explained, list) else json.loads(explained))[0]["Plan"])
    return explain


def test_an_or_of_member_columns_and_a_tag_reads_no_member_row(plan):
    reads = {(node["Node Type"], node.get("Index Name")) for node in plan(OR_OF_THREE)
             if node.get("Relation Name") == "members"}
    assert reads == {("Index Only Scan", "ix_members_live_last_visit"), ("Index Only Scan", "ix_members_live_points"),
                     ("Index Only Scan", "ix_members_live_id")}, reads
