"""RedeliveryGuard's windows, on a clock the test moves (the peer test shows the real redelivery)."""
from sms_gateway.redelivery import RedeliveryGuard

KEY = ("+8613800138000", "106571234501", 0, b"XF 13800138000 88")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def guard(clock, doubt=40.0, hold=600.0):
    return RedeliveryGuard(doubt, hold, clock)


def lost_after(clock, seconds, hold=600.0):
    """A guard that acknowledged KEY, then lost its link ``seconds`` later."""
    g = guard(clock, hold=hold)
    g.acknowledged(KEY)
    clock.now += seconds
    g.link_lost()
    return g


def test_without_a_lost_link_every_copy_is_new():
    clock = Clock()
    g = guard(clock)
    g.acknowledged(KEY)
    assert not g.is_redelivery(KEY)


def test_after_a_lost_link_one_copy_is_the_redelivery_and_the_next_is_new():
    clock = Clock()
    g = lost_after(clock, 39)
    clock.now += 5
    assert not g.is_redelivery(KEY[:3] + (b"JF",))      # another text is never one
    assert g.is_redelivery(KEY)
    assert not g.is_redelivery(KEY)


def test_two_equal_mos_in_doubt_are_two_redeliveries():
    clock = Clock()
    g = guard(clock)
    g.acknowledged(KEY)
    g.acknowledged(KEY)
    g.link_lost()
    assert g.is_redelivery(KEY) and g.is_redelivery(KEY) and not g.is_redelivery(KEY)


def test_an_mo_acknowledged_long_before_the_loss_is_not_in_doubt():
    assert not lost_after(Clock(), 41).is_redelivery(KEY)


def test_doubt_ends_after_the_hold_time():
    clock = Clock()
    g = lost_after(clock, 0)
    clock.now += 600
    assert not g.is_redelivery(KEY)


def test_a_hold_of_zero_turns_the_guard_off():
    assert not lost_after(Clock(), 0, hold=0).is_redelivery(KEY)
