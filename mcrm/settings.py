"""Settings for mcrm, read from the environment in one place.

Every variable, its default and meaning:

=========================  ==================================================================
``MCRM_ENV``               ``development`` (default), ``test`` or ``production``.
``DATABASE_URL``           SQLAlchemy URL. Default ``sqlite:///<instance>/mcrm.sqlite3``.
                           PostgreSQL: ``postgresql+psycopg://user:pass@host/db`` (``postgresql://``
                           means the same; needs ``pip install 'mcrm[postgres]'``).
``MCRM_DB_CONNECT_TIMEOUT`` Seconds a new PostgreSQL connection may take before it fails (2 to
                           300). Default ``5``: a database that does not answer fails a request
                           (and a ``/readyz`` check) instead of holding it.
``SECRET_KEY``             Session signing key. Required in production; in development and
                           test it is generated once and kept in ``<instance>/secret_key``.
``MCRM_INSTANCE_PATH``     Folder for the SQLite file and the generated key. Default
                           ``./instance``.
``MCRM_ACCESS_NUMBER``     The operator's access number (digits). Default ``1065712345``.
``SMPP_TRANSPORT``         ``smpp`` (the operator's SMSC, set by the other ``SMPP_*`` variables) or
                           ``sandbox`` (no SMSC: every SMS is "delivered" at once, consumers are
                           played in the console's phone simulator). Default ``sandbox``, except
                           in production, where it must be set: the sandbox never runs there
                           unless asked for. ``MCRM_SMS_TRANSPORT`` is its former name, still
                           honoured; both set and different stop the service. With the sandbox,
                           ``SMPP_HOST``, ``SMPP_SYSTEM_ID`` or ``SMPP_PASSWORD`` stop the service:
                           they mean an SMSC was meant.
``MCRM_DEFAULT_LOCALE``    Console language when the user has not chosen: ``zh`` (default) or ``en``.
``MCRM_DEFAULT_REGION``    Region for numbers written without a country code. Default ``CN``.
``MCRM_RATELIMIT_STORAGE`` Flask-Limiter storage URI. Default ``memory://`` (one process);
                           use ``redis://host:6379`` when running several web workers
                           (needs ``pip install 'mcrm[redis]'``).
``MCRM_TRUSTED_PROXIES``   Reverse proxies in front of the web server whose ``X-Forwarded-For``
                           and ``X-Forwarded-Proto`` are believed. Default ``0``: the client
                           address is the connection's. Behind one nginx, ``1``; without it the
                           rate limits see the proxy's address for everyone. Never more than
                           there are: a client could then choose its own address.
``MCRM_LOGIN_RATE_LIMIT``  Login attempts allowed per client address. Default ``10 per minute``.
``MCRM_API_RATE_LIMIT``    Requests allowed per API token (``/api/v1``). Default ``120 per minute``.
``MCRM_LOGIN_LOCKOUT``     Wrong passwords for one username from one address that lock that username
                           out from that address (4 times as many lock the address). Default ``5``.
``MCRM_LOGIN_LOCKOUT_MINUTES`` The window those are counted in. Default ``15``.
``MCRM_SECURE_COOKIES``    ``true``/``false``: Secure flag on cookies. Default true in production.
``MCRM_HOST``/``MCRM_PORT`` Address ``mcrm run`` serves on (``--host``/``--port`` win). Default
                           ``127.0.0.1`` and ``5000``.
``MCRM_WEB_THREADS``       Threads of the embedded web server. Default ``8``.
``MCRM_SCHEDULER``         ``true``/``false``: run the job scheduler inside ``mcrm run``. Default true.
``MCRM_SCHEDULER_LEASE_SECS`` Seconds the acting scheduler's lease lasts (it renews it every third):
                           when it dies, another scheduler takes over within about this long.
                           Default ``30`` (2 to 3600). Keep the servers' clocks in sync (NTP).
``MCRM_GATEWAY``           ``true``/``false``: run the SMS gateway inside ``mcrm run``. Default true.
``MCRM_LOG_FORMAT``        ``plain`` (default: one line of text per event) or ``json`` (one JSON
                           object per line, for a log collector).
``MCRM_METRICS_TOKEN``     Bearer token that ``/metrics`` asks for. Default empty: ``/metrics``
                           answers only requests from the machine itself (a loopback address, no
                           ``X-Forwarded-For``). At least 16 characters when set.
``PROMETHEUS_MULTIPROC_DIR`` Folder where each process keeps its own counters (prometheus_client's
                           multiprocess mode), shared by every web worker and gateway of one
                           machine. Default empty: each process counts alone (``mcrm run``).
                           prometheus_client reads it too, so set it before a process starts.
``MCRM_WEBHOOK_TIMEOUT_SECS`` Seconds a webhook receiver has to answer one POST. Default ``5``
                           (1 to 30).
``MCRM_WEBHOOK_MAX_ATTEMPTS`` Tries of one webhook delivery before it is marked failed. Default
                           ``8`` (1 to 20; the waits between them double from 30 seconds).
``MCRM_WEBHOOK_ALLOW_PRIVATE`` ``true``/``false``: let webhook URLs point at private, loopback and
                           link-local addresses. Default false: an owner could otherwise make the
                           server POST into the network it runs in. Tests and a receiver on the
                           same machine need true.
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
from collections.abc import Mapping

ENVIRONMENTS = ("development", "test", "production")
TRANSPORTS = ("sandbox", "smpp")
#: the SMS transport's variable, and its former name (still honoured: deployments set it)
TRANSPORT_VARIABLE, TRANSPORT_FORMER_VARIABLE = "SMPP_TRANSPORT", "MCRM_SMS_TRANSPORT"
LOCALES = ("zh", "en")
LOG_FORMATS = ("plain", "json")


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
    db_connect_timeout: int = 5
    secret_key: str = ""
    access_number: str = "1065712345"
    sms_transport: str = "sandbox"  # from_env leaves it "" when unset: no default in production
    default_locale: str = "zh"
    default_region: str = "CN"
    ratelimit_storage: str = "memory://"
    login_rate_limit: str = "10 per minute"
    api_rate_limit: str = "120 per minute"
    login_lockout: int = 5
    login_lockout_minutes: int = 15
    secure_cookies: bool = False
    host: str = "127.0.0.1"
    port: int = 5000
    trusted_proxies: int = 0
    web_threads: int = 8
    run_scheduler: bool = True
    scheduler_lease_secs: int = 30
    run_gateway: bool = True
    log_format: str = "plain"
    metrics_token: str = ""
    metrics_multiproc_dir: str = ""
    webhook_timeout_secs: int = 5
    webhook_max_attempts: int = 8
    webhook_allow_private: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env_vars = os.environ if environ is None else environ
        get = env_vars.get
        env = parse_choice("MCRM_ENV", get("MCRM_ENV", "development"), ENVIRONMENTS)
        instance = str(Path(get("MCRM_INSTANCE_PATH", "instance")).resolve())
        settings = cls(
            env=env,
            instance_path=instance,
            database_url=_database_url(get("DATABASE_URL", "")),
            db_connect_timeout=parse_int("MCRM_DB_CONNECT_TIMEOUT", get("MCRM_DB_CONNECT_TIMEOUT", "5"),
                                         minimum=2, maximum=300),
            secret_key=get("SECRET_KEY", ""),
            access_number=get("MCRM_ACCESS_NUMBER", "1065712345").strip(),
            sms_transport=_sms_transport(env_vars),
            default_locale=parse_choice("MCRM_DEFAULT_LOCALE", get("MCRM_DEFAULT_LOCALE", "zh"), LOCALES),
            default_region=get("MCRM_DEFAULT_REGION", "CN").strip().upper(),
            ratelimit_storage=get("MCRM_RATELIMIT_STORAGE", "memory://").strip(),
            login_rate_limit=get("MCRM_LOGIN_RATE_LIMIT", "10 per minute").strip(),
            api_rate_limit=get("MCRM_API_RATE_LIMIT", "120 per minute").strip(),
            login_lockout=parse_int("MCRM_LOGIN_LOCKOUT", get("MCRM_LOGIN_LOCKOUT", "5"), minimum=1),
            login_lockout_minutes=parse_int(
                "MCRM_LOGIN_LOCKOUT_MINUTES", get("MCRM_LOGIN_LOCKOUT_MINUTES", "15"), minimum=1),
            secure_cookies=parse_bool(
                "MCRM_SECURE_COOKIES", get("MCRM_SECURE_COOKIES", "true" if env == "production" else "false")),
            host=get("MCRM_HOST", "127.0.0.1").strip(),
            port=parse_int("MCRM_PORT", get("MCRM_PORT", "5000"), minimum=1, maximum=65535),
            trusted_proxies=parse_int("MCRM_TRUSTED_PROXIES", get("MCRM_TRUSTED_PROXIES", "0"), maximum=5),
            web_threads=parse_int("MCRM_WEB_THREADS", get("MCRM_WEB_THREADS", "8"), minimum=1, maximum=256),
            run_scheduler=parse_bool("MCRM_SCHEDULER", get("MCRM_SCHEDULER", "true")),
            scheduler_lease_secs=parse_int("MCRM_SCHEDULER_LEASE_SECS", get("MCRM_SCHEDULER_LEASE_SECS", "30"),
                                           minimum=2, maximum=3600),
            run_gateway=parse_bool("MCRM_GATEWAY", get("MCRM_GATEWAY", "true")),
            log_format=parse_choice("MCRM_LOG_FORMAT", get("MCRM_LOG_FORMAT", "plain"), LOG_FORMATS),
            metrics_token=get("MCRM_METRICS_TOKEN", "").strip(),
            metrics_multiproc_dir=get("PROMETHEUS_MULTIPROC_DIR", "").strip(),
            webhook_timeout_secs=parse_int("MCRM_WEBHOOK_TIMEOUT_SECS", get("MCRM_WEBHOOK_TIMEOUT_SECS", "5"),
                                           minimum=1, maximum=30),
            webhook_max_attempts=parse_int("MCRM_WEBHOOK_MAX_ATTEMPTS", get("MCRM_WEBHOOK_MAX_ATTEMPTS", "8"),
                                           minimum=1, maximum=20),
            webhook_allow_private=parse_bool("MCRM_WEBHOOK_ALLOW_PRIVATE",
                                             get("MCRM_WEBHOOK_ALLOW_PRIVATE", "false")),
        )
        return settings.with_defaults()

    def with_defaults(self) -> Settings:
        """Fill the embedded defaults that depend on the instance folder."""
        changes = {}
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{Path(self.instance_path) / 'mcrm.sqlite3'}"
        if not self.secret_key and self.env != "production":
            changes["secret_key"] = _kept_secret_key(Path(self.instance_path))
        if not self.sms_transport and self.env != "production":
            changes["sms_transport"] = "sandbox"
        return replace(self, **changes) if changes else self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def validate(self) -> None:
        if not re.fullmatch(r"\d{3,20}", self.access_number):
            raise SettingsError(f"MCRM_ACCESS_NUMBER must be 3 to 20 digits, not {self.access_number!r}")
        if not re.match(r"^(sqlite|postgresql\+psycopg)://", self.database_url):
            raise SettingsError("DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
        if not self.is_sqlite:
            _require_client("psycopg", "DATABASE_URL", "postgres")
        if self.ratelimit_storage.startswith(("redis://", "rediss://", "redis+")):
            _require_client("redis", "MCRM_RATELIMIT_STORAGE", "redis")
        if self.env == "production" and len(self.secret_key) < 32:
            raise SettingsError("SECRET_KEY must be set (32 characters or more) when MCRM_ENV=production")
        if not self.sms_transport:
            # the sandbox marks every SMS delivered: in production only when asked for by name
            raise SettingsError(f"{TRANSPORT_VARIABLE} must be set when MCRM_ENV=production: smpp for the "
                                f"operator's SMSC, or sandbox to send no SMS at all")
        if not re.fullmatch(r"[A-Z]{2}", self.default_region):
            raise SettingsError(f"MCRM_DEFAULT_REGION must be a two-letter region code, not {self.default_region!r}")
        if self.metrics_token and len(self.metrics_token) < 16:
            raise SettingsError("MCRM_METRICS_TOKEN must be 16 characters or more (or empty: loopback only)")
        if self.metrics_multiproc_dir and not Path(self.metrics_multiproc_dir).is_dir():
            raise SettingsError(f"PROMETHEUS_MULTIPROC_DIR must be an existing folder, not "
                                f"{self.metrics_multiproc_dir!r}")
        for variable, limit in (("MCRM_LOGIN_RATE_LIMIT", self.login_rate_limit),
                                ("MCRM_API_RATE_LIMIT", self.api_rate_limit)):
            if not re.fullmatch(r"\d+ per (second|minute|hour|day)", limit):
                raise SettingsError(f"{variable} must read like '10 per minute', not {limit!r}")


def _database_url(value: str) -> str:
    """``postgresql://`` and ``postgres://`` (as hosting providers write them) mean the psycopg 3
    driver mcrm installs; SQLAlchemy would otherwise look for psycopg2."""
    value = value.strip()
    for bare in ("postgresql://", "postgres://"):
        if value.startswith(bare):
            return "postgresql+psycopg://" + value[len(bare):]
    return value


def _sms_transport(env_vars: Mapping[str, str]) -> str:
    """``SMPP_TRANSPORT``, or its former name, or "" when neither is set."""
    given = {name: parse_choice(name, env_vars[name], TRANSPORTS)
             for name in (TRANSPORT_VARIABLE, TRANSPORT_FORMER_VARIABLE) if env_vars.get(name, "").strip()}
    if len(set(given.values())) > 1:
        raise SettingsError(
            f"{TRANSPORT_VARIABLE}={given[TRANSPORT_VARIABLE]} and {TRANSPORT_FORMER_VARIABLE}="
            f"{given[TRANSPORT_FORMER_VARIABLE]} disagree: set {TRANSPORT_VARIABLE} only")
    return next(iter(given.values()), "")


def _require_client(module: str, variable: str, extra: str) -> None:
    """A setting that needs an optional package fails at start, naming the install command."""
    try:
        __import__(module)
    except ImportError:
        raise SettingsError(f"{variable} needs the {module} package: pip install 'mcrm[{extra}]'") from None


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
