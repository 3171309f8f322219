"""Reading an agenda item texted by staff: ``RC 明天15:00 王总来店``. Pure.

The text after the keyword is an optional day (今天, 明天, 后天, 周一…周日 or 星期一…星期日,
M月D日), a time (HH:MM, or H点, H点M分, H点半) and the title. Times are 24-hour and local.
"""
import re
from datetime import date, datetime, time, timedelta

from mcrm.core.errors import ValidationError

#: longest title an item may have (AgendaItem.title)
MAX_TITLE = 100

_RELATIVE = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}

_DAY = re.compile(r"(?P<relative>大后天|今天|今日|明天|明日|后天)"
                  r"|(?:周|星期|礼拜)(?P<weekday>[一二三四五六日天])"
                  r"|(?P<month>\d{1,2})月(?P<day>\d{1,2})[日号]?")
_TIME = re.compile(r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2})|点(?:(?P<half>半)|(?P<minutes>\d{1,2})分?)?)")

EXAMPLE = "RC 明天15:00 王总来店"


def parse_item_text(text: str, *, now: datetime) -> tuple[datetime, str]:
    """The local moment and the title of a texted item; ``now`` is local and naive.

    Raises ValidationError, with an example, on anything it cannot read, on a date that does not
    exist and on a moment that has passed: a reply says why and nothing is saved.
    """
    rest = (text or "").strip().replace("：", ":")
    day_match = _DAY.match(rest)
    if day_match:
        rest = rest[day_match.end():].lstrip()
    time_match = _TIME.match(rest)
    if time_match is None:
        raise ValidationError("Write the day, the time and what it is, for example: %(example)s", example=EXAMPLE)
    at = _time(time_match)
    title = rest[time_match.end():].strip()
    if not title:
        raise ValidationError("Write what it is after the time, for example: %(example)s", example=EXAMPLE)
    if len(title) > MAX_TITLE:
        raise ValidationError("The title is longer than %(most)s characters", most=MAX_TITLE)
    moment = _moment(day_match, at, now)
    if moment <= now:
        raise ValidationError("%(when)s has passed", when=moment.strftime("%m月%d日%H:%M"))
    return moment, title


def _time(match: re.Match) -> time:
    hour = int(match["hour"])
    minute = 30 if match["half"] else int(match["minute"] or match["minutes"] or 0)
    if hour > 23 or minute > 59:
        raise ValidationError("There is no time %(time)s", time=match.group(0))
    return time(hour, minute)


def _moment(match: re.Match | None, at: time, now: datetime) -> datetime:
    today = now.date()
    if match is None:
        return datetime.combine(today, at)
    if match["relative"]:
        return datetime.combine(today + timedelta(days=_RELATIVE[match["relative"]]), at)
    if match["weekday"]:
        ahead = (_WEEKDAYS[match["weekday"]] - today.weekday()) % 7
        moment = datetime.combine(today + timedelta(days=ahead), at)
        return moment if moment > now else moment + timedelta(weeks=1)
    month, day = int(match["month"]), int(match["day"])
    # the next such day: this year's, else a later year's (29 February waits for a leap year)
    for year in range(today.year, today.year + 5):
        try:
            moment = datetime.combine(date(year, month, day), at)
        except ValueError:
            continue
        if moment > now:
            return moment
    raise ValidationError("There is no date %(month)s月%(day)s日", month=month, day=day)
