"""Template filters: local times in the merchant's zone, money, masked numbers, and the words for
codes that rows store (channels, who changed points, where a consent or opt-out came from)."""
import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mcrm.core.msisdn import mask_msisdn

#: how a member joined, consented or opted out (``Source`` and opt-out channels)
CHANNEL_LABELS = {"sms": _l("By SMS"), "console": _l("In the console"), "import": _l("By import"),
                  "api": _l("Through the API"), "member": _l("Member deleted")}
#: who changed points when no staff member did
ACTOR_LABELS = {"system": _l("Automatic"), "sms": _l("By SMS"), "import": _l("By import")}


def local_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    merchant = getattr(g, "merchant", None)
    zone = ZoneInfo(merchant.timezone if merchant is not None else "Asia/Shanghai")
    return value.astimezone(zone).strftime(fmt)


def money(value) -> str:
    if value is None:
        return ""
    value = Decimal(value)
    return f"{'-' if value < 0 else ''}¥{abs(value):,.2f}"  # -¥880.00 (a voided purchase), not ¥-880.00


def channel_label(value: str | None) -> str:
    return str(CHANNEL_LABELS.get(value, value or ""))


def actor_label(value: str | None) -> str:
    """A ledger line's or a coupon's actor: a staff name as written, a channel in words, and a staff
    member who texted a command (``sms:<name>``) as the name and the channel."""
    if value and value.startswith("sms:"):
        return _("%(name)s (by SMS)", name=value[4:])
    return str(ACTOR_LABELS.get(value, value or ""))


#: the details the code writes with a consent or an opt-out (stored as text; older rows too)
_ORIGINS = (
    (re.compile(r"^keyword (?P<keyword>\S+) to (?P<number>\S+)$"),
     lambda m: _("texted %(keyword)s to %(number)s", **m.groupdict())),
    (re.compile(r"^keyword (?P<keyword>\S+)$"), lambda m: _("texted %(keyword)s", **m.groupdict())),
    (re.compile(r"^staff (?P<username>[^:]+): (?P<note>.*)$", re.S),
     lambda m: _("staff %(username)s: %(note)s", **m.groupdict())),
    (re.compile(r"^staff (?P<username>.+)$"), lambda m: _("staff %(username)s", **m.groupdict())),
    (re.compile(r"^member (?P<member_no>\S+) deleted$"),
     lambda m: _("member %(member_no)s deleted", **m.groupdict())),
    (re.compile(r"^(?P<file>.*), line (?P<line>\d+)$", re.S), lambda m: _("%(file)s, line %(line)s", **m.groupdict())),
)


def origin_detail(value: str | None) -> str:
    """Where a consent or an opt-out came from, in the console's language."""
    for pattern, words in _ORIGINS:
        match = pattern.match(value or "")
        if match:
            return words(match)
    return value or ""


def register(app: Flask) -> None:
    app.jinja_env.filters["localdt"] = local_datetime
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["mask"] = mask_msisdn
    app.jinja_env.filters["channel"] = channel_label
    app.jinja_env.filters["actor"] = actor_label
    app.jinja_env.filters["origin"] = origin_detail
