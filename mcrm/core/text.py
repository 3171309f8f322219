"""Text typed into the console, as any database can store it. Pure."""
import re

#: C0 control codes and DEL, except tab and the line breaks a textarea sends. Nobody types them:
#: they come from a broken paste or an attacker, and NUL is the one PostgreSQL text refuses
#: (SQLite stores it), so left in they fail a page on one database only.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_controls(text: str) -> str:
    return CONTROL_CHARS.sub("", text)
