"""Merchants: creation and their configurable rules."""
import re
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from mcrm.core.clock import DEFAULT_TIMEZONE
from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.extensions import db
from mcrm.merchants.models import MAX_FREQUENCY_CAP, ExpiryPolicy, Merchant, TierBasis


def create_merchant(*, name: str, sub_code: str, signature: str, timezone: str = DEFAULT_TIMEZONE,
                    **rules) -> Merchant:
    name = (name or "").strip()
    if not name:
        raise ValidationError("Merchant name is required")
    sub_code = _check_sub_code(sub_code)
    merchant = Merchant(name=name, sub_code=sub_code, signature=normalize_signature(signature),
                        timezone=_check_timezone(timezone))
    update_rules(merchant, **rules)
    db.session.add(merchant)
    db.session.flush()
    return merchant


def change_sub_code(merchant: Merchant, sub_code: str) -> None:
    """Give the merchant another sub-code (the operator moved it): its service number changes."""
    merchant.sub_code = _check_sub_code(sub_code, exclude_id=merchant.id)
    db.session.flush()


def _check_sub_code(sub_code: str, *, exclude_id: int | None = None) -> str:
    """The sub-code, if no other merchant's equals it or starts it or starts with it.

    An MO goes to the longest sub-code its number starts with, so with ``02`` and ``021`` both in
    use a text to ``02``'s extension ``1…`` would reach ``021``'s merchant.
    """
    sub_code = (sub_code or "").strip()
    if not re.fullmatch(r"\d{1,10}", sub_code):
        raise ValidationError("Sub-code must be 1 to 10 digits")
    clashes = sa.select(Merchant).where(sa.or_(
        Merchant.sub_code.in_([sub_code[:n] for n in range(1, len(sub_code) + 1)]),
        Merchant.sub_code.startswith(sub_code)))
    if exclude_id is not None:
        clashes = clashes.where(Merchant.id != exclude_id)
    other = db.session.scalars(clashes.order_by(Merchant.sub_code).limit(1)).first()
    if other is None:
        return sub_code
    if other.sub_code == sub_code:
        raise ConflictError("Sub-code %(sub_code)s is already used by another merchant", sub_code=sub_code)
    raise ConflictError("Sub-code %(sub_code)s clashes with %(other)s of %(name)s: no sub-code may begin "
                        "with another, or texts to one merchant's extensions would reach the other",
                        sub_code=sub_code, other=other.sub_code, name=other.name)


def normalize_signature(signature: str) -> str:
    """Signatures are 【店名】: add the brackets when the user typed only the name."""
    text = (signature or "").strip().strip("【】[]")
    if not 2 <= len(text) <= 20:
        raise ValidationError("Signature must be 2 to 20 characters, like 【小王烧烤】")
    return f"【{text}】"


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Unknown time zone %(name)r", name=name) from None
    return name


def update_rules(merchant: Merchant, **rules) -> None:
    """Change configurable rules, each validated; unknown names are an error."""
    checks = {
        "points_per_yuan": lambda v: float(v) >= 0,
        "join_gift_points": lambda v: int(v) >= 0,
        "frequency_cap_per_day": lambda v: 1 <= int(v) <= MAX_FREQUENCY_CAP,
        "message_retention_days": lambda v: 0 <= int(v) <= 3650,
        "points_expiry_policy": lambda v: v in tuple(ExpiryPolicy),
        "points_expiry_months": lambda v: 1 <= int(v) <= 120,
        "points_cycle_end_month": lambda v: 1 <= int(v) <= 12,
        "tier_thresholds": _valid_tiers,
        "tier_basis": lambda v: v in tuple(TierBasis),
        "tenure_bonus": lambda v: all(int(y) > 0 and int(b) >= 0 for y, b in v),
        "send_window_start": lambda v: True,
        "send_window_end": lambda v: True,
        "unsubscribe_hint": lambda v: 0 < len(v) <= 30,
        "signature": lambda v: True,
        "timezone": lambda v: True,
        "locale": lambda v: v in ("zh", "en"),
        "name": lambda v: 0 < len(v.strip()) <= 100,
        "points_change_sms": lambda v: isinstance(v, bool),
        "max_purchase_amount": _valid_purchase_limit,
        "confirm_purchase_above": _valid_purchase_limit,
        "added_members_get_gift": lambda v: isinstance(v, bool),
        "added_members_get_sms": lambda v: isinstance(v, bool),
    }
    for key, value in rules.items():
        if key not in checks:
            raise ValidationError("Unknown merchant setting %(key)r", key=key)
        try:
            ok = checks[key](value)
        except (TypeError, ValueError):
            ok = False
        if not ok and key == "frequency_cap_per_day":
            raise ValidationError("A member may get 1 to %(maximum)s marketing SMS a day, not %(value)s",
                                  maximum=MAX_FREQUENCY_CAP, value=value)
        if not ok:
            raise ValidationError("Invalid value for %(key)s: %(value)r", key=key, value=value)
        if key == "signature":
            value = normalize_signature(value)
        if key == "timezone":
            value = _check_timezone(value)
        if key == "tier_thresholds":
            value = sorted(([str(n), int(s)] for n, s in value), key=lambda t: t[1])
        setattr(merchant, key, value)
    if merchant.send_window_start is not None and merchant.send_window_end is not None \
            and merchant.send_window_start >= merchant.send_window_end:
        raise ValidationError("The sending window must start before it ends")
    if None not in (merchant.max_purchase_amount, merchant.confirm_purchase_above) \
            and Decimal(merchant.confirm_purchase_above) >= Decimal(merchant.max_purchase_amount):
        raise ValidationError("Purchases to confirm must start below the largest purchase")


def _valid_purchase_limit(value) -> bool:
    """Yuan, or None for no limit: up to the most any purchase may be (points.rules.earn_points)."""
    try:
        return value is None or 0 < Decimal(str(value)) <= 10_000_000
    except ArithmeticError:  # not a number, or NaN
        return False


def _valid_tiers(tiers) -> bool:
    scores = [int(score) for _name, score in tiers]
    names = [str(name).strip() for name, _score in tiers]
    return bool(tiers) and 0 in scores and len(set(scores)) == len(scores) and all(names)


def get_merchant_by_sub_code(sub_code: str) -> Merchant:
    merchant = db.session.scalar(sa.select(Merchant).where(Merchant.sub_code == sub_code))
    if merchant is None:
        raise NotFoundError("No merchant with sub-code %(sub_code)s", sub_code=sub_code)
    return merchant


def service_number(merchant: Merchant, access_number: str) -> str:
    return access_number + merchant.sub_code
