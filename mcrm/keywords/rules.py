"""Reading an inbound text and picking its app; reply templates. Pure: no db, no flask, no clock.

docs/keywords.md "Reading a text": case-insensitive, full-width counts as half-width,
leading and trailing spaces and punctuation ignored, words separated by space , ， # + : ：,
the first word picks the keyword.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from mcrm.core.errors import ValidationError
from mcrm.core.text import CONTROL_CHARS, fold, strip_punct, to_half_width

#: longest text the engine reads; longer ones (a pasted essay, a looping auto-responder) get help
MAX_TEXT_LENGTH = 700
#: separators between words, after full-width → half-width (so ， and ： are already , and :)
_SEPARATORS = re.compile(r"[\s,#+:]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class Outcome(StrEnum):
    """What kind of text the engine was given, before any keyword is looked at."""
    TEXT = "text"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    GARBLED = "garbled"


@dataclass(frozen=True)
class ParsedText:
    """An inbound text read as words.

    ``keyword`` is the folded first word (compare it with folded keywords); ``first`` is that word as
    written; ``args`` are the other words as written (half-width, case kept, for names); ``rest`` is
    everything after the first word with its original spacing, for free text such as feedback.
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
    return tuple(w for w in (strip_punct(w) for w in _SEPARATORS.split(text)) if w)


def parse_text(raw: str | None) -> ParsedText:
    """Read an MO text. Never raises, whatever the input."""
    text = to_half_width(raw or "").strip()
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
    match = re.match(r"[^\s,#+:]+", body) or re.match(r".", body)
    first = match.group(0)
    rest = body[match.end():]
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


# -- reply templates ---------------------------------------------------------------------------

class TemplateError(ValidationError):
    """A reply template that cannot be rendered; the message says what to fix."""


def template_fields(template: str) -> list[str]:
    """Placeholder names in ``template`` (``{name}`` → ``name``); ``{{``/``}}`` are literal braces."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template.replace("{{", "").replace("}}", ""))]


def check_template(template: str, allowed) -> None:
    """Raise TemplateError unless every placeholder is one of ``allowed`` and braces balance.

    Run when a text is saved, so a broken template shows in the console, never at send time.
    """
    plain = (template or "").replace("{{", "").replace("}}", "")
    if not plain.strip():
        raise TemplateError("The text is empty")
    unknown = [name for name in template_fields(template) if name not in allowed]
    if unknown:
        raise TemplateError("Unknown placeholder {%(name)s}; use one of: %(allowed)s", name=unknown[0],
                            allowed=" ".join("{%s}" % a for a in sorted(allowed)))
    leftover = _PLACEHOLDER.sub("", plain)
    if "{" in leftover or "}" in leftover:
        raise TemplateError("Unbalanced brace: write {{ or }} for a literal brace")


def render_template(template: str, values: dict) -> str:
    """Fill placeholders from ``values``. Never raises: an unknown one renders empty.

    Only plain names are substituted (no attribute or index access as ``str.format`` allows), so a
    template can never reach into an object.
    """
    return compile_template(template)(values)


def template_pieces(template: str) -> list[str | tuple[str]]:
    """The template parsed: literal text, and a 1-tuple naming each placeholder, in order (``{{`` and
    ``}}`` already literal braces). A campaign builds its texts in SQL from these."""
    pieces: list = []
    for n, part in enumerate((template or "").split("{{")):
        if n:
            pieces.append("{")
        for m, piece in enumerate(part.split("}}")):
            if m:
                pieces.append("}")
            at = 0
            for match in _PLACEHOLDER.finditer(piece):
                pieces.append(piece[at:match.start()])
                pieces.append((match.group(1),))
                at = match.end()
            pieces.append(piece[at:])
    return [piece for piece in pieces if piece != ""]


def compile_template(template: str) -> Callable[[dict], str]:
    """``render_template`` in two steps: the template parsed once, then filled as often as needed
    (a campaign fills one text per member). ``{{`` and ``}}`` stand for literal braces."""
    pieces = template_pieces(template)
    if all(isinstance(piece, str) for piece in pieces):
        text = "".join(pieces)
        return lambda values: text

    def fill(values: dict) -> str:
        out = []
        for piece in pieces:
            if piece.__class__ is str:
                out.append(piece)
            else:
                value = values.get(piece[0])
                out.append("" if value is None else str(value))
        return "".join(out)
    return fill
