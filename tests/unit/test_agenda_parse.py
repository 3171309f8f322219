"""Reading ``RC`` texts: day words, times, titles, and clear errors. Pure, with a fixed ``now``."""
from datetime import datetime

import pytest

from mcrm.agenda.parse import parse_item_text
from mcrm.core.errors import ValidationError

#: Friday 20 November 2026, 12:00 local
NOON = datetime(2026, 11, 20, 12, 0)


@pytest.mark.parametrize("text, moment, title", [
    ("明天15:00 王总来店", datetime(2026, 11, 21, 15, 0), "王总来店"),
    ("明天 15:00 王总来店", datetime(2026, 11, 21, 15, 0), "王总来店"),
    ("15:30 盘点", datetime(2026, 11, 20, 15, 30), "盘点"),
    ("今天18：05 关店检查", datetime(2026, 11, 20, 18, 5), "关店检查"),
    ("后天 9点半 送货", datetime(2026, 11, 22, 9, 30), "送货"),
    ("大后天9点 例会", datetime(2026, 11, 23, 9, 0), "例会"),
    ("周一10:00 进货", datetime(2026, 11, 23, 10, 0), "进货"),
    ("星期天 8点15分 晨会", datetime(2026, 11, 22, 8, 15), "晨会"),
    ("周五18:00 团建", datetime(2026, 11, 20, 18, 0), "团建"),       # today is Friday, still ahead
    ("周五11:00 早会", datetime(2026, 11, 27, 11, 0), "早会"),       # passed today: next Friday
    ("12月3日10:00 续约", datetime(2026, 12, 3, 10, 0), "续约"),
    ("1月5号 9:00 年检", datetime(2027, 1, 5, 9, 0), "年检"),      # not this year any more
    ("11月20日11:00 早会", datetime(2027, 11, 20, 11, 0), "早会"),
    ("2月29日10:00 闰日", datetime(2028, 2, 29, 10, 0), "闰日"),    # neither 2026 nor 2027 has one
])
def test_days_times_and_titles_are_read(text, moment, title):
    assert parse_item_text(text, now=NOON) == (moment, title)


@pytest.mark.parametrize("text, error", [
    ("", "Write the day, the time and what it is"),
    ("明天 王总来店", "Write the day, the time and what it is"),
    ("王总来店", "Write the day, the time and what it is"),
    ("明天15:00", "Write what it is after the time"),
    ("明天25:00 王总来店", "There is no time 25:00"),
    ("明天15:75 王总来店", "There is no time 15:75"),
    ("2月30日10:00 王总来店", "There is no date 2月30日"),
    ("今天9:00 王总来店", "11月20日09:00 has passed"),
    ("明天15:00 " + "长" * 101, "longer than 100 characters"),
])
def test_bad_texts_say_why(text, error):
    with pytest.raises(ValidationError, match=error):
        parse_item_text(text, now=NOON)
