"""Staff accounts: creation, password login with lockout, management by the owner, sessions."""
import functools
import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from mcrm.auth.models import LoginFailure, Role, Staff, StaffSession
from mcrm.auth.passwords import hash_password, needs_rehash, verify_password
from mcrm.core.errors import ConflictError, DomainError, ValidationError
from mcrm.core.msisdn import normalize_msisdn
from mcrm.extensions import db
from mcrm.merchants.models import Merchant
from mcrm.settings import LOCALES

MIN_PASSWORD_LENGTH = 8
#: wrong passwords one address may make within the lockout window, whatever the usernames, as a
#: multiple of the per-username lockout (5 → 20 by default)
ADDRESS_LOCKOUT_FACTOR = 4


class LoginError(DomainError):
    """Wrong username or password, or too many of them from one address (each answered alike whether
    or not the account exists: no hints)."""


class NotAllowedError(DomainError):
    """The acting staff may not do this to that staff account."""


def create_staff(merchant: Merchant, *, username: str, password: str, role: str,
                 display_name: str = "", msisdn: str | None = None) -> Staff:
    username = (username or "").strip().lower()
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise ValidationError("Username must be letters, digits, '.' or '_'")
    if role not in tuple(Role):
        raise ValidationError("Role must be one of %(roles)s", roles=", ".join(tuple(Role)))
    _check_password(password)
    if db.session.scalar(sa.select(Staff.id).where(Staff.username == username)):
        raise ConflictError("Username %(username)s is taken", username=username)
    staff = Staff(merchant_id=merchant.id, username=username, password_hash=hash_password(password),
                  role=role, display_name=display_name or username,
                  msisdn=_trusted_msisdn(merchant.id, msisdn))
    db.session.add(staff)
    db.session.flush()
    return staff


def reset_password(staff: Staff, password: str, *, actor: Staff) -> None:
    """The owner sets another staff's new password; every session with the old one ends.

    Never their own: that is ``change_own_password``, which asks the current password, so an
    unattended open session cannot take the owner's account over by any page.
    """
    if staff.id == actor.id:
        raise NotAllowedError("Change your own password on your preferences page, with your current password")
    _set_password(staff, password)


def change_own_password(staff: Staff, *, current_password: str, new_password: str) -> None:
    """The staff's own change: the current password first, so an unattended open session cannot take over."""
    if not verify_password(staff.password_hash, current_password or ""):
        raise ValidationError("Your current password is wrong")
    _set_password(staff, new_password)


def _set_password(staff: Staff, password: str) -> None:
    _check_password(password)
    staff.password_hash = hash_password(password)
    _end_sessions(staff)
    db.session.flush()


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError("Password must have at least %(count)s characters", count=MIN_PASSWORD_LENGTH)


def authenticate(username: str, password: str, *, address: str, now: datetime, lockout_after: int,
                 lockout_minutes: int) -> Staff:
    """Return the staff for a correct password, else raise LoginError.

    The lock: ``lockout_after`` wrong passwords for one username from one address within
    ``lockout_minutes`` refuse that username from that address, even with the right password, until
    the oldest of them is that old; ``ADDRESS_LOCKOUT_FACTOR`` times as many from one address,
    whatever the usernames, refuse that address alike. Nobody at another address is locked out, so no
    attacker can keep the owner out of their console; guessing from many addresses gets
    ``lockout_after`` tries per address and window against an argon2 hash (the login page's rate
    limit per address comes on top).

    A username that names no account is counted, hashed and locked like one that does: neither
    the answer nor its timing tells whether it exists.
    """
    username = (username or "").strip().lower()[:64]
    address = (address or "")[:45]
    since = now - timedelta(minutes=lockout_minutes)
    staff = db.session.scalar(sa.select(Staff).where(Staff.username == username))
    for_username, for_address = db.session.execute(
        sa.select(sa.func.count(sa.case((LoginFailure.username == username, 1))), sa.func.count())
        .where(LoginFailure.address == address, LoginFailure.failed_at > since)).one()
    if for_username >= lockout_after or for_address >= lockout_after * ADDRESS_LOCKOUT_FACTOR:
        verify_password(_dummy_hash(), password or "")  # the same work as any other answer
        raise LoginError("Too many wrong passwords from here: try again in %(minutes)s minutes",
                         minutes=lockout_minutes)
    usable = staff is not None and staff.is_active and staff.merchant.is_active
    if not verify_password(staff.password_hash if usable else _dummy_hash(), password or "") or not usable:
        db.session.execute(sa.delete(LoginFailure).where(LoginFailure.failed_at <= since))
        db.session.add(LoginFailure(username=username, address=address, failed_at=now))
        db.session.flush()
        raise LoginError("Wrong username or password")
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.username == username,
                                                     LoginFailure.address == address))
    staff.last_login_at = now
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    db.session.flush()
    return staff


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a real password, used for timing only")


