"""Database engine behaviour that differs between SQLite and PostgreSQL."""
import sqlalchemy as sa
from sqlalchemy.engine import Engine


@sa.event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    """Web, scheduler and gateway may share one SQLite file (threads or processes)."""
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    # let SQLAlchemy's "begin" event below open transactions instead of pysqlite
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@sa.event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    """Take SQLite's write lock when a transaction starts.

    A deferred transaction that reads and then writes fails at once with "database is locked"
    when another connection wrote in between (busy_timeout does not apply to that case).
    Starting every transaction IMMEDIATE makes writers queue politely instead.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
