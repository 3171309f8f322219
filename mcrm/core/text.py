"""Text as people type it: in the console (as any database can store it) and by SMS (the form
keywords and answers are compared in). Pure."""
import re
import unicodedata

#: C0 control codes and DEL, except tab and the line breaks a textarea sends. Nobody types them:
#: they come from a broken paste or an attacker, and NUL is the one PostgreSQL text refuses
#: (SQLite stores it), so left in they fail a page on one database only.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def N_(text: str) -> str:
    """Marks a literal for the translation catalog (pybabel extracts ``N_``); translated where it
    is shown, so a stored message follows the reader's language."""
    return text


def strip_controls(text: str) -> str:
    return CONTROL_CHARS.sub("", text)


def _is_punct(char: str) -> bool:
    category = unicodedata.category(char)
    return category.startswith("P") or category.startswith("S") or category.startswith("Z") \
        or category in ("Cc", "Cf") or char.isspace()


def to_half_width(text: str) -> str:
    """Full-width letters, digits, punctuation and the ideographic space as their ASCII forms.

    NFKC does exactly this for the full-width block, and leaves Chinese characters alone.
    """
    return unicodedata.normalize("NFKC", text)


def strip_punct(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_punct(text[start]):
        start += 1
    while end > start and _is_punct(text[end - 1]):
        end -= 1
    return text[start:end]


def fold(word: str) -> str:
    """The form keywords are compared in: half-width, case-folded, no edge punctuation.

    A word that is nothing but punctuation (``?``, ``？``) keeps its first character, so it can
    still be a keyword.
    """
    word = to_half_width(word or "").strip()
    stripped = strip_punct(word)
    if stripped:
        return stripped.casefold()
    return word[:1]
