"""Arbitrary texts thrown at the real engine: every MO ends DONE, never FAILED, and replies are sane."""
from hypothesis import HealthCheck, given, settings, strategies as st

from mcrm.extensions import db
from mcrm.messaging.models import InboundStatus
from tests.mcrm.keywords_support import phone  # noqa: F401

KEYWORDISH = st.sampled_from(["ZC", "JF", "TD", "DY", "BZ", "YJ", "TS", "BY", "DC", "XF", "DH", "DL", "HX", "注册",
                              "积分", "？", "ＺＣ", "农历0815", "19900315", "13800138000", "88", "-1", "1e9", "{name}",
                              "\x00", "\udc00"])
#: every code point, NUL and lone surrogates included (the inbox stores them as U+FFFD)
ANY_TEXT = st.characters()
WORDS = st.lists(st.one_of(KEYWORDISH, st.text(ANY_TEXT, max_size=12)), max_size=6)
SEPARATORS = st.sampled_from([" ", ",", "，", "#", "+", ":", "：", "　", "\n", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=WORDS, separator=SEPARATORS, data_coding=st.sampled_from([0, 3, 4, 8]))
def test_any_text_is_answered_without_failing(phone, make_staff, words, separator, data_coding):
    text = separator.join(words)
    inbound = phone.store(text, data_coding=data_coding)
    from mcrm.jobs.tasks import process_inbound_sms
    process_inbound_sms(now=phone.now)
    db.session.refresh(inbound)
    assert inbound.status == InboundStatus.DONE, inbound.error
    for _to, body in phone.replies_to(inbound):
        # no placeholder left unfilled: a brace in a reply can only be one the texter typed (a name echoed)
        assert body.strip() and body.count("{") <= text.count("{")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(ANY_TEXT, max_size=300))
def test_any_text_from_a_staff_phone_is_answered_without_failing(phone, make_staff, text):
    if not getattr(phone, "staff_made", False):
        make_staff("clerk", msisdn="+8613700137000")
        phone.staff_made = True
    for keyword in ("XF ", "DH ", "HX ", ""):
        inbound = phone.store(keyword + text, msisdn="+8613700137000")
        from mcrm.jobs.tasks import process_inbound_sms
        process_inbound_sms(now=phone.now)
        db.session.refresh(inbound)
        assert inbound.status == InboundStatus.DONE, inbound.error
