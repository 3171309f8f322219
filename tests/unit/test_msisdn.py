import pytest

from mcrm.core.errors import ValidationError
from mcrm.core.msisdn import mask_msisdn, normalize_msisdn


@pytest.mark.parametrize("raw", ["13800138000", "+86 138-0013-8000", "008613800138000", "8613800138000",
                                 " 138 0013 8000 "])
def test_the_same_chinese_mobile_written_many_ways(raw):
    assert normalize_msisdn(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["", "12345", "1380013800", "abcdefghijk", "+86 000 0000 0000"])
def test_invalid_numbers_are_refused_clearly(raw):
    with pytest.raises(ValidationError):
        normalize_msisdn(raw)


def test_logs_never_show_a_full_number():
    assert mask_msisdn("+8613800138000") == "+86138****8000"
