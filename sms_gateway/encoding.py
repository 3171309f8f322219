"""SMS text encoding, splitting, MO decoding and delivery-receipt parsing. Pure: no I/O, no clock.

One rule decides the alphabet everywhere (the web console's counter and the gateway share it):
GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table (an extension
character costs two septets: ESC + char), else UCS-2. A single SMS holds 160 septets / 70 UTF-16 code
units; a longer text goes as concatenated parts with a 6-octet UDH (8-bit reference), 153 septets /
67 code units each. An escape sequence or a surrogate pair is never split across two parts.

We do not use ``smpplib.gsm.make_parts``: its table maps '`' to 0x5F (that is '§'), lacks '§', and it
splits encoded bytes blindly, which can cut an ESC sequence or a surrogate pair in two.

On the wire GSM-7 is sent unpacked (one septet per octet, data_coding 0), which is what SMPP SMSCs
expect for the SMSC default alphabet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "GSM7", "UCS2", "DC_GSM7", "DC_ASCII", "DC_LATIN1", "DC_UCS2", "ESM_UDHI",
    "SmsShape", "SmsPart", "MessageTooLongError", "count_parts", "split", "is_gsm7",
    "gsm7_encode", "gsm7_decode", "decode_payload", "is_binary_coding", "parse_udh", "ConcatInfo",
    "concat_info", "ReceiptFields", "parse_receipt", "RECEIPT_FINAL_FAILURES", "MESSAGE_STATES",
]

GSM7 = "gsm7"
UCS2 = "ucs2"
DC_GSM7 = 0x00
DC_ASCII = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08
ESM_UDHI = 0x40
MAX_PARTS = 255

SINGLE_LIMIT = {GSM7: 160, UCS2: 70}
PART_LIMIT = {GSM7: 153, UCS2: 67}

# GSM 03.38 default alphabet, index == septet value (0x1B is the escape to the extension table).
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
            "]": 0x3E, "|": 0x40, "€": 0x65}
_ESC = 0x1B
_ENC_BASIC = {ch: i for i, ch in enumerate(_GSM_BASIC) if i != _ESC}
_DEC_BASIC = {i: ch for i, ch in enumerate(_GSM_BASIC)}
_DEC_EXT = {v: k for k, v in _GSM_EXT.items()}
_GSM_SEPTETS = {ch: 1 for ch in _ENC_BASIC}
_GSM_SEPTETS.update({ch: 2 for ch in _GSM_EXT})


class MessageTooLongError(ValueError):
    """The text needs more than 255 concatenated parts."""


@dataclass(frozen=True)
class SmsShape:
    """How a text goes out: alphabet, parts, and length in the unit that counts for it.

    ``chars`` counts septets for GSM-7 (an extension character is 2) and UTF-16 code units for UCS-2
    (an emoji is 2); ``chars_per_part`` is 160/70 for a single SMS, 153/67 when concatenated.
    """

    encoding: str
    data_coding: int
    parts: int
    chars: int
    chars_per_part: int


@dataclass(frozen=True)
class SmsPart:
    """One submit_sm worth of payload: ``short_message`` already carries the UDH when ``esm_class``
    has UDHI set."""

    short_message: bytes
    data_coding: int
    esm_class: int
    part_index: int
    total_parts: int
    text: str


def is_gsm7(text: str) -> bool:
    """True when every character fits the GSM 03.38 alphabet (basic or extension table)."""
    return all(ch in _GSM_SEPTETS for ch in text)


def _units(text: str, encoding: str) -> list[tuple[str, int]]:
    """Indivisible pieces of ``text`` with their cost: GSM-7 chars (1 or 2 septets) or UCS-2 code
    points (1 or 2 UTF-16 units). A piece is never split across parts."""
    if encoding == GSM7:
        return [(ch, _GSM_SEPTETS[ch]) for ch in text]
    return [(ch, 2 if ord(ch) > 0xFFFF else 1) for ch in text]


def _chunk(units: list[tuple[str, int]], limit: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for ch, cost in units:
        if used + cost > limit:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    if current or not chunks:
        chunks.append("".join(current))
    return chunks


def _plan(text: str) -> tuple[str, int, list[str]]:
    encoding = GSM7 if is_gsm7(text) else UCS2
    units = _units(text, encoding)
    total = sum(cost for _, cost in units)
    if total <= SINGLE_LIMIT[encoding]:
        return encoding, total, [text]
    return encoding, total, _chunk(units, PART_LIMIT[encoding])


def count_parts(text: str) -> SmsShape:
    """Alphabet, number of parts and length of ``text``, exactly as :func:`split` will send it.

    Never raises: a text over 255 parts just reports that many parts (the counter shows it)."""
    encoding, total, chunks = _plan(text)
    per_part = SINGLE_LIMIT[encoding] if len(chunks) == 1 else PART_LIMIT[encoding]
    return SmsShape(encoding=encoding, data_coding=DC_GSM7 if encoding == GSM7 else DC_UCS2,
                    parts=len(chunks), chars=total, chars_per_part=per_part)


def gsm7_encode(text: str) -> bytes:
    """Unpacked GSM-7 (one septet per octet, ESC + code for extension characters)."""
    out = bytearray()
    for ch in text:
        code = _ENC_BASIC.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = _GSM_EXT.get(ch)
        if ext is None:
            raise ValueError("character U+%04X is not in the GSM 03.38 alphabet" % ord(ch))
        out += bytes((_ESC, ext))
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    """Decode unpacked GSM-7. Octets above 0x7F (SMSCs that send Latin-1 as data_coding 0) are
    read as Latin-1; an unknown extension code reads as a space, as 03.38 suggests."""
    out = []
    escape = False
    for b in data:
        if escape:
            escape = False
            out.append(_DEC_EXT.get(b, " "))
        elif b == _ESC:
            escape = True
        elif b < 0x80:
            out.append(_DEC_BASIC[b])
        else:
            out.append(chr(b))
    return "".join(out)


def _encode(text: str, encoding: str) -> bytes:
    if encoding == GSM7:
        return gsm7_encode(text)
    return text.encode("utf-16-be")


def split(text: str, ref: int = 0) -> list[SmsPart]:
    """Per-part payloads for ``text``. ``ref`` is the 8-bit concatenation reference the caller picks
    (it must differ between long messages in flight to the same handset).

    :raises MessageTooLongError: more than 255 parts.
    """
    encoding, _total, chunks = _plan(text)
    dc = DC_GSM7 if encoding == GSM7 else DC_UCS2
    if len(chunks) == 1:
        return [SmsPart(_encode(text, encoding), dc, 0, 1, 1, text)]
    if len(chunks) > MAX_PARTS:
        raise MessageTooLongError("text needs %d parts (max %d)" % (len(chunks), MAX_PARTS))
    total = len(chunks)
    ref &= 0xFF
    return [
        SmsPart(bytes((5, 0, 3, ref, total, i)) + _encode(chunk, encoding), dc, ESM_UDHI, i, total, chunk)
        for i, chunk in enumerate(chunks, start=1)
    ]


# ---------------------------------------------------------------------------- MO decoding

def is_binary_coding(data_coding: int) -> bool:
    """8-bit binary data codings (2, 4, and the 0xF4 message-class group): not text."""
    return data_coding in (0x02, 0x04) or (data_coding & 0xF0 == 0xF0 and bool(data_coding & 0x04))


def decode_payload(payload: bytes, data_coding: int) -> str:
    """Text of an MO payload (UDH already removed). 0 GSM-7, 1 IA5/ASCII, 3 Latin-1, 8 UCS-2;
    the GSM 03.38 coding groups (0x0X, 0xFX) are folded onto those. Binary codings give ''.
    Never raises: broken bytes become U+FFFD."""
    if is_binary_coding(data_coding):
        return ""
    dc = data_coding
    if dc & 0xF0 == 0xF0:             # message-class group, bit 2 clear: GSM-7
        dc = DC_GSM7
    elif 0x10 <= dc <= 0x3F:          # GSM 03.38 general group: alphabet in bits 2-3
        dc = {0: DC_GSM7, 1: DC_LATIN1, 2: DC_UCS2}.get((dc >> 2) & 0x03, DC_LATIN1)
    if dc == DC_GSM7:
        return gsm7_decode(payload)
    if dc == DC_UCS2:
        if len(payload) % 2:
            payload = payload[:-1]
        return payload.decode("utf-16-be", errors="replace")
    if dc == DC_ASCII:
        return payload.decode("ascii", errors="replace")
    return payload.decode("latin-1")


@dataclass(frozen=True)
class ConcatInfo:
    """Concatenation info of one MO part: ``ref`` (8- or 16-bit), ``total``, ``seq`` (1-based)."""

    ref: int
    total: int
    seq: int
    ref_bits: int


def parse_udh(short_message: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split ``short_message`` (UDHI set) into its information elements and the body.
    A malformed UDH leaves the payload whole, so a broken MO is still stored."""
    if not short_message:
        return [], short_message
    udhl = short_message[0]
    if udhl + 1 > len(short_message):
        return [], short_message
    ies: list[tuple[int, bytes]] = []
    pos, end = 1, udhl + 1
    while pos + 2 <= end:
        iei, length = short_message[pos], short_message[pos + 1]
        if pos + 2 + length > end:
            return [], short_message
        ies.append((iei, bytes(short_message[pos + 2:pos + 2 + length])))
        pos += 2 + length
    return ies, bytes(short_message[end:])


