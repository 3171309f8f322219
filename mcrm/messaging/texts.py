"""How long a text a merchant edits may be: every reply, greeting and reminder is held to one limit,
which the console's live counter (static/sms-counter.js) shows too."""
from mcrm.core.templates import TemplateError
from mcrm.messaging.store import count_parts

#: most SMS one reply or app text may cost, the merchant's signature included: 5 UCS-2 parts are
#: 335 Chinese characters. Every answer costs that many SMS, and a text over 255 parts cannot be
#: sent at all (every MO it answers would fail). The console's counter shows the same limit.
MAX_TEXT_PARTS = 5
#: the characters those parts hold in Chinese (UCS-2: 67 a part once a text takes more than one)
MAX_TEXT_CHARS = MAX_TEXT_PARTS * 67


def check_length(template: str, *, signature: str) -> None:
    """Raise TemplateError when the text, as typed and with the signature, costs more than
    ``MAX_TEXT_PARTS`` SMS. Placeholders count as typed: the preview shows a filled-in text."""
    shape = count_parts(signature + template)
    if shape.parts > MAX_TEXT_PARTS:
        raise TemplateError("With the signature this text is %(parts)s SMS long; a text may take at most "
                            "%(most)s SMS (%(chars)s Chinese characters)", parts=shape.parts, most=MAX_TEXT_PARTS,
                            chars=MAX_TEXT_CHARS)
