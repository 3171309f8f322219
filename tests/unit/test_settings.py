"""Settings.from_env: embedded defaults, and bad values refused at start with a clear message."""
import re
import sys

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
    settings = settings_from(tmp_path, MCRM_ENV="production", SECRET_KEY="k" * 40, SMPP_TRANSPORT="smpp",
                             DATABASE_URL="postgresql+psycopg://mcrm:pw@db.internal/mcrm")
    settings.validate()
    assert settings.secure_cookies is True
    assert not settings.is_sqlite


def test_smpp_transport_chooses_the_smsc(tmp_path):
    assert settings_from(tmp_path, SMPP_TRANSPORT="smpp").sms_transport == "smpp"
    assert settings_from(tmp_path).sms_transport == "sandbox"


def test_the_former_transport_name_is_still_honoured(tmp_path):
    assert settings_from(tmp_path, MCRM_SMS_TRANSPORT="smpp").sms_transport == "smpp"
    assert settings_from(tmp_path, MCRM_SMS_TRANSPORT="smpp", SMPP_TRANSPORT="SMPP").sms_transport == "smpp"


def test_two_transport_names_that_disagree_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="SMPP_TRANSPORT=smpp and MCRM_SMS_TRANSPORT=sandbox disagree: "
                                            "set SMPP_TRANSPORT only"):
        settings_from(tmp_path, SMPP_TRANSPORT="smpp", MCRM_SMS_TRANSPORT="sandbox")


def test_production_runs_the_sandbox_only_when_asked_for_by_name(tmp_path):
    production = {"MCRM_ENV": "production", "SECRET_KEY": "k" * 40}
    with pytest.raises(SettingsError, match="SMPP_TRANSPORT must be set when MCRM_ENV=production"):
        settings_from(tmp_path, **production).validate()
    chosen = settings_from(tmp_path, SMPP_TRANSPORT="sandbox", **production)
    chosen.validate()
    assert chosen.sms_transport == "sandbox"


def test_a_bare_postgresql_url_means_the_installed_psycopg_driver(tmp_path):
    for url in ("postgresql://mcrm:pw@db/mcrm", "postgres://mcrm:pw@db/mcrm"):
        settings = settings_from(tmp_path, DATABASE_URL=url)
        settings.validate()
        assert settings.database_url == "postgresql+psycopg://mcrm:pw@db/mcrm"
    with pytest.raises(SettingsError, match="DATABASE_URL must be a sqlite:// or postgresql\\+psycopg://"):
        settings_from(tmp_path, DATABASE_URL="postgresql+psycopg2://mcrm:pw@db/mcrm").validate()


def test_redis_rate_limit_storage_without_its_client_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # what `import redis` meets when it is not installed
    settings = settings_from(tmp_path, MCRM_RATELIMIT_STORAGE="redis://127.0.0.1:6379")
    with pytest.raises(SettingsError, match=re.escape("MCRM_RATELIMIT_STORAGE needs the redis package: "
                                                      "pip install 'mcrm[redis]'")):
        settings.validate()


def test_trusted_proxies_is_a_small_count(tmp_path):
    assert settings_from(tmp_path).trusted_proxies == 0
    assert settings_from(tmp_path, MCRM_TRUSTED_PROXIES="1").trusted_proxies == 1
    with pytest.raises(SettingsError, match="MCRM_TRUSTED_PROXIES must be a whole number"):
        settings_from(tmp_path, MCRM_TRUSTED_PROXIES="nginx")
