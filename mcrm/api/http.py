"""The HTTP side of ``/api/v1``: the Bearer guard, JSON errors with stable codes, rate-limit buckets,
idempotent answers and opaque cursors. The endpoints themselves are in ``v1_views``."""
import base64
import binascii
import json
from collections.abc import Callable

import sqlalchemy as sa
from flask import Response, current_app, g, jsonify, request
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import Forbidden, HTTPException, Unauthorized

from mcrm.api import services
from mcrm.api.models import ApiToken, TokenScope
from mcrm.api.schemas import ErrorSchema
from mcrm.core.clock import now_utc
from mcrm.core.errors import (ConfirmationRequiredError, ConflictError, DomainError, InsufficientPointsError,
                              NotFoundError, ValidationError)
from mcrm.core.urls import MAX_ID
from mcrm.extensions import db
from mcrm.merchants.models import Merchant

PREFIX = "/api/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"

#: an HTTP status → the ``error.code`` every answer with it carries, unless the error names its own
STATUS_CODES = {400: "validation_error", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
                415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
                500: "internal_error"}
#: refusals of the domain → (status, code)
DOMAIN_ERRORS = ((ValidationError, 400, "validation_error"), (NotFoundError, 404, "not_found"),
                 (InsufficientPointsError, 409, "insufficient_points"),
                 (ConfirmationRequiredError, 409, "confirmation_required"), (ConflictError, 409, "conflict"))


class McrmApi(Api):
    """flask-smorest's Api without its app-wide JSON error handler: the console keeps its error
    pages, and ``web.register_error_pages`` sends requests under /api/ to ``error_response``."""
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        pass


class Parser(FlaskParser):
    """Bad input is a 400 with field errors, as everywhere in mcrm (webargs says 422)."""
    DEFAULT_VALIDATION_STATUS = 400


def openapi_config() -> dict:
    """Flask settings of the OpenAPI document: served at /api/v1/openapi.json, no UI pages."""
    return {"API_TITLE": "mcrm", "API_VERSION": "v1", "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": PREFIX, "OPENAPI_JSON_PATH": "openapi.json",
            "API_SPEC_OPTIONS": {
                "info": {"description": "The JSON API for tills: members, points, SMS and campaigns. "
                                        "See docs/api.md."},
                "security": [{"bearerAuth": []}],
                "components": {"securitySchemes": {"bearerAuth": {
                    "type": "http", "scheme": "bearer",
                    "description": "A token made by the merchant's owner on the console's API tokens page"}}}}}


def is_api_request() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def _body(status: int, code: str, message: str, fields: dict | None = None) -> Response:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    response = jsonify({"error": error})
    response.status_code = status
    return response


def _fields(error: HTTPException) -> dict | None:
    """webargs' messages by location ({"json": {"amount": [...]}}) as one {field: [messages]}."""
    messages = (getattr(error, "data", None) or {}).get("messages")
    if not isinstance(messages, dict):
        return None
    fields: dict = {}
    for by_field in messages.values():
        fields.update(by_field if isinstance(by_field, dict) else {"_request": by_field})
    return fields


def error_response(error: HTTPException) -> Response:
    """The JSON answer to an HTTP error under /api/: ``{"error": {"code", "message", "fields"?}}``."""
    status = error.code or 500
    if status >= 500:
        db.session.rollback()  # after a failed statement PostgreSQL refuses the rest of the transaction
    code = getattr(error, "api_code", None) or STATUS_CODES.get(status, "error")
    fields = _fields(error)
    message = "The request has invalid fields" if fields else (error.description or error.name)
    response = _body(status, code, message, fields)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mcrm"'
    for name, value in (error.get_headers() if status in (405, 429) else ()):
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def domain_error_response(error: DomainError) -> Response:
    """A service's refusal (already rolled back by ``saving``) as JSON."""
    for kind, status, code in DOMAIN_ERRORS:
        if isinstance(error, kind):
            return _body(status, error.details.get("code", code), error.translated())
    return _body(400, "refused", error.translated())


def integrity_error_response(error: sa.exc.IntegrityError) -> Response:
    """Two requests raced for the same unique row (a number enrolled twice at once): the loser is told so."""
    db.session.rollback()
    return _body(409, "conflict", "The request clashes with a change made at the same moment; try again")


def _refuse(kind, code: str, message: str):
    error = kind(message)
    error.api_code = code
    raise error


def _bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def authenticate_request() -> None:
    """Before every endpoint: the Bearer token names a live token, and a read token only reads.

    The token is read and its last use written in a transaction of their own, ended before the
    endpoint runs. Session cookies count for nothing here, which is why CSRF does not apply."""
    secret = _bearer_secret()
    token = services.find_active_token(secret) if secret else None
    if token is None:
        db.session.rollback()
        _refuse(Unauthorized, "unauthorized", "A valid API token is required: Authorization: Bearer <token>")
    if request.method not in ("GET", "HEAD", "OPTIONS") and token.scope != TokenScope.WRITE:
        db.session.rollback()
        _refuse(Forbidden, "insufficient_scope", "This token may only read; a write token is needed")
    now = now_utc()
    g.api_token_id, g.api_merchant_id = token.id, token.merchant_id
    if services.is_use_stale(token, now):
        db.session.rollback()  # a write first: SQLite never refuses it for a stale read
        services.record_use(g.api_token_id, now=now)
        db.session.commit()
    else:
        db.session.rollback()


def current_merchant() -> Merchant:
    return db.session.get(Merchant, g.api_merchant_id)


def current_token() -> ApiToken:
    return db.session.get(ApiToken, g.api_token_id)


def rate_limit() -> str:
    return current_app.extensions["mcrm_settings"].api_rate_limit


def rate_limit_key() -> str:
    """Per token: the digest of the Bearer secret; a request without one counts by address."""
    secret = _bearer_secret()
    return services.rate_limit_key(secret) if secret else "api-address:" + (get_remote_address() or "")


def json_response(body, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def answered_once(status: int, make: Callable[[], dict], *, payload, key: str | None = None) -> Response:
    """``make()``'s answer, given once per idempotency key: inside the caller's ``saving`` block,
    the key is claimed, the change made and the answer stored in one transaction; a retry with the
    key gets the stored answer (header ``Idempotent-Replayed: true``) and changes nothing.

    ``key``: the request's key if the body carries one (a purchase's ``client_key``); else the
    ``Idempotency-Key`` header, if any."""
    header = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and header is not None and header != key:
        raise ValidationError("Idempotency-Key and client_key differ")
    key = key if key is not None else header
    if key is None:
        return json_response(make(), status)
    claim = services.claim_key(current_merchant(), key, services.fingerprint(request.method, request.path, payload),
                               now=now_utc())
    if claim.replay is not None:
        response = json_response(claim.replay.body, claim.replay.status)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    body = make()
    services.keep_answer(claim.request, status, body)
    return json_response(body, status)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor of ``encode_cursor`` pages back from; a forged one is a 400, not a 500."""
    if not cursor:
        return None
    try:
        before = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["before"]
        if not isinstance(before, int) or not 0 < before <= MAX_ID:
            raise ValueError(cursor)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("The cursor is not one this API gave out") from None
    return before
