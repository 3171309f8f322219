"""Settings.from_env: embedded defaults, and bad values refused at start with a clear message."""
import pytest

from mcrm.settings import Settings, SettingsError


def settings_from(tmp_path, **env):
    return Settings.from_env({"MCRM_INSTANCE_PATH": str(tmp_path), **env})


def test_defaults_are_sqlite_in_the_instance_folder_and_a_kept_secret_key(tmp_path):
    settings = settings_from(tmp_path)
    settings.validate()
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'mcrm.sqlite3'}"
    assert settings.access_number == "1065712345"
    assert settings.default_locale == "zh"
    assert len(settings.secret_key) >= 32
    assert settings_from(tmp_path).secret_key == settings.secret_key  # survives a restart


@pytest.mark.parametrize("env, message", [
    ({"MCRM_ENV": "prod"}, "MCRM_ENV must be one of development, test, production, not 'prod'"),
    ({"MCRM_PORT": "abc"}, "MCRM_PORT must be a whole number, not 'abc'"),
    ({"MCRM_PORT": "70000"}, "MCRM_PORT must be between 1 and 65535, not 70000"),
    ({"MCRM_SCHEDULER": "maybe"}, "MCRM_SCHEDULER must be true or false, not 'maybe'"),
    ({"MCRM_DEFAULT_LOCALE": "fr"}, "MCRM_DEFAULT_LOCALE must be one of zh, en, not 'fr'"),
    ({"MCRM_SMS_TRANSPORT": "carrier-pigeon"}, "MCRM_SMS_TRANSPORT must be one of sandbox, smpp"),
])
def test_malformed_values_fail_while_reading_the_environment(tmp_path, env, message):
    with pytest.raises(SettingsError) as error:
        settings_from(tmp_path, **env)
    assert message in str(error.value)


@pytest.mark.parametrize("env, message", [
    ({"DATABASE_URL": "mysql://root@localhost/mcrm"}, "DATABASE_URL must be a sqlite:// or postgresql"),
    ({"MCRM_ENV": "production"}, "SECRET_KEY must be set"),
    ({"MCRM_ENV": "production", "SECRET_KEY": "short"}, "SECRET_KEY must be set (32 characters or more)"),
    ({"MCRM_ACCESS_NUMBER": "10657-123"}, "MCRM_ACCESS_NUMBER must be 3 to 20 digits"),
    ({"MCRM_LOGIN_RATE_LIMIT": "lots"}, "MCRM_LOGIN_RATE_LIMIT must read like '10 per minute'"),
])
def test_inconsistent_values_fail_validation(tmp_path, env, message):
    settings = settings_from(tmp_path, **env)
    with pytest.raises(SettingsError) as error:
        settings.validate()
    assert message in str(error.value)


def test_production_does_not_generate_a_secret_key(tmp_path):
    settings_from(tmp_path, MCRM_ENV="production", SECRET_KEY="")
    assert not (tmp_path / "secret_key").exists()


def test_production_with_a_long_secret_key_and_postgresql_is_valid(tmp_path):
    settings = settings_from(tmp_path, MCRM_ENV="production", SECRET_KEY="k" * 40,
                             DATABASE_URL="postgresql+psycopg://mcrm:pw@db.internal/mcrm")
    settings.validate()
    assert settings.secure_cookies is True
    assert not settings.is_sqlite
