"""encoding.py: alphabet choice, part counting/splitting limits, MO decoding, receipt parsing."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway import encoding
from sms_gateway.encoding import count_parts, decode_payload, parse_receipt, split

GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = "\f^{}\\[~]|€"


def joined_text(parts):
    return "".join(p.text for p in parts)


def decoded(parts):
    """What a handset shows: strip each part's UDH, join the payloads, decode once."""
    payload = b""
    for p in parts:
        body = p.short_message
        if p.esm_class & encoding.ESM_UDHI:
            _ies, body = encoding.parse_udh(body)
        payload += body
    return decode_payload(payload, parts[0].data_coding)


@pytest.mark.parametrize("text, enc, parts, chars, per_part", [
    ("", "gsm7", 1, 0, 160),
    ("a" * 160, "gsm7", 1, 160, 160),
    ("a" * 161, "gsm7", 2, 161, 153),
    ("a" * 306, "gsm7", 2, 306, 153),
    ("a" * 307, "gsm7", 3, 307, 153),
    ("€" * 80, "gsm7", 1, 160, 160),          # extension chars cost two septets
    ("€" * 81, "gsm7", 2, 162, 153),
    ("你" * 70, "ucs2", 1, 70, 70),
    ("你" * 71, "ucs2", 2, 71, 67),
    ("你" * 134, "ucs2", 2, 134, 67),
    ("你" * 135, "ucs2", 3, 135, 67),
    ("😀" * 35, "ucs2", 1, 70, 70),            # astral chars are two UTF-16 units
    ("a`", "ucs2", 1, 2, 70),                 # backtick is not GSM-7 (smpplib thinks it is)
    ("§", "gsm7", 1, 1, 160),                 # '§' is GSM-7 (smpplib thinks it is not)
])
def test_count_parts_reports_alphabet_parts_and_length(text, enc, parts, chars, per_part):
    shape = count_parts(text)
    assert (shape.encoding, shape.parts, shape.chars, shape.chars_per_part) == (enc, parts, chars, per_part)
    assert len(split(text)) == parts


def test_every_gsm_character_round_trips():
    text = GSM_BASIC + GSM_EXT
    assert encoding.is_gsm7(text)
    assert encoding.gsm7_decode(encoding.gsm7_encode(text)) == text


def test_escape_sequence_is_never_split_across_parts():
    text = "a" * 152 + "€" + "b" * 10           # the euro would straddle the 153-septet boundary
    parts = split(text, ref=9)
    assert parts[0].text == "a" * 152
    assert parts[1].text.startswith("€")
    assert not parts[0].short_message.endswith(b"\x1b")
    assert decoded(parts) == text


def test_surrogate_pair_is_never_split_across_parts():
    text = "你" * 66 + "😀" + "好" * 10
    parts = split(text)
    assert parts[0].text == "你" * 66 and parts[1].text.startswith("😀")
    assert decoded(parts) == text


def test_concatenated_parts_carry_an_8bit_reference_udh():
    parts = split("你好" * 50, ref=0x1A3)
    assert [p.short_message[:6] for p in parts] == [bytes([5, 0, 3, 0xA3, 2, i]) for i in (1, 2)]
    assert all(p.esm_class == 0x40 and p.data_coding == 8 for p in parts)
    assert all(len(p.short_message) <= 140 for p in parts)


def test_more_than_255_parts_is_refused_but_counted():
    text = "a" * (153 * 255 + 1)
    assert count_parts(text).parts == 256
    with pytest.raises(encoding.MessageTooLongError):
        split(text)


gsm_text = st.text(alphabet=GSM_BASIC + GSM_EXT, max_size=800)
any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=400)


@settings(max_examples=150, deadline=None)
@given(st.one_of(gsm_text, any_text))
def test_split_then_join_gives_the_original_and_respects_limits(text):
    parts = split(text, ref=77)
    shape = count_parts(text)
    assert len(parts) == shape.parts
    assert joined_text(parts) == text
    assert decoded(parts) == text
    for p in parts:
        body = p.short_message[6:] if p.total_parts > 1 else p.short_message
        units = len(body) if p.data_coding == 0 else len(body) // 2
        assert units <= shape.chars_per_part
        assert len(p.short_message) <= 160
        assert not (p.data_coding == 0 and body.endswith(b"\x1b"))
        if p.data_coding == 8:
            assert not 0xD800 <= int.from_bytes(body[-2:], "big") <= 0xDBFF if body else True


@pytest.mark.parametrize("payload, dc, text", [
    (encoding.gsm7_encode("JF {1}"), 0, "JF {1}"),
    (b"caf\xe9", 3, "café"),
    (b"HELP", 1, "HELP"),
    ("积分😀".encode("utf-16-be"), 8, "积分😀"),
    ("积分".encode("utf-16-be") + b"\x00", 8, "积分"),      # odd byte dropped, never raises
    (b"\x00\x01\xff", 4, ""),                                # binary: no text
    (b"hi", 0xF0, "hi"),                                     # message-class group, GSM-7
    ("好".encode("utf-16-be"), 0x18, "好"),                   # general group, UCS2 alphabet
])
def test_decode_payload_handles_the_mo_data_codings(payload, dc, text):
    assert decode_payload(payload, dc) == text


def test_parse_udh_reads_8_and_16_bit_concatenation():
    ies, body = encoding.parse_udh(bytes([5, 0, 3, 7, 3, 2]) + b"xy")
    assert body == b"xy" and encoding.concat_info(ies) == encoding.ConcatInfo(7, 3, 2, 8)
    ies, body = encoding.parse_udh(bytes([6, 8, 4, 1, 2, 2, 1]) + b"z")
    assert body == b"z" and encoding.concat_info(ies) == encoding.ConcatInfo(0x102, 2, 1, 16)
    assert encoding.parse_udh(bytes([9, 0, 3])) == ([], bytes([9, 0, 3]))   # broken: kept whole


def test_parse_receipt_reads_the_text_form():
    r = parse_receipt("id:0a1b2c sub:001 dlvrd:001 submit date:2611221010 done date:2611221011 "
                      "stat:DELIVRD err:000 text:Hello world")
    assert (r.message_id, r.stat, r.err, r.submit_date, r.done_date, r.text) == (
        "0a1b2c", "DELIVRD", "000", "2611221010", "2611221011", "Hello world")


def test_parse_receipt_prefers_tlvs_and_tolerates_missing_fields():
    r = parse_receipt("ID:123 STAT:delivrd", receipted_message_id="7b", message_state=5)
    assert (r.message_id, r.stat, r.err) == ("7b", "UNDELIV", None)
    assert parse_receipt("").message_id is None
