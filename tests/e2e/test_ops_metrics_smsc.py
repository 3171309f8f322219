"""/metrics after traffic through the real SMSC peer: a refused submit is counted by its code, and
a failed receipt by its stat."""
from mcrm.messaging.models import MessageStatus, OutboundMessage
from tests.e2e.test_gateway_smsc import count, fill_outbox, gateway, smsc  # noqa: F401  (fixtures)
from tests.mcrm.test_ops_metrics import scrape, value
from tests.smsc_peer import wait_until


def test_smsc_errors_and_failed_receipts_show_in_the_metrics(client, db, merchant, smsc, gateway):
    before = scrape(client)
    smsc.configure(fail_next=1, fail_status=0x0B, dlr_stat_by_part={"2": "UNDELIV"}, dlr_err="011")
    fill_outbox(db, merchant, 2, body="好" * 100)   # two parts each
    gateway()
    wait_until(lambda: count(db, OutboundMessage.status == MessageStatus.FAILED) == 2, timeout=30,
               message="one refused, one undelivered")
    after = scrape(client)
    assert value(after, "mcrm_smsc_errors_total", code="0x0000000b") == value(
        before, "mcrm_smsc_errors_total", code="0x0000000b") + 1
    # the refused message's other part may have gone out in the same window, and had its receipt
    assert value(after, "mcrm_sms_receipts_total", stat="UNDELIV") >= 1
    assert value(after, "mcrm_sms_receipts_total", stat="DELIVRD") >= 1
    assert value(after, "mcrm_sms_parts_submitted_total") == smsc.stats()["accepted"]
    assert value(after, "mcrm_outbox_messages", status="failed") == 2
