"""API tokens (made, revoked, checked) and idempotent requests: the rules, without a request.

A token's secret is ``mcrm_`` and 40 URL-safe characters; only its SHA-256 is stored. An
idempotent write first claims its key in ``api_requests`` (INSERT ... ON CONFLICT DO NOTHING), in the
same transaction as the change and the stored answer: a concurrent retry waits on the key's unique
index (PostgreSQL) or the write lock (SQLite) and then finds the answer; a refused change rolls the
claim back with it, so a corrected retry may run.
"""
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from mcrm.auth.models import Staff
from mcrm.core.errors import ConflictError, ValidationError
from mcrm.extensions import db
from mcrm.merchants.models import Merchant
from mcrm.api.models import ApiRequest, ApiToken, TokenScope

SECRET_PREFIX = "mcrm_"
#: characters of the secret shown in the console after it is made
SHOWN_PREFIX = 12
#: last use is written when the stored one is older than this: one write a minute per token, not one per request
USE_RESOLUTION = timedelta(minutes=1)
MAX_KEY_LENGTH = 64


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def create_token(merchant: Merchant, *, name: str, scope: str, actor: Staff, now: datetime) -> tuple[ApiToken, str]:
    """A new token and its secret, which is never stored nor shown again. Flushes."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise ValidationError("A token needs a name of at most 64 characters")
    if scope not in tuple(TokenScope):
        raise ValidationError("Scope must be read or write")
    secret = SECRET_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken(merchant_id=merchant.id, name=name, scope=scope, prefix=secret[:SHOWN_PREFIX],
                     token_hash=_digest(secret), created_by_id=actor.id, created_at=now)
    db.session.add(token)
    db.session.flush()
    return token, secret


def list_tokens(merchant: Merchant) -> list[ApiToken]:
    """The merchant's tokens, active first, newest first."""
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.merchant_id == merchant.id).order_by(
        ApiToken.revoked_at.is_not(None), ApiToken.id.desc())))


def revoke_token(token: ApiToken, *, now: datetime) -> bool:
    """Stop the token working from the next request on. Returns False when it already was revoked."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    db.session.flush()
    return True


def find_active_token(secret: str) -> ApiToken | None:
    """The live token whose secret this is, or None (unknown, revoked)."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _digest(secret),
                                                       ApiToken.revoked_at.is_(None)))


def is_use_stale(token: ApiToken, now: datetime) -> bool:
    return token.last_used_at is None or token.last_used_at <= now - USE_RESOLUTION


def record_use(token_id: int, *, now: datetime) -> None:
    """Note the token's use; one statement, so it can open a transaction of its own (a write first
    never meets SQLite's stale-read refusal). Flushes nothing else."""
    db.session.execute(sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
                       .execution_options(synchronize_session=False))


def rate_limit_key(secret: str) -> str:
    """The bucket a request's rate limit counts in: one per token, named by a digest, never the secret."""
    return "api-token:" + _digest(secret)[:32]


# ---------------------------------------------------------------------------------- idempotency


@dataclass
class Claim:
    """A key claimed for this request (``request`` set), or the answer a former one got (``replay``)."""
    request: ApiRequest | None = None
    replay: ApiRequest | None = None


def fingerprint(method: str, path: str, payload) -> str:
    canonical = json.dumps([method, path, payload], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationError("An idempotency key is 1 to %(most)s printable ASCII characters", most=MAX_KEY_LENGTH)
    return key


def claim_key(merchant: Merchant, key: str, fingerprint: str, *, now: datetime) -> Claim:
    """Claim ``key`` for a new change, or find the answer its first request got.

    The same key with another request (method, path or body) is a ConflictError: the client reused
    a key it meant for something else."""
    key = check_key(key)
    table = ApiRequest.__table__
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](table)
    claimed = db.session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.merchant_id, table.c.key])
                                 .returning(table.c.id),
                                 dict(merchant_id=merchant.id, key=key, fingerprint=fingerprint, created_at=now)
                                 ).scalar()
    if claimed is not None:
        return Claim(request=db.session.get(ApiRequest, claimed))
    earlier = db.session.scalar(sa.select(ApiRequest).where(ApiRequest.merchant_id == merchant.id,
                                                            ApiRequest.key == key))
    if earlier.fingerprint != fingerprint:
        raise ConflictError("This idempotency key was used for another request", code="idempotency_key_reused")
    return Claim(replay=earlier)


def keep_answer(request: ApiRequest, status: int, body: dict) -> None:
    """Store the answer with the change (the caller commits both)."""
    request.status, request.body = status, body
    db.session.flush()


def erase_from_answers(merchant_id: int, msisdn: str, placeholder: str) -> None:
    """A member's erasure: stored answers that quote its number (a member created, an SMS sent) quote
    ``placeholder`` instead, so a retry still gets its answer, without the person. Flushes."""
    table = ApiRequest.__table__
    quoting = db.session.execute(sa.select(table.c.id, table.c.body).where(
        table.c.merchant_id == merchant_id, sa.cast(table.c.body, sa.Text).contains(msisdn, autoescape=True))).all()
    for row_id, body in quoting:
        erased = json.loads(json.dumps(body, ensure_ascii=False).replace(msisdn, placeholder))
        db.session.execute(sa.update(table).where(table.c.id == row_id).values(body=erased))
    db.session.flush()


def forget_requests(*, now: datetime, after: timedelta = timedelta(days=7)) -> int:
    """Drop answers older than ``after``: a till retries within minutes, not weeks."""
    return db.session.execute(sa.delete(ApiRequest).where(ApiRequest.created_at < now - after)).rowcount
