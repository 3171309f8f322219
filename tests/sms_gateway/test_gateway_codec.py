"""GatewayClient's cheap PDU construction (copies of a prototype, TLV walk skipped) produces exactly
the bytes smpplib's own make_pdu + generate would, and parsed PDUs never share state."""
import pytest
from smpplib import smpp

from sms_gateway import encoding
from sms_gateway.client import GatewayClient


@pytest.fixture
def client():
    return GatewayClient("127.0.0.1", 2775, timeout=5)


def smpplib_bytes(client, command, sequence, **fields):
    pdu = smpp.make_pdu(command, client=client, **fields)
    pdu.sequence = sequence
    return pdu.generate()


@pytest.mark.parametrize("text", ["hello [world] €", "【小王烧烤】您好，您的积分已到账", "好" * 150])
def test_submit_sm_bytes_are_smpplibs(client, text):
    for part in encoding.split(text, 7):
        fields = dict(service_type="", source_addr_ton=0, source_addr_npi=0, source_addr="106571234501",
                      dest_addr_ton=1, dest_addr_npi=1, destination_addr="8613900000001",
                      esm_class=part.esm_class, data_coding=part.data_coding, registered_delivery=1,
                      short_message=part.short_message)
        pdu = client.make("submit_sm", **fields)
        assert client.encode(pdu) == smpplib_bytes(client, "submit_sm", pdu.sequence, **fields)


def test_tlvs_that_are_set_are_still_encoded(client):
    fields = dict(source_addr="1065", destination_addr="8613900000001", short_message=b"ab",
                  sar_msg_ref_num=5, sar_total_segments=2, sar_segment_seqnum=1)
    pdu = client.make("submit_sm", **fields)
    raw = client.encode(pdu)
    assert raw == smpplib_bytes(client, "submit_sm", pdu.sequence, **fields)
    assert client.parse(raw).sar_total_segments == 2


def test_requests_take_the_next_sequence_and_responses_echo_theirs(client):
    first, second = client.make("enquire_link"), client.make("unbind")
    assert second.sequence == first.sequence + 1
    bind = client.make("bind_transceiver", system_id="mcrm", password="secret", system_type="")
    assert client.encode(bind) == smpplib_bytes(client, "bind_transceiver", bind.sequence, system_id="mcrm",
                                                password="secret", system_type="")
    for command in ("deliver_sm_resp", "generic_nack", "enquire_link_resp", "unbind_resp"):
        resp = client.response(command, 77, 0x64)
        assert (resp.sequence, resp.status) == (77, 0x64)
        assert client.encode(resp) == smpplib_bytes(client, command, 77, status=0x64)


def test_parsed_pdus_do_not_share_fields(client):
    receipt = client.make("deliver_sm", source_addr="8613900000001", destination_addr="1065", esm_class=4,
                          short_message=b"id:a1 stat:DELIVRD", receipted_message_id="a1", message_state=2)
    mo = client.make("deliver_sm", source_addr="8613900000002", destination_addr="1065", short_message=b"JF")
    first, second = client.parse(client.encode(receipt)), client.parse(client.encode(mo))
    assert (first.receipted_message_id, first.message_state, first.esm_class) == (b"a1", 2, 4)
    assert (second.receipted_message_id, second.message_state, second.esm_class) == (None, None, 0)
    assert (first.short_message, second.short_message) == (b"id:a1 stat:DELIVRD", b"JF")
    assert client.make("deliver_sm").short_message is None
