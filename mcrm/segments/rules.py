"""The segment language: its conditions, the check of a definition, and its description in words. Pure.

A definition is JSON: a group ``{"op": "and" | "or" | "not", "items": [...]}`` whose items are
groups or conditions ``{"type": "<condition>", <param>: <value>, ...}``. ``not`` matches the
members that match none of its items. An empty top-level ``and`` is every member.

Conditions live in a registry (:data:`VOCABULARY`): a feature adds its own with
:func:`register_condition` (the SQL side is its ``where`` function, which this module stores but
never calls), so campaigns or surveys extend the language without editing a list here.
Labels and phrases are English literals marked with ``N_`` for the catalog; the caller passes the
function that translates them.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from collections.abc import Callable

from lunardate import LunarDate

from mcrm.core.errors import ValidationError
from mcrm.core.text import N_

#: most conditions in one segment, and deepest nesting of groups: a segment is read by people
MAX_CONDITIONS = 40
MAX_DEPTH = 5
GROUP_OPS = ("and", "or", "not")


def _plain(template: str, **values) -> str:
    return template % values if values else template


# -- parameters ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One value of a condition: its kind says what is valid and how the builder asks for it.

    Kinds: ``int``, ``money`` (yuan, 2 decimals), ``number`` (any sign, up to 4 decimals, kept as its
    text: ``"3.5"``), ``text``, ``texts`` (a list of words), ``choice``
    (one of ``choices``), ``choices`` (a non-empty list of them), ``date`` (YYYY-MM-DD), ``bool``,
    ``period`` (``{"days": N}`` = the last N days, or ``{"from": date, "to": date}``, either end
    open, local dates, both inclusive) and ``ref`` (the id of a merchant's object of ``source``).
    ``source`` names a list the console offers (tiers, tags, keyword apps); it does not restrict
    what is valid, because a tier may be renamed after a segment was saved.
    """
    name: str
    kind: str
    label: str
    required: bool = True
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    #: (value, label) pairs for choice and choices
    choices: tuple = ()
    source: str | None = None

    def clean(self, value):
        cleaner = _CLEANERS[self.kind]
        return cleaner(self, value)


def _clean_int(param: Param, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError("%(param)s must be a whole number", param=param.name)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError("%(param)s must be a whole number", param=param.name) from None
    if param.minimum is not None and number < param.minimum:
        raise ValidationError("%(param)s must be at least %(minimum)s", param=param.name, minimum=param.minimum)
    if param.maximum is not None and number > param.maximum:
        raise ValidationError("%(param)s must be at most %(maximum)s", param=param.name, maximum=param.maximum)
    return number


def _clean_money(param: Param, value) -> str:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError("%(param)s must be an amount in yuan", param=param.name) from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("100000000") or amount.as_tuple().exponent < -2:
        raise ValidationError("%(param)s must be an amount in yuan", param=param.name)
    return str(amount.quantize(Decimal("0.01")))


#: the largest number a ``number`` param takes: beyond any answer a texter would count
MAX_NUMBER = Decimal("1000000000")


def _clean_number(param: Param, value) -> str:
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (int, float, str)) \
            and not isinstance(value, bool) else None
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite() or abs(number) > MAX_NUMBER \
            or number.normalize().as_tuple().exponent < -4:
        raise ValidationError("%(param)s must be a number with at most 4 decimals", param=param.name)
    # one text for one number (3.50 and 3.5 alike), never an exponent
    text = format(number.normalize(), "f")
    return "0" if text == "-0" else text


def _clean_text(param: Param, value) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 64:
        raise ValidationError("%(param)s must be a text of 1 to 64 characters", param=param.name)
    return value.strip()


def _clean_texts(param: Param, value) -> list[str]:
    if isinstance(value, str):
        value = value.replace("，", ",").replace(",", " ").split()
    if not isinstance(value, list) or not value or len(value) > 50:
        raise ValidationError("%(param)s needs at least one value", param=param.name)
    return sorted({_clean_text(param, item) for item in value})


def _clean_choice(param: Param, value) -> str:
    if value not in [choice for choice, _label in param.choices]:
        raise ValidationError("%(param)s must be one of %(choices)s", param=param.name,
              choices=", ".join(choice for choice, _label in param.choices))
    return value


