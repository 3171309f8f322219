"""Staff accounts: creation, password login with lockout, management by the owner, ending sessions."""
import functools
from datetime import datetime, timedelta

import sqlalchemy as sa

from mcrm.auth.models import Role, Staff
from mcrm.auth.passwords import hash_password, needs_rehash, verify_password
from mcrm.core.errors import ConflictError, DomainError, ValidationError
from mcrm.core.msisdn import normalize_msisdn
from mcrm.extensions import db
from mcrm.merchants.models import Merchant
from mcrm.settings import LOCALES

MIN_PASSWORD_LENGTH = 8


class LoginError(DomainError):
    """Wrong username or password, or a locked account (one message for both: no hints)."""


class NotAllowedError(DomainError):
    """The acting staff may not do this to that staff account."""


def create_staff(merchant: Merchant, *, username: str, password: str, role: str,
                 display_name: str = "", msisdn: str | None = None) -> Staff:
    username = (username or "").strip().lower()
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise ValidationError("Username must be letters, digits, '.' or '_'")
    if role not in Role.ALL:
        raise ValidationError("Role must be one of %(roles)s", roles=", ".join(Role.ALL))
    _check_password(password)
    if db.session.scalar(sa.select(Staff.id).where(Staff.username == username)):
        raise ConflictError("Username %(username)s is taken", username=username)
    staff = Staff(merchant_id=merchant.id, username=username, password_hash=hash_password(password),
                  role=role, display_name=display_name or username,
                  msisdn=_trusted_msisdn(merchant.id, msisdn))
    db.session.add(staff)
    db.session.flush()
    return staff


def set_password(staff: Staff, password: str) -> None:
    """A new password (the owner's reset or the staff's own change); every session with the old one ends."""
    _check_password(password)
    staff.password_hash = hash_password(password)
    staff.failed_logins = 0
    staff.locked_until = None
    _end_sessions(staff)


def change_own_password(staff: Staff, *, current_password: str, new_password: str) -> None:
    """The staff's own change: the current password first, so an unattended open session cannot take over."""
    if not verify_password(staff.password_hash, current_password or ""):
        raise ValidationError("Your current password is wrong")
    set_password(staff, new_password)
    db.session.flush()


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError("Password must have at least %(count)s characters", count=MIN_PASSWORD_LENGTH)


def authenticate(username: str, password: str, *, now: datetime, lockout_after: int,
                 lockout_minutes: int) -> Staff:
    """Return the staff for a correct password, else raise LoginError.

    ``lockout_after`` wrong passwords in a row lock the account for ``lockout_minutes``,
    even for the right password, so guessing cannot continue from many addresses.
    """
    staff = db.session.scalar(sa.select(Staff).where(Staff.username == (username or "").strip().lower()))
    if staff is None or not staff.is_active or not staff.merchant.is_active:
        # spend the same time as a real check so timing does not reveal usernames
        verify_password(_dummy_hash(), password or "")
        raise LoginError("Wrong username or password")
    if staff.locked_until is not None and staff.locked_until > now:
        raise LoginError("Too many wrong passwords: this account is locked for a while")
    if not verify_password(staff.password_hash, password or ""):
        staff.failed_logins += 1
        if staff.failed_logins >= lockout_after:
            staff.locked_until = now + timedelta(minutes=lockout_minutes)
            staff.failed_logins = 0
        db.session.flush()
        raise LoginError("Wrong username or password")
    staff.failed_logins = 0
    staff.locked_until = None
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
    if role not in Role.ALL:
        raise ValidationError("Role must be one of %(roles)s", roles=", ".join(Role.ALL))
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
    staff.failed_logins = 0
    staff.locked_until = None
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


def _end_sessions(staff: Staff) -> None:
    # every cookie carries the version it was issued with (Staff.get_id); a higher one refuses them all
    staff.session_version += 1


def find_staff_for_session(session_id: str) -> Staff | None:
    """The active staff a session or remember-me cookie names, if it is still current.

    ``session_id`` is Staff.get_id(), "<id>:<version>"; anything else (an older id without a version,
    a raised version, a deactivated account) is None, which signs the session out.
    """
    staff_id, _, version = (session_id or "").partition(":")
    if not (staff_id.isdecimal() and version.isdecimal()):
        return None
    staff = db.session.get(Staff, int(staff_id))
    if staff is None or not staff.is_active or staff.session_version != int(version):
        return None
    return staff


def set_staff_locale(staff: Staff, locale: str | None) -> None:
    """The staff's console language; None follows the browser."""
    if locale is not None and locale not in LOCALES:
        raise ValidationError("Language must be one of %(languages)s", languages=", ".join(LOCALES))
    staff.locale = locale
    db.session.flush()
