"""How a survey reads an SMS answer and which question comes next. Pure: no database, no clock.

An answer is accepted in the forms people type on a phone: an option's letter (``A``, ``a``,
``Ａ``), its number (``1``, ``一``) or its word; a rating or a number with a unit after it (``4分``).
"""
import re
from dataclasses import dataclass, field
from enum import StrEnum

from mcrm.core.text import fold, to_half_width


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    RATING_5 = "rating5"
    RATING_10 = "rating10"
    NUMBER = "number"
    TEXT = "text"


CHOICE_KINDS = (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
#: kind → (lowest, highest) rating
RATING_RANGES = {QuestionKind.RATING_5: (1, 5), QuestionKind.RATING_10: (0, 10)}
#: the most options a choice question has: one letter each
MAX_OPTIONS = 10
LETTERS = "ABCDEFGHIJ"
CHINESE_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                  "九": 9, "十": 10}
#: what separates the picks of a multiple choice (``A C``, ``A,C``, ``A、C``)
SEPARATORS = re.compile(r"[\s,，、;；/+]+")
#: a number at the start of a text, a unit or word after it allowed (``12``, ``3.5斤``, ``-2``)
LEADING_NUMBER = re.compile(r"^([-+]?\d+(?:\.\d+)?)(?:\D.*)?$", re.S)


@dataclass(frozen=True)
class Question:
    position: int
    kind: QuestionKind
    options: tuple[str, ...] = ()
    #: option letter → the position of the question it leads to (a position past the last ends)
    branches: dict[str, int] = field(default_factory=dict)


def option_letter(index: int) -> str:
    return LETTERS[index]


def _small_number(text: str) -> int | None:
    """``3``, ``３``, ``三``, ``十``: a whole number from 0 to 10, else None."""
    if text.isdigit() and text.isascii():
        return int(text)
    if len(text) == 1 and text in CHINESE_DIGITS:
        return CHINESE_DIGITS[text]
    return None


def _pick(options: tuple[str, ...], word: str) -> str | None:
    """The letter of the option ``word`` names (letter, number from 1, or the option's own word)."""
    if len(word) == 1 and word.upper() in LETTERS[:len(options)]:
        return word.upper()
    number = _small_number(word)
    if number is not None and 1 <= number <= len(options):
        return option_letter(number - 1)
    for index, option in enumerate(options):
        if fold(option) == word:
            return option_letter(index)
    return None


def read_answer(question: Question, text: str | None) -> str | None:
    """The stored form of a valid answer (``A``, ``A,C``, ``4``, ``3.5``, the text), or None when
    the text cannot be an answer to ``question``."""
    word = fold(text or "")
    if not word:
        return None
    if question.kind == QuestionKind.TEXT:
        return (text or "").strip()  # as sent: full-width punctuation is part of what was said
    if question.kind == QuestionKind.SINGLE:
        return _pick(question.options, word)
    if question.kind == QuestionKind.MULTIPLE:
        return _read_picks(question.options, word)
    match = LEADING_NUMBER.match(word)
    number = _small_number(word.rstrip("分")) if match is None else None
    if question.kind in RATING_RANGES:
        low, high = RATING_RANGES[question.kind]
        if match is not None and re.fullmatch(r"\d+", match.group(1)):
            number = int(match.group(1))
        return str(number) if number is not None and low <= number <= high else None
    if match is not None:
        return match.group(1).lstrip("+")
    return str(number) if number is not None else None


def _read_picks(options: tuple[str, ...], word: str) -> str | None:
    parts = [p for p in SEPARATORS.split(word) if p]
    if len(parts) == 1 and parts[0].isascii() and parts[0].isalpha() and _pick(options, parts[0]) is None:
        parts = list(parts[0])  # ``AC``: letters written together
    letters = [_pick(options, part) for part in parts]
    if not letters or None in letters:
        return None
    return ",".join(sorted(set(letters)))  # type: ignore[arg-type]


def next_position(questions: list[Question], current: int, value: str | None) -> int | None:
    """The position of the question after ``current`` given its answer (None for a skipped one), or
    None when the survey is done. A branch goes to its target; anything else to the next question."""
    question = next(q for q in questions if q.position == current)
    target = question.branches.get(value) if value is not None and question.kind == QuestionKind.SINGLE else None
    later = [q.position for q in questions if q.position > current]
    if target is not None:
        later = [p for p in later if p >= target]
    return min(later) if later else None


def check_branches(position: int, options: tuple[str, ...], branches: dict[str, int]) -> str | None:
    """Why these branches cannot be kept, or None: each names an option and leads forward, so a
    survey always ends."""
    for letter, target in branches.items():
        if letter not in LETTERS[:len(options)]:
            return "no option " + letter
        if target <= position:
            return "must lead to a later question"
    return None


def parse_branches(text: str) -> dict[str, int]:
    """``A=4`` or ``A→4`` lines (or comma-separated) as {"A": 4}; ValueError on a malformed one."""
    branches = {}
    for part in re.split(r"[\n,，;；]+", to_half_width(text or "")):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"([A-Ja-j])\s*(?:=|->|→|>|:)\s*(\d+)", part)
        if match is None:
            raise ValueError(part)
        branches[match.group(1).upper()] = int(match.group(2))
    return branches


def tally(question: Question, values: dict[str, int]) -> list[tuple[str, int]]:
    """Chart rows from stored values and their counts: every option (a multiple choice counts each
    pick), every rating in the range, or the numbers given in order."""
    if question.kind in CHOICE_KINDS:
        picks = dict.fromkeys(LETTERS[:len(question.options)], 0)
        for value, count in values.items():
            for letter in value.split(","):
                if letter in picks:
                    picks[letter] += count
        return [(f"{letter} {option}", picks[letter]) for letter, option in zip(picks, question.options, strict=True)]
    if question.kind in RATING_RANGES:
        low, high = RATING_RANGES[question.kind]
        return [(str(n), values.get(str(n), 0)) for n in range(low, high + 1)]
    return sorted(values.items(), key=lambda item: float(item[0]))
