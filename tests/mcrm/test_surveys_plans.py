"""How SQLite reads a survey's results: the counts and tallies from covering indexes of the survey's
answers and sessions, never a walk over every answer, a join or a sort for the grouping (at
100,000 responses the join with its grouping took 0.6 s of CPU; bench/README.md, Surveys).

The test database is small, so the test loads the statistics ANALYZE gave for bench/surveys.py's
100,000 responses (times 100 surveys, as a shop that runs a survey a month for years might hold)."""
import pytest
import sqlalchemy as sa

from mcrm.surveys.services import add_question, create_survey, survey_results

#: sqlite_stat1 of bench/surveys.py's results (340,000 answers of 100,000 sessions), as if 100 surveys
STATS = [
    ("survey_answers", "ix_survey_answers_tally", "34000000 340000 85000 15000 1"),
    ("survey_answers", "ix_survey_answers_session_id", "34000000 4"),
    ("survey_sessions", "ix_survey_sessions_results", "10000000 100000 3"),
    ("survey_sessions", "ix_survey_sessions_lookup", "10000000 10000000 1 1"),
]


@pytest.fixture
def plans(merchant, db):
    """The plan lines of every statement survey_results runs, under those statistics."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plans of SQLite")
    survey = create_survey(merchant, code="Q1", title="满意度", intro="调查", is_active=True)
    add_question(survey, kind="single", text="1.A好 B差", options=["好", "差"])
    add_question(survey, kind="text", text="2.建议？")
    db.session.execute(sa.text("ANALYZE"))
    db.session.execute(sa.text("DELETE FROM sqlite_stat1"))
    db.session.execute(sa.text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (:tbl, :idx, :stat)"),
                       [dict(tbl=tbl, idx=idx, stat=stat) for tbl, idx, stat in STATS])
    db.session.commit()
    connection = db.session.connection()
    connection.exec_driver_sql("ANALYZE sqlite_schema")  # reload the statistics into the planner
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "survey_answers" in statement or "survey_sessions" in statement:
            statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        survey_results(survey)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 4, statements  # counts, answered, the tallies, the free texts
    return [[row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            for statement, parameters in statements]


def test_the_results_read_covering_indexes_and_never_walk_the_answers(plans):
    counts, answered, tallies, texts = plans
    assert counts == ["SEARCH survey_sessions USING COVERING INDEX ix_survey_sessions_results (survey_id=?)"]
    # the sessions that answered: their ids from the index, made distinct in a temporary b-tree
    assert answered == ["USE TEMP B-TREE FOR count(DISTINCT)",
                        "SEARCH survey_answers USING COVERING INDEX ix_survey_answers_tally (survey_id=?)"]
    # the grouping follows the index order: no temporary b-tree
    assert tallies == ["SEARCH survey_answers USING COVERING INDEX ix_survey_answers_tally (survey_id=?)"]
    assert texts[0] == "SEARCH survey_answers USING COVERING INDEX ix_survey_answers_tally (survey_id=? AND position=?)"
    for line in sum(plans, []):
        assert not line.startswith("SCAN") and "GROUP BY" not in line, line