def _clean_choices(param: Param, value) -> list:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > 50:
        raise ValidationError("%(param)s needs at least one value", param=param.name)
    if not param.choices:  # an open list (tiers): any short text
        return sorted({_clean_text(param, item) for item in value})
    return sorted({_clean_choice(param, item) for item in value})


def _clean_date(param: Param, value) -> str:
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ValidationError("%(param)s must be a date (YYYY-MM-DD)", param=param.name) from None


def _clean_bool(param: Param, value) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("yes", "true", "1", 1):
        return True
    if value in ("no", "false", "0", 0):
        return False
    raise ValidationError("%(param)s must be yes or no", param=param.name)


def _clean_period(param: Param, value) -> dict:
    if not isinstance(value, dict) or not value:
        raise ValidationError("%(param)s must be the last N days or a range of dates", param=param.name)
    if "days" in value:
        if set(value) != {"days"}:
            raise ValidationError("%(param)s must be the last N days or a range of dates", param=param.name)
        return {"days": _clean_int(Param(param.name, "int", param.label, minimum=1, maximum=3660), value["days"])}
    if not set(value) <= {"from", "to"}:
        raise ValidationError("%(param)s must be the last N days or a range of dates", param=param.name)
    period = {end: _clean_date(param, value[end]) for end in ("from", "to") if value.get(end)}
    if not period:
        raise ValidationError("%(param)s must be the last N days or a range of dates", param=param.name)
    if len(period) == 2 and period["from"] > period["to"]:
        raise ValidationError("%(param)s starts after it ends", param=param.name)
    return period


def _clean_ref(param: Param, value) -> int:
    return _clean_int(Param(param.name, "int", param.label, minimum=1), value)


_CLEANERS = {"int": _clean_int, "money": _clean_money, "number": _clean_number, "text": _clean_text, "texts": _clean_texts,
             "choice": _clean_choice, "choices": _clean_choices, "date": _clean_date, "bool": _clean_bool,
             "period": _clean_period, "ref": _clean_ref}


# -- conditions and their registry ----------------------------------------------------------------

#: (params, translate, names) → the condition in words; names maps (source, id) → a display name
Describer = Callable[[dict, Callable, dict], str]


@dataclass(frozen=True)
class ConditionType:
    """One condition of the language.

    ``where(params, context)`` returns the SQL boolean over ``members`` (see segments.compiler);
    it must be true or false for every member, never NULL, so that ``not`` groups stay exact.
    ``check(params)`` enforces rules between params (raises ValidationError).
    """
    key: str
    label: str
    #: heading the builder files the condition under
    category: str
    params: tuple[Param, ...]
    describe: Describer
    where: Callable = field(compare=False, repr=False, default=None)
    check: Callable[[dict], None] | None = None

    def clean(self, raw: dict) -> dict:
        unknown = set(raw) - {"type"} - {p.name for p in self.params}
        if unknown:
            raise ValidationError("Unknown setting %(param)s for condition %(condition)s",
                                  param=sorted(unknown)[0], condition=self.key)
        params = {}
        for param in self.params:
            value = raw.get(param.name)
            if value is None or value == "" or value == []:
                if param.default is not None:
                    params[param.name] = param.default
                elif param.required:
                    raise ValidationError("Condition %(condition)s needs %(param)s", condition=self.key,
                                          param=param.name)
                continue
            params[param.name] = param.clean(value)
        if self.check:
            self.check(params)
        return params


class Vocabulary:
    """The registry of conditions, in the order the builder lists them."""

    def __init__(self):
        self._types: dict[str, ConditionType] = {}

    def register(self, condition: ConditionType) -> ConditionType:
        if condition.key in self._types:
            raise ValueError(f"segment condition {condition.key!r} is registered twice")
        self._types[condition.key] = condition
        return condition

    def get(self, key) -> ConditionType:
        if not isinstance(key, str) or key not in self._types:
            raise ValidationError("Unknown condition %(condition)s", condition=str(key))
        return self._types[key]

    def __iter__(self):
        return iter(self._types.values())


VOCABULARY = Vocabulary()


def register_condition(condition: ConditionType, vocabulary: Vocabulary = VOCABULARY) -> ConditionType:
    return vocabulary.register(condition)


# -- definitions ----------------------------------------------------------------------------------

EVERYONE = {"op": "and", "items": []}


