"""Settings for mcrm, read from the environment in one place.

Every variable, its default and meaning:

=========================  ==================================================================
``MCRM_ENV``               ``development`` (default), ``test`` or ``production``.
``DATABASE_URL``           SQLAlchemy URL. Default ``sqlite:///<instance>/mcrm.sqlite3``.
                           PostgreSQL: ``postgresql+psycopg://user:pass@host/db``.
``SECRET_KEY``             Session signing key. Required in production; in development and
                           test it is generated once and kept in ``<instance>/secret_key``.
``MCRM_INSTANCE_PATH``     Folder for the SQLite file and the generated key. Default
                           ``./instance``.
``MCRM_ACCESS_NUMBER``     The operator's access number (digits). Default ``1065712345``.
``MCRM_SMS_TRANSPORT``     ``sandbox`` (default: delivers instantly, no SMSC) or ``smpp``.
``MCRM_DEFAULT_LOCALE``    Console language when the user has not chosen: ``zh`` (default) or ``en``.
``MCRM_DEFAULT_REGION``    Region for numbers written without a country code. Default ``CN``.
``MCRM_RATELIMIT_STORAGE`` Flask-Limiter storage URI. Default ``memory://`` (one process);
                           use ``redis://...`` when running several web workers.
``MCRM_LOGIN_RATE_LIMIT``  Login attempts allowed per client address. Default ``10 per minute``.
``MCRM_LOGIN_LOCKOUT``     Wrong passwords for one username from one address that lock that username
                           out from that address (4 times as many lock the address). Default ``5``.
``MCRM_LOGIN_LOCKOUT_MINUTES`` The window those are counted in. Default ``15``.
``MCRM_SECURE_COOKIES``    ``true``/``false``: Secure flag on cookies. Default true in production.
``MCRM_HOST``/``MCRM_PORT`` Address ``mcrm run`` serves on. Default ``127.0.0.1`` and ``5000``.
``MCRM_WEB_THREADS``       Threads of the embedded web server. Default ``8``.
``MCRM_SCHEDULER``         ``true``/``false``: run the job scheduler inside ``mcrm run``. Default true.
``MCRM_GATEWAY``           ``true``/``false``: run the SMS gateway inside ``mcrm run``. Default true.
=========================  ==================================================================

The SMPP connection itself is configured by ``SMPP_*`` variables, read by
``sms_gateway.GatewayConfig.from_env``.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

ENVIRONMENTS = ("development", "test", "production")
TRANSPORTS = ("sandbox", "smpp")
LOCALES = ("zh", "en")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; raised at start, never mid-run."""


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def parse_int(name: str, value: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, not {number}")
    return number


def parse_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    value = value.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    instance_path: str = field(default_factory=lambda: str(Path("instance").resolve()))
    database_url: str = ""
    secret_key: str = ""
    access_number: str = "1065712345"
    sms_transport: str = "sandbox"
    default_locale: str = "zh"
    default_region: str = "CN"
    ratelimit_storage: str = "memory://"
    login_rate_limit: str = "10 per minute"
    login_lockout: int = 5
    login_lockout_minutes: int = 15
    secure_cookies: bool = False
    host: str = "127.0.0.1"
    port: int = 5000
    web_threads: int = 8
    run_scheduler: bool = True
    run_gateway: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env_vars = os.environ if environ is None else environ
        get = env_vars.get
        env = parse_choice("MCRM_ENV", get("MCRM_ENV", "development"), ENVIRONMENTS)
        instance = str(Path(get("MCRM_INSTANCE_PATH", "instance")).resolve())
        settings = cls(
            env=env,
            instance_path=instance,
            database_url=get("DATABASE_URL", "").strip(),
            secret_key=get("SECRET_KEY", ""),
            access_number=get("MCRM_ACCESS_NUMBER", "1065712345").strip(),
            sms_transport=parse_choice("MCRM_SMS_TRANSPORT", get("MCRM_SMS_TRANSPORT", "sandbox"), TRANSPORTS),
            default_locale=parse_choice("MCRM_DEFAULT_LOCALE", get("MCRM_DEFAULT_LOCALE", "zh"), LOCALES),
            default_region=get("MCRM_DEFAULT_REGION", "CN").strip().upper(),
            ratelimit_storage=get("MCRM_RATELIMIT_STORAGE", "memory://").strip(),
            login_rate_limit=get("MCRM_LOGIN_RATE_LIMIT", "10 per minute").strip(),
            login_lockout=parse_int("MCRM_LOGIN_LOCKOUT", get("MCRM_LOGIN_LOCKOUT", "5"), minimum=1),
            login_lockout_minutes=parse_int(
                "MCRM_LOGIN_LOCKOUT_MINUTES", get("MCRM_LOGIN_LOCKOUT_MINUTES", "15"), minimum=1),
            secure_cookies=parse_bool(
                "MCRM_SECURE_COOKIES", get("MCRM_SECURE_COOKIES", "true" if env == "production" else "false")),
            host=get("MCRM_HOST", "127.0.0.1").strip(),
            port=parse_int("MCRM_PORT", get("MCRM_PORT", "5000"), minimum=1, maximum=65535),
            web_threads=parse_int("MCRM_WEB_THREADS", get("MCRM_WEB_THREADS", "8"), minimum=1, maximum=256),
            run_scheduler=parse_bool("MCRM_SCHEDULER", get("MCRM_SCHEDULER", "true")),
            run_gateway=parse_bool("MCRM_GATEWAY", get("MCRM_GATEWAY", "true")),
        )
        return settings.with_defaults()

    def with_defaults(self) -> "Settings":
        """Fill the embedded defaults that depend on the instance folder."""
        changes = {}
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{Path(self.instance_path) / 'mcrm.sqlite3'}"
        if not self.secret_key and self.env != "production":
            changes["secret_key"] = _kept_secret_key(Path(self.instance_path))
        return replace(self, **changes) if changes else self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def validate(self) -> None:
        if not re.fullmatch(r"\d{3,20}", self.access_number):
            raise SettingsError(f"MCRM_ACCESS_NUMBER must be 3 to 20 digits, not {self.access_number!r}")
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", self.database_url):
            raise SettingsError("DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
        if self.env == "production" and len(self.secret_key) < 32:
            raise SettingsError("SECRET_KEY must be set (32 characters or more) when MCRM_ENV=production")
        if not re.fullmatch(r"[A-Z]{2}", self.default_region):
            raise SettingsError(f"MCRM_DEFAULT_REGION must be a two-letter region code, not {self.default_region!r}")
        if not re.fullmatch(r"\d+ per (second|minute|hour|day)", self.login_rate_limit):
            raise SettingsError(f"MCRM_LOGIN_RATE_LIMIT must read like '10 per minute', not {self.login_rate_limit!r}")


def _kept_secret_key(instance: Path) -> str:
    """A random key generated once per instance folder, so sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
