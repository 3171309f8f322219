"""``/healthz``, ``/readyz`` and ``/metrics``: for load balancers, process managers and Prometheus.
No login, no session, no page: plain answers a machine reads."""
import hmac
import ipaddress

from flask import Blueprint, Response, current_app, jsonify, request

from mcrm.core.clock import now_utc
from mcrm.extensions import csrf, limiter
from mcrm.ops.health import check_readiness
from mcrm.ops.metrics import render_metrics

bp = Blueprint("ops", __name__)
csrf.exempt(bp)
limiter.exempt(bp)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/healthz")
def healthz():
    """The process is up and serves requests; nothing else is asked (a restart would not help)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    readiness = check_readiness(now_utc(), app=current_app._get_current_object())
    if readiness.ready:
        return jsonify(status="ready")
    return jsonify(status="not ready", reasons=list(readiness.reasons)), 503


def _from_this_machine() -> bool:
    """Sent from a loopback address and not relayed by a proxy (which would make every client loopback)."""
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics():
    settings = current_app.extensions["mcrm_settings"]
    if settings.metrics_token:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {settings.metrics_token}".encode()):
            return Response("a bearer token is required\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                            mimetype="text/plain")
    elif not _from_this_machine():
        return Response("only from this machine (or set MCRM_METRICS_TOKEN)\n", 403, mimetype="text/plain")
    return Response(render_metrics(now_utc(), settings.metrics_multiproc_dir), content_type=CONTENT_TYPE)
