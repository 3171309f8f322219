"""Database engine behaviour that differs between SQLite and PostgreSQL."""
from contextlib import contextmanager
from contextvars import ContextVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles


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


#: set while code that only reads runs (GET requests): its transactions need no write lock
_read_only = ContextVar("mcrm_sqlite_read_only", default=False)


@contextmanager
def read_only():
    """Transactions begun inside read without taking SQLite's write lock, so they never wait
    for writers (the gateway, an import) and never hold them up."""
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def wrap_read_only_requests(app) -> None:
    """GET pages only read: run their transactions in ``read_only``."""
    from flask import g, request

    @app.before_request
    def _begin():
        if request.method in ("GET", "HEAD", "OPTIONS"):
            g.read_only_token = _read_only.set(True)

    @app.teardown_request
    def _end(error=None):
        token = g.pop("read_only_token", None)
        if token is not None:
            _read_only.reset(token)


@sa.event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    """Take SQLite's write lock when a transaction starts, unless it only reads.

    A deferred transaction that reads and then writes fails at once with "database is locked"
    when another connection wrote in between (busy_timeout does not apply to that case).
    Starting write transactions IMMEDIATE makes writers queue politely instead.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN" if _read_only.get() else "BEGIN IMMEDIATE")


def include_schema_object(dialect_name: str):
    """Alembic's ``include_object`` for a database of ``dialect_name``: leaves out what a model
    keeps for another database only (``info={"only_on": "postgresql"}``), which the migrations
    build there alone."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        return obj.info.get("only_on", dialect_name) == dialect_name
    return include


def is_postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class zero_padded(sa.sql.functions.FunctionElement):
    """zero_padded(integer, width): its digits with zeros in front up to ``width``, as Python's
    ``f"{n:0{width}d}"`` for n ≥ 0 (a longer number keeps all its digits)."""
    type = sa.String()
    inherit_cache = True


@compiles(zero_padded, "sqlite")
def _zero_padded_sqlite(element, compiler, **kw):
    number, width = element.clauses.clauses
    return f"printf('%0' || {compiler.process(width, **kw)} || 'd', {compiler.process(number, **kw)})"


@compiles(zero_padded, "postgresql")
def _zero_padded_postgresql(element, compiler, **kw):
    # lpad cuts a longer text to the width: never shorter than the number's own digits
    number, width = (compiler.process(clause, **kw) for clause in element.clauses.clauses)
    return f"lpad(CAST({number} AS TEXT), greatest({width}, length(CAST({number} AS TEXT))), '0')"


class beyond_bmp(sa.sql.functions.FunctionElement):
    """beyond_bmp(text): true when the text holds a character beyond the Basic Multilingual Plane
    (an emoji, a rare Han character), which UCS-2 sends as two units."""
    type = sa.Boolean()
    inherit_cache = True


#: every character beyond the BMP, as a class both databases' patterns read by code point
_BEYOND_BMP = "[\U00010000-\U0010ffff]"


@compiles(beyond_bmp, "sqlite")
def _beyond_bmp_sqlite(element, compiler, **kw):
    text, = element.clauses.clauses
    return f"({compiler.process(text, **kw)} GLOB '*{_BEYOND_BMP}*')"


@compiles(beyond_bmp, "postgresql")
def _beyond_bmp_postgresql(element, compiler, **kw):
    text, = element.clauses.clauses
    return f"({compiler.process(text, **kw)} ~ '{_BEYOND_BMP}')"
