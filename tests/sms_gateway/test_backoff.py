"""backoff.py: the one reconnect back-off of the gateway."""
import pytest

from sms_gateway.backoff import Backoff


def test_delays_double_up_to_the_cap_and_start_over_after_a_reset():
    backoff = Backoff(1.0, 60.0)
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    backoff.reset()
    assert [backoff.next_delay() for _ in range(2)] == [1, 2]


def test_a_cap_below_the_first_delay_is_refused():
    with pytest.raises(ValueError):
        Backoff(5.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
