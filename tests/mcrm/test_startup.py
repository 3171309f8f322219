"""``mcrm run``, ``mcrm gateway`` and ``mcrm scheduler`` start only when they can work: a bad setting,
database or port is one line on stderr and a non-zero exit, never a traceback or a served error.
Real processes on free ports; each test waits for its process to end, with a timeout."""
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from mcrm import create_app
from mcrm.settings import Settings
from mcrm.workers import StartupError, check_database, gateway_config
from tests.mcrm.test_settings import MCRM, mcrm_environ, run_mcrm
from tests.smsc_peer import wait_until

COMMANDS = ["run", "gateway", "scheduler"]
#: never through an HTTP proxy from the environment: the server is on loopback
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_app(tmp_path, name="mcrm.sqlite3"):
    return create_app(Settings(env="test", instance_path=str(tmp_path), secret_key="t" * 40,
                               database_url=f"sqlite:///{tmp_path / name}"))


def one_line(result) -> str:
    """The process's whole stderr, which must be one line."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def migrated_env(settings):
    return {"DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key,
            "MCRM_SCHEDULER": "false"}


# --- the database check ----------------------------------------------------------------------

def test_a_migrated_database_passes_the_check(app):
    check_database(app)


def test_an_empty_database_asks_for_the_upgrade(tmp_path):
    with pytest.raises(StartupError, match="has no tables yet: run `mcrm db upgrade`"):
        check_database(sqlite_app(tmp_path))


def test_a_database_behind_the_code_asks_for_the_upgrade(tmp_path):
    app = sqlite_app(tmp_path)
    script = ScriptDirectory(app.extensions["migrate"].directory)
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    with app.app_context():
        upgrade(revision=previous)
    with pytest.raises(StartupError, match=f"is at revision {previous}, behind this code's {head}: "
                                           f"run `mcrm db upgrade`"):
        check_database(app)


def test_a_database_migrated_by_a_newer_release_is_refused(tmp_path):
    app = sqlite_app(tmp_path)
    with app.app_context():
        upgrade()
        from mcrm.extensions import db
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    with pytest.raises(StartupError, match="at revision f00dfeedbeef, which this code does not know"):
        check_database(app)


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unmigrated_database_stops_each_process_with_one_line(tmp_path, command):
    result = run_mcrm(tmp_path, command, MCRM_PORT=str(free_port()))
    assert result.returncode == 1
    assert re.fullmatch(r"Cannot start: the database sqlite:///\S+ has no tables yet: run `mcrm db upgrade`",
                        one_line(result))


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_database_stops_each_process_with_one_line(tmp_path, command):
    url = f"postgresql+psycopg://mcrm:s3cret@127.0.0.1:{free_port()}/mcrm"
    result = run_mcrm(tmp_path, command, DATABASE_URL=url, MCRM_PORT=str(free_port()))
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("Cannot start: cannot use the database postgresql+psycopg://mcrm:***@127.0.0.1:")
    assert "s3cret" not in line


# --- SMPP settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "gateway"])
@pytest.mark.parametrize("env, message", [
    ({"SMPP_TPS": "fast"}, "SMPP_TPS='fast': not a valid float"),
    ({"SMPP_TRANSPORT": "smpp"}, "SMPP_HOST='': required when SMPP_TRANSPORT=smpp"),
    ({"SMPP_HOST": "smsc.example", "SMPP_SYSTEM_ID": "shop"},
     "SMPP_HOST='smsc.example': set, but SMPP_TRANSPORT is sandbox"),
])
def test_bad_smpp_settings_stop_the_process_with_one_line(tmp_path, migrated_env, command, env, message):
    result = run_mcrm(tmp_path, command, MCRM_PORT=str(free_port()), **migrated_env, **env)
    assert result.returncode == 2
    assert one_line(result).startswith(f"Configuration error: {message}")


def test_smpp_transport_chooses_the_smsc_for_the_gateway(tmp_path, migrated_env, monkeypatch):
    # the gateway's config read SMPP_TRANSPORT, but mcrm overrode it with its own sandbox default
    smpp = {"SMPP_TRANSPORT": "smpp", "SMPP_HOST": "127.0.0.1", "SMPP_SYSTEM_ID": "shop"}
    for name, value in smpp.items():
        monkeypatch.setenv(name, value)
    app = create_app(Settings.from_env(mcrm_environ(tmp_path, **smpp, **migrated_env)))
    assert app.extensions["mcrm_settings"].sms_transport == "smpp"
    assert gateway_config(app).transport == "smpp"


def test_production_without_a_transport_does_not_start_the_sandbox(tmp_path, migrated_env):
    result = run_mcrm(tmp_path, "run", MCRM_ENV="production", MCRM_PORT=str(free_port()),
                      **dict(migrated_env, SECRET_KEY="k" * 40))
    assert result.returncode == 2
    assert one_line(result).startswith(
        "Configuration error: SMPP_TRANSPORT must be set when MCRM_ENV=production")


# --- the web server --------------------------------------------------------------------------

def test_a_taken_port_is_one_line(tmp_path, migrated_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_mcrm(tmp_path, "run", "--port", str(port), **migrated_env)
    assert result.returncode == 1
    assert one_line(result) == f"Cannot start: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_an_unreachable_rate_limit_storage_is_one_line(tmp_path, migrated_env):
    storage = f"redis://127.0.0.1:{free_port()}"
    result = run_mcrm(tmp_path, "run", "--port", str(free_port()), MCRM_RATELIMIT_STORAGE=storage,
                      **migrated_env)
    assert result.returncode == 1
    assert one_line(result) == \
        f"Cannot start: cannot reach the rate-limit storage {storage} (MCRM_RATELIMIT_STORAGE)"


@pytest.fixture
def served(tmp_path, migrated_env):
    """``mcrm run --host 127.0.0.1 --port P``: yields (base URL, process, stderr file); always ended."""
    port = free_port()
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([str(MCRM), "run", "--host", "127.0.0.1", "--port", str(port)],
                                env=mcrm_environ(tmp_path, MCRM_PORT="1", **migrated_env),
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    try:
        wait_until(lambda: "mcrm console on" in out.read_text() or proc.poll() is not None, timeout=30,
                   message="mcrm run serving")
        assert proc.poll() is None, err.read_text()
        yield f"http://127.0.0.1:{port}", proc, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def get(url: str) -> int:
    try:
        with _OPENER.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_run_serves_on_the_given_port_logs_each_request_and_stops_on_sigterm(served):
    base, proc, err = served
    assert get(f"{base}/login") == 200
    assert get(f"{base}/login?next=/members/&code=483920") == 200
    assert get(f"{base}/messages/simulator/thread?msisdn=13800138000") == 200   # after the login redirect
    assert get(f"{base}/conversations/+8613800138000?before=12") == 404
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    log = err.read_text()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
    assert re.search(rf"^{stamp} INFO mcrm\.requests: GET /login 200 \d+ms$", log, re.M), log
    assert re.search(rf"^{stamp} INFO mcrm\.requests: GET /login\?next=…&code=… 200 \d+ms$", log,
                     re.M), log
    assert re.search(r"GET /messages/simulator/thread\?msisdn=… 302 \d+ms$", log, re.M), log
    assert re.search(r"GET /conversations/\+86138\*\*\*\*8000\?before=12 404 \d+ms$", log, re.M), log
    assert "13800138000" not in log and "483920" not in log
    for line in log.splitlines():      # every line of every logger: one zone, with its offset
        assert re.match(stamp + " ", line), line
