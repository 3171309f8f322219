"""throttle.py: the token bucket with a fake clock."""
import pytest

from sms_gateway.throttle import TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_bucket_allows_rate_per_second_and_no_more():
    clock = FakeClock()
    bucket = TokenBucket(10, clock)          # burst 1: one every 100 ms
    sent = 0
    for _ in range(1000):                    # one simulated second in 1 ms steps
        if bucket.take():
            sent += 1
        clock.now += 0.001
    assert 10 <= sent <= 11


def test_wait_time_says_when_the_next_token_comes():
    clock = FakeClock()
    bucket = TokenBucket(4, clock)
    assert bucket.take() and not bucket.take()
    assert bucket.wait_time() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.wait_time() == 0 and bucket.take()


def test_burst_caps_saved_tokens():
    clock = FakeClock()
    bucket = TokenBucket(100, clock, burst=5)
    clock.now += 60
    assert sum(bucket.take() for _ in range(20)) == 5


def test_pause_stops_everything_then_restarts_from_empty():
    clock = FakeClock()
    bucket = TokenBucket(100, clock, burst=10)
    bucket.pause(1.0)
    assert not bucket.take()
    assert bucket.wait_time() == pytest.approx(1.0)
    clock.now += 1.0
    assert not bucket.take()                 # empty right after the pause
    clock.now += 0.01
    assert bucket.take()


def test_zero_rate_is_unlimited_but_still_pausable():
    clock = FakeClock()
    bucket = TokenBucket(0, clock)
    assert all(bucket.take() for _ in range(10000))
    bucket.pause(0.5)
    assert not bucket.take() and bucket.wait_time() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take()


def test_negative_rate_is_rejected():
    with pytest.raises(ValueError):
        TokenBucket(-1, FakeClock())
