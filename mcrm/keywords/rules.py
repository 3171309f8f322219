"""Reading an inbound text and picking its app. Pure: no db, no flask, no clock.

docs/keywords.md "Reading a text": case-insensitive, full-width counts as half-width,
leading and trailing spaces and punctuation ignored, words separated by space , ， # + : ：,
the first word picks the keyword.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from mcrm.core.text import CONTROL_CHARS, fold, strip_punct, to_half_width

#: longest text the engine reads; longer ones (a pasted essay, a looping auto-responder) get help
MAX_TEXT_LENGTH = 700
#: separators between words, after full-width → half-width (so ， and ： are already , and :)
_SEPARATORS = re.compile(r"[\s,#+:]+")



class Outcome(StrEnum):
    """What kind of text the engine was given, before any keyword is looked at."""
    TEXT = "text"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    GARBLED = "garbled"


@dataclass(frozen=True)
class ParsedText:
    """An inbound text read as words.

    ``text`` is the text as sent (trimmed, control codes dropped), for whatever is stored: a survey's
    free-text answer, a feedback ticket, a thread entry. ``keyword`` is the folded first word (compare
    it with folded keywords); ``first`` is that word as written; ``args`` are the other words,
    half-width with their case kept (values read from them: codes, numbers, names); ``rest`` is
    everything after the first word as sent, full-width punctuation and spacing kept, for free text
    such as feedback.
    """
    outcome: str
    text: str = ""
    keyword: str = ""
    first: str = ""
    args: tuple[str, ...] = ()
    rest: str = ""

    @property
    def is_text(self) -> bool:
        return self.outcome == Outcome.TEXT


def _is_garbled(text: str) -> bool:
    """Mostly replacement characters or control codes: a decoding failure, not a person typing."""
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Co", "Cs")
                                                     and not ch.isspace()))
    return bad * 2 >= len(text)


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in (strip_punct(w) for w in _SEPARATORS.split(to_half_width(text))) if w)


def _first_word_end(body: str) -> int:
    """Where the first word of ``body`` ends: at the first character that is a separator once
    half-width (``，`` as well as ``,``), read on the text as sent; at least one character."""
    for index, char in enumerate(body):
        if index and _SEPARATORS.match(to_half_width(char)):
            return index
    return len(body)


def parse_text(raw: str | None) -> ParsedText:
    """Read an MO text. Never raises, whatever the input.

    Only what is matched is folded (the keyword, the args); the text and the rest stay as sent, so
    a stored answer or ticket keeps its full-width punctuation (``太咸了，少放盐``)."""
    text = (raw or "").strip()
    if len(text) > MAX_TEXT_LENGTH:
        return ParsedText(Outcome.TOO_LONG, text=text[:MAX_TEXT_LENGTH])
    if not text:
        return ParsedText(Outcome.EMPTY)
    if _is_garbled(text):
        return ParsedText(Outcome.GARBLED, text=text)
    # stray control codes (NUL above all: PostgreSQL text refuses it) never reach stored text;
    # what is left may be spaces alone, and is then read as empty
    text = CONTROL_CHARS.sub("", text).strip()
    if not text:
        return ParsedText(Outcome.EMPTY)
    body = strip_punct(text) or text  # "?" alone stays "?", the help keyword
    end = _first_word_end(body)
    first, rest = body[:end], body[end:]
    return ParsedText(Outcome.TEXT, text=text, keyword=fold(first), first=first, args=_words(rest),
                      rest=strip_punct(rest) if rest.strip() else "")


def split_glued(parsed: ParsedText, keywords) -> ParsedText | None:
    """``注册张三`` written without a space: split a Chinese keyword off the front of the first word.

    Only keywords with a non-ASCII character qualify, so ``T`` never eats ``TEST``; the longest
    one wins. Returns the text re-read with that keyword, or None.
    """
    if not parsed.is_text:
        return None
    best = max((k for k in keywords if not k.isascii() and len(k) < len(parsed.keyword)
                and parsed.keyword.startswith(k)), key=len, default="")
    if not best or fold(parsed.first[:len(best)]) != best:
        return None
    glued = strip_punct(parsed.first[len(best):])
    rest = f"{glued} {parsed.rest}".strip()
    return ParsedText(Outcome.TEXT, text=parsed.text, keyword=best, first=parsed.first[:len(best)],
                      args=_words(rest), rest=rest)


@dataclass
class KeywordTable:
    """Folded keyword → app reference (``"join"`` for a built-in, ``"app:12"`` for a wizard app)."""
    words: dict[str, str] = field(default_factory=dict)
    stop_words: frozenset[str] = frozenset()

    def add(self, app_ref: str, words) -> None:
        for word in words:
            folded = fold(word)
            if folded:
                self.words.setdefault(folded, app_ref)

    def match(self, parsed: ParsedText) -> tuple[str | None, ParsedText]:
        """The app the text's first word picks (or None), and the text re-read if a keyword was glued on."""
        if not parsed.is_text:
            return None, parsed
        if parsed.keyword in self.words:
            return self.words[parsed.keyword], parsed
        reread = split_glued(parsed, self.words)
        if reread is not None:
            return self.words[reread.keyword], reread
        return None, parsed

    def is_stop(self, parsed: ParsedText) -> bool:
        if not parsed.is_text:
            return False
        if parsed.keyword in self.stop_words:
            return True
        return split_glued(parsed, self.stop_words) is not None


def find_conflicts(words, taken: dict) -> list[tuple]:
    """Pairs (word, who has it) for each of ``words`` already in ``taken`` (folded keys), and
    (word, None) for a word given twice."""
    conflicts, seen = [], set()
    for word in words:
        folded = fold(word)
        if folded in taken:
            conflicts.append((word, taken[folded]))
        elif folded in seen:
            conflicts.append((word, None))
        seen.add(folded)
    return conflicts


def split_words(text: str) -> list[str]:
    """Keywords as typed in a form: 'ZC, 注册 JOIN' → ['ZC', '注册', 'JOIN']."""
    return [w for w in re.split(r"[\s,，;；、]+", to_half_width(text or "")) if w]