def concat_info(ies: list[tuple[int, bytes]]) -> ConcatInfo | None:
    """Concatenation IE (0x00: 8-bit ref, 0x08: 16-bit ref) from a parsed UDH, if any."""
    for iei, data in ies:
        if iei == 0x00 and len(data) == 3 and data[1] > 0 and 1 <= data[2] <= data[1]:
            return ConcatInfo(data[0], data[1], data[2], 8)
        if iei == 0x08 and len(data) == 4 and data[2] > 0 and 1 <= data[3] <= data[2]:
            return ConcatInfo((data[0] << 8) | data[1], data[2], data[3], 16)
    return None


# ---------------------------------------------------------------------------- delivery receipts

#: SMPP 3.4 message_state TLV values → the receipt's stat word.
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV",
                  6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}
#: Final states that mean the part will not be delivered.
RECEIPT_FINAL_FAILURES = frozenset({"EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD", "FAILED"})

_RECEIPT_KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text")
_RECEIPT_RE = re.compile(r"(?i)(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err|text):")


@dataclass(frozen=True)
class ReceiptFields:
    """Fields of a delivery receipt; any of them may be missing (None)."""

    message_id: str | None
    stat: str | None
    err: str | None
    sub: str | None = None
    dlvrd: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None


def parse_receipt(text: str, receipted_message_id: str | None = None,
                  message_state: int | None = None) -> ReceiptFields:
    """Parse ``id:… sub:… dlvrd:… submit date:… done date:… stat:DELIVRD err:000 text:…``.

    Keys are case-insensitive and may be missing or reordered. The TLVs win over the text when both are
    present (``receipted_message_id`` is the id the SMSC returned in submit_sm_resp; the text id is
    sometimes reformatted, e.g. in decimal)."""
    fields: dict[str, str] = {}
    matches = list(_RECEIPT_RE.finditer(text or ""))
    for i, m in enumerate(matches):
        key = m.group(1).lower()
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[m.end():end] if key == "text" else text[m.end():end].strip()
        fields.setdefault(key, value)
    message_id = receipted_message_id or fields.get("id") or None
    stat = fields.get("stat")
    stat = stat.upper() if stat else None
    if message_state is not None and message_state in MESSAGE_STATES:
        stat = MESSAGE_STATES[message_state]
    return ReceiptFields(message_id=message_id, stat=stat, err=fields.get("err") or None,
                         sub=fields.get("sub"), dlvrd=fields.get("dlvrd"),
                         submit_date=fields.get("submit date"), done_date=fields.get("done date"),
                         text=fields.get("text"))
