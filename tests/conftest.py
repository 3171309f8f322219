"""Shared fixtures: a real database built by the migrations, the app, clients and factories.

SQLite (default): the migrations run once per session into a template file; every test gets a
fresh copy. PostgreSQL (``MCRM_TEST_DATABASE_URL`` set, as in CI): the migrations run once and
every test ends by truncating all tables. Tests marked ``postgres`` skip without it.
"""
import os
import re
import shutil
import socket
import threading
import time
from datetime import datetime, UTC
from itertools import count

import hypothesis
import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient

from mcrm import create_app
from mcrm.settings import Settings

PG_URL = os.environ.get("MCRM_TEST_DATABASE_URL", "")
_numbers = count(1)

# CI (.ci/run sets CI=true) draws the same property-test examples on every run, so a red build is a
# regression of the change under test, never a new random draw; local runs keep exploring new ones
# (and keep the failures they find in .hypothesis/ to replay first).
hypothesis.settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    hypothesis.settings.load_profile("ci")


def pytest_collection_modifyitems(config, items):
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: set MCRM_TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Tests never reach a real SMSC or anything else off this machine."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and sock.family in (socket.AF_INET, socket.AF_INET6) \
                and host not in ("localhost", "::1") and not host.startswith("127."):
            raise RuntimeError(f"test tried to connect to {host}: only loopback is allowed")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _dispose_engines():
    """Dispose every engine a test used, including those of extra apps it built with other settings.

    Such an app is dropped when the test returns, and its pooled psycopg connections with it:
    unclosed, they raise ResourceWarning on PostgreSQL. Holding the engines until now avoids that.
    """
    engines = set()

    def remember(connection):
        engines.add(connection.engine)

    sa.event.listen(sa.engine.Engine, "engine_connect", remember)
    yield
    sa.event.remove(sa.engine.Engine, "engine_connect", remember)
    for engine in engines:
        engine.dispose()


def _upgrade(settings: Settings) -> None:
    from flask_migrate import upgrade
    app = create_app(settings)
    with app.app_context():
        upgrade()
        from mcrm.extensions import db
        db.engine.dispose()


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory):
    base = tmp_path_factory.mktemp("template")
    if PG_URL:
        settings = Settings(env="test", instance_path=str(base), database_url=PG_URL).with_defaults()
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        _upgrade(settings)
        return None
    settings = Settings(env="test", instance_path=str(base),
                        database_url=f"sqlite:///{base / 'template.sqlite3'}").with_defaults()
    _upgrade(settings)
    return base / "template.sqlite3"


@pytest.fixture
def settings(tmp_path, _database_template) -> Settings:
    if PG_URL:
        url = PG_URL
    else:
        target = tmp_path / "mcrm.sqlite3"
        shutil.copy(_database_template, target)
        url = f"sqlite:///{target}"
    return Settings(env="test", instance_path=str(tmp_path), database_url=url, secret_key="t" * 40,
                    login_rate_limit="1000 per minute").with_defaults()


class ConsoleClient(FlaskClient):
    """The test client, in English unless a test asks otherwise, and with a fresh ``flask.g`` per request.

    English: tests assert on the English texts; tests/mcrm/test_i18n.py covers the Chinese default.
    ``g``: requests reuse the test's app context, and with it ``g``, where Flask-WTF caches the CSRF
    token and Flask-Babel the locale; without clearing it, one request's values leak into the next.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")

    def open(self, *args, **kwargs):
        vars(g).clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.test_client_class = ConsoleClient
    threads_before = set(threading.enumerate())
    with app.app_context():
        yield app
        from mcrm.extensions import db
        db.session.remove()
        # A thread the test started (a background import) may still hold a connection: disposing
        # the engine under it would drop that connection unclosed (a ResourceWarning on PostgreSQL).
        deadline = time.monotonic() + 10
        for thread in set(threading.enumerate()) - threads_before:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if PG_URL:
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def db(app):
    from mcrm.extensions import db
    return db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def now():
    return datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def csrf_token(client, url="/login") -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


@pytest.fixture
def make_merchant(db):
    from mcrm.merchants.services import create_merchant

    def make(**fields):
        number = next(_numbers)
        fields.setdefault("name", f"测试商户{number}")
        fields.setdefault("sub_code", f"{number:02d}")
        fields.setdefault("signature", f"测试店{number}")
        merchant = create_merchant(**fields)
        db.session.commit()
        return merchant
    return make


@pytest.fixture
def merchant(make_merchant):
    return make_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")


@pytest.fixture
def make_staff(db, merchant):
    from mcrm.auth.services import create_staff

    def make(role="owner", merchant=merchant, **fields):
        fields.setdefault("username", f"{role}{next(_numbers)}")
        fields.setdefault("password", "correct-horse-1")
        staff = create_staff(merchant, role=role, **fields)
        db.session.commit()
        return staff
    return make


@pytest.fixture
def make_member(db, merchant, now):
    from mcrm.members.services import enrol_member
    from mcrm.points.services import SYSTEM, grant_points

    def make(merchant=merchant, msisdn=None, points=0, **fields):
        msisdn = msisdn or f"1380013{next(_numbers):04d}"
        member = enrol_member(merchant, msisdn=msisdn, now=fields.pop("joined_at", now), **fields)
        if points:
            grant_points(member, merchant, points, reason="test", actor=SYSTEM, now=now)
        db.session.commit()
        return member
    return make


@pytest.fixture
def login(client, make_staff):
    """login(role) signs a new staff of the default merchant in and returns it."""
    def do_login(role="owner", staff=None, **fields):
        staff = staff or make_staff(role, **fields)
        response = client.post("/login", data={"username": staff.username, "password": "correct-horse-1",
                                               "csrf_token": csrf_token(client)})
        assert response.status_code == 302, response.get_data(as_text=True)
        return staff
    return do_login
