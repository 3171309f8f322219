"""Phone numbers: parse anything a person types into E.164 (``+8613800138000``)."""
import functools
import re

import phonenumbers

from mcrm.core.errors import ValidationError

#: a Chinese mobile as SMSCs, CSV files and people mostly write it: 11 digits, maybe with 86 first
_CN_MOBILE = re.compile(r"(?:\+?86|0086)?(1\d{10})")


@functools.lru_cache(maxsize=65536)
def _cn_mobile_block_is_valid(first_seven: str) -> bool:
    """Whether numbers of this 7-digit block are valid (phonenumbers' CN patterns for 11-digit
    numbers starting with 1 decide on at most the first 5 digits; tests check the equivalence)."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(first_seven + "0000", "CN"))
    except phonenumbers.NumberParseException:
        return False


#: what phonenumbers calls a number that can receive SMS; FIXED_LINE_OR_MOBILE where a country's
#: numbering does not tell them apart (the United States, Canada)
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def normalize_msisdn(raw: str, region: str = "CN") -> str:
    """Return the E.164 form of ``raw`` or raise ValidationError with a clear reason.

    ``13800138000``, ``+86 138-0013-8000`` and ``008613800138000`` are the same number.
    Plain Chinese mobiles take a cached fast path: full parsing costs a third of a CSV import.
    """
    return _parse(raw, region)[0]


def normalize_mobile(raw: str, region: str = "CN") -> str:
    """``normalize_msisdn`` for a number that must receive SMS (a member's): a landline such as
    ``02188886666`` is refused with a clear reason instead of joining and never getting a text."""
    msisdn, number = _parse(raw, region)
    if number is not None and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise ValidationError("%(raw)s is not a mobile number: members need a number that can receive SMS "
                              "(a landline cannot)", raw=(raw or "").strip())
    return msisdn


def _parse(raw: str, region: str) -> tuple[str, phonenumbers.PhoneNumber | None]:
    """E.164 and the parsed number, or None for a Chinese mobile of the fast path (every valid
    11-digit number starting with 1 is a mobile, which tests check block by block)."""
    text = (raw or "").strip()
    if region == "CN" and (mobile := _CN_MOBILE.fullmatch(text)):
        digits = mobile.group(1)
        if _cn_mobile_block_is_valid(digits[:7]):
            return "+86" + digits, None
        raise ValidationError("Not a valid phone number: %(raw)r", raw=raw)
    if not text:
        raise ValidationError("Phone number is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif region == "CN" and text.startswith("86") and len("".join(ch for ch in text if ch.isdigit())) == 13:
        text = "+" + text  # SMSCs deliver Chinese numbers as 8613800138000, without the plus
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationError("Not a phone number: %(raw)r", raw=raw) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number: %(raw)r", raw=raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), number


def is_valid_msisdn(raw: str, region: str = "CN") -> bool:
    try:
        normalize_msisdn(raw, region)
    except ValidationError:
        return False
    return True


def is_mobile(raw: str, region: str = "CN") -> bool:
    """Whether ``raw`` is a number that can receive SMS (see ``normalize_mobile``)."""
    try:
        normalize_mobile(raw, region)
    except ValidationError:
        return False
    return True


#: digit runs as long as a phone number, with an optional +
_NUMBER_IN_TEXT = re.compile(r"\+?\d{7,}")


def mask_msisdn(msisdn: str) -> str:
    """A number as logs, pages and the gateway show it when the whole number is not needed:
    ``+8613800138000`` → ``+86138****8000``, enough to follow one number, not to call it.

    The rule (docs/operations.md, "Masked numbers"): the four characters before the last four
    become ``****``; an address of 8 characters or fewer (a short code, a sender name) shows only
    stars, one for each character. sms_gateway.worker.mask_msisdn keeps the same rule (the gateway
    imports nothing of mcrm); tests/unit/test_msisdn.py checks that the two agree.
    """
    if len(msisdn) <= 8:
        return "*" * len(msisdn)
    return msisdn[:-8] + "****" + msisdn[-4:]


def mask_numbers(text: str) -> str:
    """``text`` with every digit run long enough to be a phone number masked by ``mask_msisdn``."""
    return _NUMBER_IN_TEXT.sub(lambda match: mask_msisdn(match.group()), text)


def national_digits(msisdn: str) -> str:
    """The digits an SMSC uses for the address: E.164 without the plus."""
    return msisdn.lstrip("+")
