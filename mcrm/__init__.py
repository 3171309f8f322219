"""mcrm: SMS customer-relationship service for service merchants."""
from pathlib import Path

from flask import Flask

from mcrm.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> Flask:
    """settings → extensions → blueprints → error pages → middleware → cli."""
    settings = settings or Settings.from_env()
    settings.validate()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=settings.instance_path,
        instance_relative_config=False,
    )
    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(_flask_config(settings))
    app.extensions["mcrm_settings"] = settings

    from mcrm import web
    web.configure_extensions(app, settings)
    web.register_blueprints(app)
    web.register_error_pages(app)
    web.configure_middleware(app, settings)

    from mcrm.cli import register_cli
    register_cli(app)
    return app


def _flask_config(settings: Settings) -> dict:
    # a failed statement's parameters may hold an SMS body, a login code or a phone number: its
    # error text, which tracebacks and logs quote, names the statement only
    engine_options = {"pool_pre_ping": True, "hide_parameters": True}
    if settings.is_sqlite:
        # web threads, scheduler and gateway share one file: wait for the lock rather than fail
        engine_options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        # a server that accepts the connection and never answers would otherwise hold it for ever
        engine_options["connect_args"] = {"connect_timeout": settings.db_connect_timeout}
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "TESTING": settings.env == "test",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": settings.secure_cookies,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead: a form left open all day still posts
        "BABEL_DEFAULT_LOCALE": settings.default_locale,
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "RATELIMIT_STORAGE_URI": settings.ratelimit_storage,
        "RATELIMIT_HEADERS_ENABLED": True,
        "MAX_CONTENT_LENGTH": 200 * 1024 * 1024,  # CSV imports of a million rows
    }
