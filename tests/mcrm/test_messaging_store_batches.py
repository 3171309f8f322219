"""SqlMessageStore applies a gateway turn's worth of receipts (read together, so sharing their time)
with one UPDATE per kind of receipt, and still gets every message and part right."""
from datetime import timedelta

from mcrm.messaging.models import MessageStatus, OutboundMessage, PendingReceipt
from mcrm.messaging.store import SqlMessageStore
from sms_gateway import PartResult
from tests.mcrm.test_messaging_store import count, queue, receipt, status_of


def test_a_turn_of_receipts_settles_each_message_by_its_own_receipt(app, db, merchant, now):
    ids = queue(db, merchant, now, 40)
    long_id = queue(db, merchant, now, body="好" * 100)[0]
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 50, now)
    store.record_parts([PartResult(mid, 1, 1, n, f"m{n}") for n, mid in enumerate(ids)]
                       + [PartResult(long_id, 1, 2, 90, "long1"), PartResult(long_id, 2, 2, 91, "long2")])
    store.mark_submitted(ids + [long_id], now)
    read_at = now + timedelta(seconds=2)
    receipts = ([receipt(f"m{n}", read_at) for n in range(35)]
                + [receipt(f"m{n}", read_at, "UNDELIV", "001") for n in range(35, 38)]
                + [receipt("long1", read_at), receipt("long2", read_at), receipt("nobody", read_at)])
    store.save_receipts(receipts)

    assert count(db, OutboundMessage.status == MessageStatus.DELIVERED) == 36
    delivered = status_of(db, ids[0])
    assert delivered.delivered_at == read_at and delivered.part_rows[0].receipt_stat == "DELIVRD"
    failed = status_of(db, ids[36])
    assert failed.status is MessageStatus.FAILED and failed.last_error == "receipt UNDELIV err:001"
    assert status_of(db, ids[39]).status is MessageStatus.SUBMITTED          # no receipt yet
    assert status_of(db, long_id).status is MessageStatus.DELIVERED
    assert count(db, model=PendingReceipt) == 1
