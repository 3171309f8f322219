"""Pure rules of the outbox shared by the place a message is queued (services) and the place it is
sent (store's claim): the marketing window and the cheap checks of a number and a text. No I/O."""
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

#: an E.164 number as members are stored (``+`` and 7 to 15 digits); anything else is never sent
#: (ASCII digits: ``\d`` takes any script's, which no SMSC takes, and SQL's test says [0-9] too)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def next_window_start(zone: ZoneInfo, start: time, end: time, now: datetime) -> datetime:
    """``now`` if its local time in ``zone`` is inside [start, end), else when that window next opens."""
    local = now.astimezone(zone)
    if start <= local.time() < end:
        return now
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=zone).astimezone(now.tzinfo)


def is_sendable_msisdn(msisdn: str | None) -> bool:
    """Whether the number has the shape of a stored E.164 number (enrolment checked it fully; this
    catches rows written around it, without the cost of a numbering-plan look-up per message)."""
    return bool(msisdn) and _E164.fullmatch(msisdn) is not None


def is_single_part(text: str) -> bool:
    """True when ``text`` surely fits one SMS in any coding: at most 70 characters and none outside
    the Basic Multilingual Plane (70 UCS-2 units; in GSM-7 even 70 extension characters take 140
    septets). A fast exact answer for short texts; longer ones need ``count_parts``."""
    return len(text) <= 70 and (not text or max(text) < "\U00010000")
