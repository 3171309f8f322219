"""The example systemd units in deploy/ name commands that exist: systemd-analyze verify (which
fails on a missing executable and warns on a bad key) when available, else a parse; every ``mcrm``
subcommand they run answers ``--help``, and gunicorn accepts its configuration with wsgi:app."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
