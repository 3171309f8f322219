"""The stored sort key of a member's name: pinyin order, case-insensitive, and a prefix of the
key of every name that starts with the same text, so that one index serves both the list sorted
by name and the name search.

Each Chinese character becomes its pinyin with the tone digit, then the character itself
(``张三`` → ``zhang1张san1三``): names sort by pinyin, same-surname names stay together, and a
search for ``张`` does not find ``章``. Anything else is casefolded (``Zhang Wei`` → ``zhang wei``),
so ``zhang`` finds ``Zhang`` and ``ZHANG``, and also the 张 and 章 names (pinyin typed in the
search box). Characters are converted one at a time, never as phrases: the key of a prefix must be
a prefix of the key.
"""
import functools

from pypinyin import Style, pinyin

#: keys are cut here (the column's size); names of up to 64 characters rarely come near it, and
#: a cut key still sorts and matches by its first 255 characters
MAX_LENGTH = 255

#: surnames read otherwise than the character alone (单 is dan1, but the surname is Shan)
_SURNAMES = {"单": "shan4", "曾": "zeng1", "区": "ou1", "仇": "qiu2", "解": "xie4", "朴": "piao2", "查": "zha1",
             "覃": "qin2", "乐": "yue4", "盖": "ge3", "缪": "miao4", "召": "shao4", "尉": "yu4", "员": "yun4",
             "黑": "he4", "秘": "bi4", "长": "zhang3", "万": "wan4", "繁": "po2", "翟": "zhai2"}


def name_sort_key(name: str) -> str:
    """The sort and search key of a name (see the module docstring)."""
    text = (name or "").strip()
    parts = []
    for position, char in enumerate(text):
        if position == 0 and char in _SURNAMES:
            parts.append(_SURNAMES[char] + char)
        else:
            parts.append(_char_key(char))
    return "".join(parts)[:MAX_LENGTH]


@functools.lru_cache(maxsize=16384)
def _char_key(char: str) -> str:
    if not _is_han(char):
        return char.casefold()
    reading = pinyin(char, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    return (reading[0][0] if reading and reading[0] else "") + char


def _is_han(char: str) -> bool:
    """CJK unified ideographs (with extension A and the compatibility block)."""
    code = ord(char)
    return 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3134F
