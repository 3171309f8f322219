"""Message templates: ``{name}`` placeholders filled from a dict, ``{{``/``}}`` literal braces. Pure.

Every text a merchant edits (keyword replies, campaigns, care greetings, agenda reminders) is one;
the console checks a template when it is saved, so a mistake shows there and never in a sent SMS.
"""
import re
from collections.abc import Callable

from mcrm.core.errors import ValidationError

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class TemplateError(ValidationError):
    """A template that cannot be rendered; the message says what to fix."""


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