def normalize(definition, vocabulary: Vocabulary = VOCABULARY) -> dict:
    """The definition checked and in its one canonical shape, or a ValidationError saying what is wrong.

    A bare condition becomes a group of one; params are cleaned (numbers as numbers, lists sorted)
    so that two definitions meaning the same thing compare equal.
    """
    if definition is None:
        return dict(EVERYONE)
    if isinstance(definition, dict) and "type" in definition:
        definition = {"op": "and", "items": [definition]}
    counter = [0]
    return _normalize_group(definition, vocabulary, depth=1, counter=counter, top=True)


def _normalize_group(node, vocabulary, *, depth: int, counter: list, top: bool = False) -> dict:
    if not isinstance(node, dict) or node.get("op") not in GROUP_OPS or not isinstance(node.get("items"), list):
        raise ValidationError("A group needs an op (and, or, not) and a list of items")
    if set(node) - {"op", "items"}:
        raise ValidationError("A group has only an op and items")
    if depth > MAX_DEPTH:
        raise ValidationError("Groups are nested more than %(depth)s deep", depth=MAX_DEPTH)
    if not node["items"] and not (top and node["op"] == "and"):
        raise ValidationError("An empty group matches nothing: add a condition or remove the group")
    items = []
    for item in node["items"]:
        if isinstance(item, dict) and "type" in item:
            counter[0] += 1
            if counter[0] > MAX_CONDITIONS:
                raise ValidationError("A segment has at most %(count)s conditions", count=MAX_CONDITIONS)
            condition = vocabulary.get(item["type"])
            items.append({"type": condition.key, **condition.clean(item)})
        else:
            items.append(_normalize_group(item, vocabulary, depth=depth + 1, counter=counter))
    return {"op": node["op"], "items": items}


def conditions(definition: dict):
    """Every condition of a normalized definition, depth first."""
    for item in definition["items"]:
        if "type" in item:
            yield item
        else:
            yield from conditions(item)


def describe(definition: dict, *, translate: Callable = _plain, names: dict | None = None,
             vocabulary: Vocabulary = VOCABULARY) -> str:
    """A normalized definition in plain words: ``金卡 且 5月生日``, ``Tier 金卡 and birthday in May``."""
    names = names or {}
    if not definition["items"]:
        return translate(N_("All members"))
    text = _describe_group(definition, translate, names, vocabulary)
    return text[:1].upper() + text[1:]  # phrases start in lower case, to read on inside a sentence


def _describe_group(group: dict, translate, names, vocabulary) -> str:
    parts = []
    for item in group["items"]:
        if "type" in item:
            condition = vocabulary.get(item["type"])
            parts.append(condition.describe({k: v for k, v in item.items() if k != "type"}, translate, names))
        else:
            text = _describe_group(item, translate, names, vocabulary)
            parts.append(text if item["op"] == "not" or len(item["items"]) == 1 else
                         translate(N_("(%(group)s)"), group=text))
    if group["op"] == "not":
        return translate(N_("not (%(group)s)"), group=translate(N_(" or ")).join(parts))
    return translate(N_(" and ") if group["op"] == "and" else N_(" or ")).join(parts)


# -- birthdays ------------------------------------------------------------------------------------

def birthday_keys_between(start: date, end: date) -> tuple[set[int], set[int]]:
    """The birthdays that fall on a day from ``start`` to ``end``, as month * 100 + day keys:
    (solar keys, lunar keys), lunar ones in the lunar calendar.

    The same placing rules as members.birthdays.solar_birthday_in_year: a solar 29 February is
    kept on 28 February in common years, and a lunar 30th falls on the 29th of a month that has
    only 29 days. Lunar leap months hold nobody's birthday (a birthday is kept in the regular month).
    """
    solar, lunar = set(), set()
    day = start
    while day <= end:
        solar.add(day.month * 100 + day.day)
        if (day.month, day.day) == (2, 28) and not _is_leap(day.year):
            solar.add(229)
        moon = LunarDate.from_solar_date(day.year, day.month, day.day)
        if not moon.is_leap_month:
            lunar.add(moon.month * 100 + moon.day)
            if moon.day == 29 and not _has_day_30(moon.year, moon.month):
                lunar.add(moon.month * 100 + 30)
        day += timedelta(days=1)
    return solar, lunar


def _has_day_30(lunar_year: int, month: int) -> bool:
    try:
        LunarDate(lunar_year, month, 30)
    except ValueError:
        return False
    return True


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
