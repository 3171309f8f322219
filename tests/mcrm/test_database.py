"""Behaviour of the database layer on SQLite (the embedded default)."""
import sqlalchemy as sa


def test_a_page_view_does_not_wait_for_a_writer_on_sqlite(app, db, client, login, settings):
    """GET requests read without SQLite's write lock: an open write elsewhere does not block them."""
    if not settings.is_sqlite:
        return
    login("clerk")
    db.session.commit()
    writer = sa.create_engine(settings.database_url, connect_args={"timeout": 0.5})
    with writer.connect() as conn:
        conn.exec_driver_sql("UPDATE merchants SET name = name")  # holds the write lock (BEGIN IMMEDIATE)
        assert client.get("/").status_code == 200
        conn.rollback()
    writer.dispose()
