"""Bad configuration stops the app and the ``mcrm`` command at start, with a clear message."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcrm import create_app
from mcrm.settings import Settings, SettingsError

MCRM = Path(sys.executable).with_name("mcrm")


def test_create_app_refuses_a_database_it_cannot_use(tmp_path):
    settings = Settings(env="test", instance_path=str(tmp_path), database_url="mysql://root@localhost/mcrm",
                        secret_key="t" * 40)
    with pytest.raises(SettingsError, match="DATABASE_URL must be a sqlite:// or postgresql"):
        create_app(settings)


def mcrm_environ(tmp_path, **env) -> dict:
    """This process's environment without mcrm's settings, plus ``env``."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("MCRM_", "SMPP_", "DATABASE_URL", "SECRET_KEY", "FLASK_"))}
    environ.update(MCRM_INSTANCE_PATH=str(tmp_path), **env)
    return environ


def run_mcrm(tmp_path, *args, **env):
    return subprocess.run([str(MCRM), *args], env=mcrm_environ(tmp_path, **env), capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("env, message", [
    ({"MCRM_ENV": "prod"}, "MCRM_ENV must be one of development, test, production, not 'prod'"),
    ({"MCRM_PORT": "abc"}, "MCRM_PORT must be a whole number, not 'abc'"),
    ({"DATABASE_URL": "mysql://root@localhost/mcrm"}, "DATABASE_URL must be a sqlite:// or postgresql"),
    ({"MCRM_ENV": "production"}, "SECRET_KEY must be set"),
])
def test_mcrm_command_prints_configuration_error_and_exits_2(tmp_path, env, message):
    result = run_mcrm(tmp_path, "merchant", "list", **env)
    assert result.returncode == 2, result.stderr
    assert f"Configuration error: {message}" in result.stderr
    assert "Traceback" not in result.stderr


def test_mcrm_command_runs_with_good_configuration(tmp_path):
    assert run_mcrm(tmp_path, "db", "upgrade").returncode == 0
    result = run_mcrm(tmp_path, "merchant", "list")
    assert result.returncode == 0, result.stderr
    assert "Configuration error" not in result.stderr
