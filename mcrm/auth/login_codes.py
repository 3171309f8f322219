"""One-time console login codes sent by SMS to a staff's registered phone.

6 digits, valid 5 minutes, single use, stored only as a hash; at most ``MAX_CODES_PER_WINDOW`` codes
per number in ``RATE_WINDOW``; ``MAX_WRONG_TRIES`` wrong codes lock the code (ask for a new one).
A new code replaces any older live one, so only one code per staff works at a time.

The SMS carrying a code is stored with the code masked (``mcrm.keywords.apps.staff.login_code_bodies``): the message log, a
message's page, the phone simulator and any export show ``******``; the real text is held apart for
the gateway alone until the SMSC has it (``enqueue_sms(secret_body=...)``). Otherwise anyone who may
read the message log (a manager) could ask a code for the owner and sign in as them.
"""
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.auth.models import Staff
from mcrm.auth.passwords import hash_password, verify_password
from mcrm.auth.services import LoginError
from mcrm.core.errors import DomainError, ValidationError
from mcrm.core.models import IdMixin, UTCDateTime
from mcrm.core.msisdn import normalize_msisdn
from mcrm.extensions import db

CODE_DIGITS = 6
VALID_FOR = timedelta(minutes=5)
RATE_WINDOW = timedelta(minutes=15)
MAX_CODES_PER_WINDOW = 3
MAX_WRONG_TRIES = 5


class TooManyCodesError(DomainError):
    """The number asked for codes too often; wait before asking again."""


class LoginCode(IdMixin, db.Model):
    __tablename__ = "login_codes"
    __table_args__ = (sa.Index("ix_login_codes_msisdn_created", "msisdn", "created_at"),)

    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    #: the phone it was sent to (the per-number rate limit counts by it)
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    #: argon2 hash: the code itself is never stored
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: set when the code signed someone in, or when a newer code replaced it
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wrong_tries: Mapped[int] = mapped_column(default=0)


def find_staff_for_code(identifier: str) -> Staff | None:
    """The active staff with a registered phone named by username or phone number.

    A phone shared by several accounts names none of them: the username is needed then.
    """
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    by_name = db.session.scalar(sa.select(Staff).where(Staff.username == identifier.lower()))
    if by_name is not None:
        candidates = [by_name]
    else:
        try:
            msisdn = normalize_msisdn(identifier)
        except ValidationError:
            return None
        candidates = db.session.scalars(sa.select(Staff).where(Staff.msisdn == msisdn).limit(2)).all()
    if len(candidates) != 1:
        return None
    staff = candidates[0]
    if not staff.is_active or not staff.msisdn or not staff.merchant.is_active:
        return None
    return staff


def issue_login_code(staff: Staff, *, now: datetime) -> str:
    """A fresh code for ``staff`` (returned once, to be texted); older live codes stop working.

    Raises TooManyCodesError past the per-number limit.
    """
    if not staff.msisdn:
        raise ValidationError("This account has no registered phone")
    recent = db.session.scalar(sa.select(sa.func.count()).where(
        LoginCode.msisdn == staff.msisdn, LoginCode.created_at > now - RATE_WINDOW))
    if recent >= MAX_CODES_PER_WINDOW:
        raise TooManyCodesError("Too many codes asked for this phone: wait 15 minutes")
    db.session.execute(sa.update(LoginCode).where(LoginCode.staff_id == staff.id, LoginCode.used_at.is_(None))
                       .values(used_at=now))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    db.session.add(LoginCode(staff_id=staff.id, msisdn=staff.msisdn, code_hash=hash_password(code),
                             created_at=now, expires_at=now + VALID_FOR))
    db.session.flush()
    return code


def verify_login_code(staff: Staff, code: str, *, now: datetime) -> None:
    """Accept ``code`` once, or raise LoginError (wrong, expired, used or locked: one vague message)."""
    current = db.session.scalar(sa.select(LoginCode).where(LoginCode.staff_id == staff.id,
                                                           LoginCode.used_at.is_(None))
                                .order_by(LoginCode.id.desc()).limit(1))
    if current is None or current.expires_at <= now:
        raise LoginError("The code is wrong or has expired: ask for a new one")
    if current.wrong_tries >= MAX_WRONG_TRIES:
        raise LoginError("Too many wrong codes: ask for a new one")
    typed = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(typed) != CODE_DIGITS or not verify_password(current.code_hash, typed):
        current.wrong_tries += 1
        db.session.flush()
        raise LoginError("The code is wrong or has expired: ask for a new one")
    current.used_at = now
    staff.last_login_at = now
    db.session.flush()
