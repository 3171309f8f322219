"""Wiring of the web side: extensions, blueprints, locale, error pages, WSGI middleware."""
import logging
import time
from urllib.parse import parse_qsl

from flask import (Flask, Request, current_app, g, has_request_context, render_template, request, request_started,
                   session)
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import ClosingIterator

from mcrm import ROOT, formatting
from mcrm import db as _db_events  # registers the SQLite pragmas on import
from mcrm import models  # noqa: F401  (every table in the metadata)
from mcrm.agenda.views import bp as agenda_bp
from mcrm.audit.views import bp as audit_bp
from mcrm.api import http as api_http
from mcrm.api.token_views import bp as api_tokens_bp
from mcrm.webhooks.views import bp as webhooks_bp
from mcrm.api.v1_views import bp as api_v1_bp
from mcrm.auth.login_code_views import bp as login_codes_bp
from mcrm.auth.services import find_staff_for_session
from mcrm.auth.staff_views import bp as staff_bp
from mcrm.auth.views import bp as auth_bp
from mcrm.campaigns.views import bp as campaigns_bp
from mcrm.core.msisdn import mask_numbers
from mcrm.core.text import strip_controls
from mcrm.core.urls import IdConverter
from mcrm.care.views import bp as care_bp
from mcrm.dashboard.views import bp as dashboard_bp
from mcrm.feedback.views import bp as feedback_bp
from mcrm.extensions import babel, csrf, db, limiter, login_manager, migrate
from mcrm.keywords.views import bp as keywords_bp
from mcrm.members.views import bp as members_bp
from mcrm.merchants.views import bp as merchants_bp
from mcrm.messaging.views import bp as messaging_bp
from mcrm.ops.metrics import observe_request
from mcrm.ops.views import bp as ops_bp
from mcrm.points.views import bp as points_bp
from mcrm.privacy.views import bp as privacy_bp
from mcrm.segments.views import bp as segments_bp
from mcrm.surveys.views import bp as surveys_bp
from mcrm.settings import LOCALES, Settings


def configure_extensions(app: Flask, settings: Settings) -> None:

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_staff(session_id: str):
        return find_staff_for_session(session_id)

    app.jinja_env.globals.update(locales=LOCALES, get_locale=get_locale)
    formatting.register(app)


def _migrations_dir():
    return ROOT / "migrations"


def _select_locale() -> str:
    if not has_request_context():
        return "en"  # a job or the CLI: the source texts, unless the caller forces a language
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    if current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    return request.accept_languages.best_match(LOCALES) or _default_locale()


def _default_locale() -> str:
    return current_app.extensions["mcrm_settings"].default_locale


def _select_timezone() -> str:
    if current_user.is_authenticated:
        return current_user.merchant.timezone
    return "Asia/Shanghai"


class _TypedValues(ImmutableMultiDict):
    """Query-string and form values without control codes (uploaded files are left as they are)."""

    def __init__(self, mapping=None):
        if isinstance(mapping, list):  # how Werkzeug builds args, form and files: (name, value) pairs
            mapping = [(name, strip_controls(value) if isinstance(value, str) else value)
                       for name, value in mapping]
        super().__init__(mapping)


class ConsoleRequest(Request):
    """Every view, form and search reads typed values without control codes: the same text is
    accepted, searched and saved alike on SQLite and PostgreSQL, instead of a 500 on one of them."""
    parameter_storage_class = _TypedValues


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any rule is added
    app.request_class = ConsoleRequest
    for blueprint in (auth_bp, login_codes_bp, staff_bp, merchants_bp, dashboard_bp, members_bp, points_bp,
                      messaging_bp, keywords_bp, segments_bp, campaigns_bp, agenda_bp, care_bp,
                      feedback_bp, surveys_bp, ops_bp, audit_bp, privacy_bp, api_tokens_bp,
                      webhooks_bp):
        app.register_blueprint(blueprint)
    app.config.update(api_http.openapi_config())
    api_http.McrmApi(app).register_blueprint(api_v1_bp)

    _db_events.wrap_read_only_requests(app)

    # on request_started, before any before_request hook can refuse the request (CSRF, rate limits)
    request_started.connect(_remember_route, app)

    @app.before_request
    def _remember_merchant():
        g.merchant = current_user.merchant if current_user.is_authenticated else None

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def register_error_pages(app: Flask) -> None:

    def page(code):
        def handler(error):
            if api_http.is_api_request():
                return api_http.error_response(error)
            return render_template("errors.html", code=code, error=error), code
        return handler

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, page(code))

    @app.errorhandler(HTTPException)
    def other_errors(error):
        """The codes without a console page (401, 409, 415): JSON under /api/, Werkzeug's page elsewhere."""
        return api_http.error_response(error) if api_http.is_api_request() else error
    app.register_error_handler(CSRFError, page(400))


def configure_middleware(app: Flask, settings: Settings) -> None:
    """Trusted proxies first, so the request log and the rate limits see the client's address."""
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.wsgi_app = RequestLog(app.wsgi_app)


request_logger = logging.getLogger("mcrm.requests")
#: where a request's route template waits in the WSGI environ for RequestLog
ROUTE_KEY = "mcrm.route"


def _remember_route(_app, **_extra) -> None:
    """The route's template for the latency metric: never the raw path, which holds ids and numbers."""
    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.rule

#: query keys whose values are paging cursors or choices; every other value may be a number, a name,
#: a search or a code, and is left out of the log
_LOGGED_QUERY_VALUES = frozenset({"after", "before", "encoding", "page", "status", "tier"})


def loggable_target(path: str, query: str) -> str:
    """The request's path and query as the log shows them: numbers masked, values hidden.

    ``path`` is WSGI's PATH_INFO: already unquoted, its UTF-8 bytes read as Latin-1."""
    shown = mask_numbers(path.encode("latin-1", "replace").decode("utf-8", "replace"))
    if query:
        pairs = [f"{mask_numbers(key)}={mask_numbers(value) if key in _LOGGED_QUERY_VALUES else '…'}"
                 for key, value in parse_qsl(query, keep_blank_values=True)]
        shown += "?" + "&".join(pairs)
    return shown


class RequestLog:
    """WSGI middleware: one line per request, ``GET /members/?q=… 200 12ms``, once the body is sent
    (a streamed export counts its whole time), and the same time in the latency metric by route
    template. No bodies, no client addresses."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = ["-"]

        def remember_status(status_line, headers, exc_info=None):
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)

        def log():
            seconds = time.perf_counter() - started
            method = environ.get("REQUEST_METHOD", "-")
            target = loggable_target(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
            request_logger.info("%s %s %s %dms", method, target, status[0], round(seconds * 1000))
            observe_request(method, environ.get(ROUTE_KEY), status[0], seconds)

        try:
            body = self.wsgi_app(environ, remember_status)
        except BaseException:
            status[0] = "500"
            log()
            raise
        return ClosingIterator(body, log)
