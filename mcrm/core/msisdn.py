"""Phone numbers: parse anything a person types into E.164 (``+8613800138000``)."""
import phonenumbers

from mcrm.core.errors import ValidationError


def normalize_msisdn(raw: str, region: str = "CN") -> str:
    """Return the E.164 form of ``raw`` or raise ValidationError with a clear reason.

    ``13800138000``, ``+86 138-0013-8000`` and ``008613800138000`` are the same number.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError("Phone number is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif region == "CN" and text.startswith("86") and len("".join(ch for ch in text if ch.isdigit())) == 13:
        text = "+" + text  # SMSCs deliver Chinese numbers as 8613800138000, without the plus
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"Not a phone number: {raw!r}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"Not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_valid_msisdn(raw: str, region: str = "CN") -> bool:
    try:
        normalize_msisdn(raw, region)
    except ValidationError:
        return False
    return True


def mask_msisdn(msisdn: str) -> str:
    """For logs: never a full number (``+86138****8000``)."""
    if len(msisdn) <= 8:
        return "*" * len(msisdn)
    return msisdn[:-8] + "****" + msisdn[-4:]


def national_digits(msisdn: str) -> str:
    """The digits an SMSC uses for the address: E.164 without the plus."""
    return msisdn.lstrip("+")
