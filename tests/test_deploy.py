"""The example systemd units in deploy/ name commands that exist: systemd-analyze verify (which
fails on a missing executable and warns on a bad key) when available, else a parse; every ``mcrm``
subcommand they run answers ``--help``, and gunicorn accepts its configuration with wsgi:app."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.mcrm.test_startup import free_port
from tests.smsc_peer import wait_until

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
BIN = Path(sys.executable).parent
INSTALL = "/opt/mcrm"


def on_this_machine(text: str) -> str:
    """A unit as installed here: the checkout for /opt/mcrm, this venv's scripts, the example env file."""
    return (text.replace(f"{INSTALL}/.venv/bin", str(BIN)).replace(INSTALL, str(ROOT))
            .replace("/etc/mcrm/mcrm.env", str(ROOT / "deploy" / "mcrm.env.example")))


def exec_starts(text: str) -> list[list[str]]:
    return [line.split("=", 1)[1].split() for line in text.splitlines() if line.startswith("ExecStart=")]


def test_there_are_units_for_web_gateway_and_scheduler():
    assert {unit.name for unit in UNITS} == {"mcrm-web.service", "mcrm-gateway@.service", "mcrm-scheduler.service"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_every_unit_without_a_warning(tmp_path):
    names = []
    for unit in UNITS:
        name = unit.name.replace("@.", "@1.")   # a template is verified as an instance
        (tmp_path / name).write_text(on_this_machine(unit.read_text()))
        names.append(name)
    result = subprocess.run(["systemd-analyze", "verify", *names], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr


def test_systemd_analyze_catches_a_command_that_does_not_exist(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = on_this_machine((ROOT / "deploy/systemd/mcrm-scheduler.service").read_text())
    (tmp_path / "broken.service").write_text(text.replace(f"{BIN}/mcrm ", f"{BIN}/no-such-mcrm "))
    result = subprocess.run(["systemd-analyze", "verify", "broken.service"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "no-such-mcrm" in result.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_every_command_a_unit_runs_exists_here(unit, tmp_path):
    [command] = exec_starts(on_this_machine(unit.read_text()))
    assert Path(command[0]).is_file() and os.access(command[0], os.X_OK), command[0]
    env = {**os.environ, "MCRM_INSTANCE_PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}
    if Path(command[0]).name == "mcrm":
        result = subprocess.run([command[0], *command[1:], "--help"], capture_output=True, text=True, env=env,
                                timeout=60)
        assert result.returncode == 0, result.stderr
    else:
        config = command[command.index("--config") + 1]
        assert (ROOT / config).is_file()
        result = subprocess.run([*command, "--check-config"], cwd=ROOT, capture_output=True, text=True, env=env,
                                timeout=60)
        assert result.returncode == 0, result.stderr


def test_units_read_the_example_environment_file_whose_variables_are_documented():
    documented = (ROOT / "docs" / "configuration.md").read_text()
    example = (ROOT / "deploy" / "mcrm.env.example").read_text()
    names = re.findall(r"^([A-Z_]+)=", example, re.M)
    assert names and all(f"`{name}`" in documented for name in names), names
    for unit in UNITS:
        assert "EnvironmentFile=/etc/mcrm/mcrm.env" in unit.read_text()


def test_gunicorns_own_lines_are_json_with_numbers_masked(tmp_path):
    """gunicorn's start, its workers' boot and exit, and its access log (asked for here) are JSON lines
    like mcrm's when JSON logs are asked for; a number in a path or a query never reaches them."""
    port = free_port()
    env = {**os.environ, "MCRM_ENV": "test", "MCRM_INSTANCE_PATH": str(tmp_path), "PYTHONPATH": str(ROOT),
           "MCRM_LOG_FORMAT": "json", "MCRM_SCHEDULER": "false", "MCRM_GATEWAY": "false"}
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "--workers", "2",
                                   "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "wsgi:app"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=60, message="gunicorn serves")
        _answers(f"http://127.0.0.1:{port}/members/13800138000?q=13900139000&page=2")
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]   # every line is JSON
    assert "13800138000" not in text and "13900139000" not in text
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "mcrm.requests"} <= loggers, loggers
    messages = [line["message"] for line in lines if line["logger"] == "gunicorn.access"]
    assert any(m.startswith("GET /members/138****8000?q=…&page=2 ") for m in messages), messages
    assert any("Booting worker" in line["message"] for line in lines)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except urllib.error.HTTPError:
        pass
    except OSError:
        return False
    return True
