import pytest
from hypothesis import given, strategies as st

from mcrm.core.errors import ValidationError
from mcrm.core.msisdn import mask_msisdn, mask_numbers, normalize_mobile, normalize_msisdn
from sms_gateway import mask_msisdn as gateway_mask


@pytest.mark.parametrize("raw", ["13800138000", "+86 138-0013-8000", "008613800138000", "8613800138000",
                                 " 138 0013 8000 "])
def test_the_same_chinese_mobile_written_many_ways(raw):
    assert normalize_msisdn(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["", "12345", "1380013800", "abcdefghijk", "+86 000 0000 0000"])
def test_invalid_numbers_are_refused_clearly(raw):
    with pytest.raises(ValidationError):
        normalize_msisdn(raw)


@pytest.mark.parametrize("msisdn, shown", [
    ("+8613800138000", "+86138****8000"),   # a Chinese mobile: country, network, the last four
    ("+447911123456", "+4479****3456"),
    ("123456789", "1****6789"),
    ("12345678", "********"),               # 8 characters or fewer: only stars
    ("10690001", "********"),               # a short code
    ("ALIPAY", "******"),                   # a sender name
    ("", ""),
])
def test_a_masked_number_hides_four_characters_before_the_last_four(msisdn, shown):
    assert mask_msisdn(msisdn) == shown


@given(st.text(alphabet="+0123456789ABC", max_size=20))
def test_the_gateway_masks_by_the_same_rule(address):
    """sms_gateway keeps its own copy (it imports nothing of mcrm): the two must never drift."""
    assert gateway_mask(address) == mask_msisdn(address)


def test_numbers_in_a_text_are_masked_and_the_rest_kept():
    assert mask_numbers("/numbers/+8613800138000?x=13900139000&id=42") == \
        "/numbers/+86138****8000?x=139****9000&id=42"


def test_fast_path_for_chinese_mobiles_agrees_with_full_parsing():
    import random
    import phonenumbers
    rng = random.Random(7)
    numbers = [f"1{rng.randint(0, 9_999_999_999):010d}" for _ in range(20_000)]
    numbers += [f"1{block}{rng.randint(0, 9999):04d}" for block in range(0, 1_000_000, 997)
                for _ in range(2) if len(f"1{block}") <= 7]
    def by_full_parsing(number):
        try:
            parsed = phonenumbers.parse(number, "CN")
        except phonenumbers.NumberParseException:
            return None
        valid = phonenumbers.is_valid_number(parsed)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if valid else None

    for number in numbers:
        expected = by_full_parsing(number)
        try:
            got = normalize_msisdn(number)
        except ValidationError:
            got = None
        assert got == expected, number
        for written in ("+86" + number, "86" + number, "0086" + number):
            try:
                assert normalize_msisdn(written) == expected, written
            except ValidationError:
                assert expected is None, written


@pytest.mark.parametrize("raw", ["02188886666", "+862188886666", "0086 21 8888 6666", "01088886666"])
def test_a_landline_is_a_phone_number_but_not_a_mobile(raw):
    assert normalize_msisdn(raw).startswith("+86")
    with pytest.raises(ValidationError, match="not a mobile number"):
        normalize_mobile(raw)


@pytest.mark.parametrize("raw, expected", [("13800138000", "+8613800138000"), ("+86 138-0013-8000", "+8613800138000"),
                                           ("+447911123456", "+447911123456"),
                                           # the US numbering cannot tell mobiles from landlines
                                           ("+1 415 555 2671", "+14155552671")])
def test_mobiles_are_accepted_as_member_numbers(raw, expected):
    assert normalize_mobile(raw) == expected


def test_the_chinese_fast_path_only_passes_mobiles():
    """normalize_mobile trusts the 7-digit-block fast path: every valid block there is a mobile."""
    import phonenumbers
    for block in range(1_000_000, 2_000_000, 97):
        number = phonenumbers.parse(f"{block}0000", "CN")
        if phonenumbers.is_valid_number(number):
            assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE, block