def list_staff(merchant: Merchant) -> list[Staff]:
    """The merchant's staff, active first, then by role rank and name."""
    return db.session.scalars(
        sa.select(Staff).where(Staff.merchant_id == merchant.id)
        .order_by(Staff.is_active.desc(), Staff.role, Staff.username)).all()


def update_staff(staff: Staff, *, actor: Staff, role: str, display_name: str = "",
                 msisdn: str | None = None) -> None:
    """Change a staff member's role, name and trusted phone.

    An owner cannot lower their own role: the merchant would risk having no owner left.
    """
    if role not in tuple(Role):
        raise ValidationError("Role must be one of %(roles)s", roles=", ".join(tuple(Role)))
    if staff.id == actor.id and role != staff.role:
        raise ValidationError("You cannot change your own role")
    if role != staff.role:
        _end_sessions(staff)  # pages open under the old role must not keep its rights
    staff.role = role
    staff.display_name = (display_name or "").strip() or staff.username
    staff.msisdn = _trusted_msisdn(staff.merchant_id, msisdn, exclude_id=staff.id)
    db.session.flush()


def _trusted_msisdn(merchant_id: int, msisdn: str | None, *, exclude_id: int | None = None) -> str | None:
    if not (msisdn or "").strip():
        return None
    msisdn = normalize_msisdn(msisdn)
    clash = sa.select(Staff.id).where(Staff.merchant_id == merchant_id, Staff.msisdn == msisdn)
    if exclude_id is not None:
        clash = clash.where(Staff.id != exclude_id)
    if db.session.scalar(clash):
        raise ConflictError("Another staff account already uses this phone number")
    return msisdn


def deactivate_staff(staff: Staff, *, actor: Staff) -> None:
    """Stop a staff account from signing in; its open sessions end at the next request."""
    if staff.id == actor.id:
        raise ValidationError("You cannot deactivate your own account")
    staff.is_active = False
    _end_sessions(staff)  # so reactivating later does not bring the old sessions back
    db.session.flush()


def reactivate_staff(staff: Staff) -> None:
    staff.is_active = True
    db.session.flush()


def sign_out_everywhere(staff: Staff, *, actor: Staff) -> None:
    """End every session and remember-me cookie of ``staff`` (a lost phone, a shared PC).

    The staff themself or an owner of the same merchant may; the caller re-issues the actor's own
    session if it should go on.
    """
    if not can_end_sessions(staff, actor=actor):
        raise NotAllowedError("You may not sign this account out")
    _end_sessions(staff)
    db.session.flush()


def can_end_sessions(staff: Staff, *, actor: Staff) -> bool:
    return actor.id == staff.id or (actor.merchant_id == staff.merchant_id and actor.has_role(Role.OWNER))


def start_session(staff: Staff, *, now: datetime, max_age: timedelta) -> None:
    """A new signed-in session of ``staff``: its token goes into the cookies (Staff.get_id).

    The staff's sessions older than ``max_age`` (the remember-me cookie's life) are dropped here,
    so browsers closed without signing out do not pile up.
    """
    token = secrets.token_urlsafe(32)
    db.session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == staff.id,
                                                     StaffSession.created_at < now - max_age))
    db.session.add(StaffSession(staff_id=staff.id, token_hash=_token_hash(token), created_at=now))
    db.session.flush()
    staff.session_token = token


def end_session(staff: Staff) -> None:
    """Sign this one session out: its cookies, and any copy of them, no longer sign anyone in."""
    if staff.session_token:
        db.session.execute(sa.delete(StaffSession).where(
            StaffSession.staff_id == staff.id, StaffSession.token_hash == _token_hash(staff.session_token)))
    staff.session_token = None
    db.session.flush()


def _end_sessions(staff: Staff) -> None:
    db.session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == staff.id))
    staff.session_token = None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_staff_for_session(session_id: str) -> Staff | None:
    """The active staff a session or remember-me cookie names, if that session still exists.

    ``session_id`` is Staff.get_id(), "<id>:<token>"; anything else (an id without a token, a
    session signed out or ended everywhere, a deactivated account) is None, which signs it out.
    """
    staff_id, _, token = (session_id or "").partition(":")
    if not (staff_id.isdecimal() and token):
        return None
    staff = db.session.scalar(sa.select(Staff).join(StaffSession, StaffSession.staff_id == Staff.id).where(
        Staff.id == int(staff_id), StaffSession.token_hash == _token_hash(token), Staff.is_active.is_(True)))
    if staff is not None:
        staff.session_token = token
    return staff


def set_staff_locale(staff: Staff, locale: str | None) -> None:
    """The staff's console language; None follows the browser."""
    if locale is not None and locale not in LOCALES:
        raise ValidationError("Language must be one of %(languages)s", languages=", ".join(LOCALES))
    staff.locale = locale
    db.session.flush()
