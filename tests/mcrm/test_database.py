"""Behaviour of the database layer on SQLite (the embedded default), and its SQL of our own."""
import pytest
import sqlalchemy as sa

from mcrm.db import beyond_bmp


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


@pytest.mark.parametrize("text, beyond", [
    ("张三", False), ("Ann", False), ("", False), ("\uffff", False),   # the BMP's last character
    ("Ann 🎉", True), ("𠀀", True), ("\U0010ffff", True),             # a rare Han character, the last
])
def test_beyond_bmp_finds_the_characters_ucs2_sends_as_two_units(db, text, beyond):
    """What a campaign's INSERT ... SELECT leaves to Python, whose texts SQL cannot count."""
    assert db.session.scalar(sa.select(beyond_bmp(sa.literal(text)))) is beyond
    assert db.session.scalar(sa.select(beyond_bmp(sa.null()))) is None
