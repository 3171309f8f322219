"""InMemoryMessageStore: the MessageStore contract the SQL adapter must also meet."""
from datetime import UTC, datetime, timedelta

from sms_gateway import DeliveryReceipt, InMemoryMessageStore, MessageStore, PartResult, SubmitError

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def receipt(mid, stat="DELIVRD"):
    return DeliveryReceipt(mid, stat, "000", NOW)


def test_it_implements_the_protocol():
    assert isinstance(InMemoryMessageStore(), MessageStore)


def test_claims_are_exclusive_and_released_per_worker():
    store = InMemoryMessageStore()
    ids = [store.add_outbound("+861380000000%d" % i, "hi") for i in range(5)]
    a = store.claim_outbound("a", 3, NOW)
    b = store.claim_outbound("b", 10, NOW)
    assert [m.id for m in a] == ids[:3] and [m.id for m in b] == ids[3:]
    assert store.claim_outbound("c", 10, NOW) == []
    assert store.release_claims("a") == 3
    assert [m.id for m in store.claim_outbound("c", 10, NOW)] == ids[:3]


def test_retry_at_defers_a_claim_and_attempts_are_kept():
    store = InMemoryMessageStore()
    mid = store.add_outbound("+8613800000001", "hi")
    store.claim_outbound("w", 1, NOW)
    store.mark_retry([SubmitError(mid, 0x58, "ESME_RTHROTTLED", 2, NOW + timedelta(seconds=30))])
    assert store.claim_outbound("w", 1, NOW) == []
    (again,) = store.claim_outbound("w", 1, NOW + timedelta(seconds=30))
    assert again.attempts == 2


def test_delivered_only_when_every_part_has_a_delivrd_receipt():
    store = InMemoryMessageStore()
    mid = store.add_outbound("+8613800000001", "long")
    store.claim_outbound("w", 1, NOW)
    store.record_parts([PartResult(mid, 1, 2, 10, "m1"), PartResult(mid, 2, 2, 11, "m2")])
    store.mark_submitted([mid], NOW)
    store.save_receipts([receipt("m1")])
    assert store.get(mid).status == "SUBMITTED"
    store.save_receipts([receipt("m2")])
    assert store.get(mid).status == "DELIVERED"


def test_one_failed_part_fails_the_message():
    store = InMemoryMessageStore()
    mid = store.add_outbound("+8613800000001", "long")
    store.claim_outbound("w", 1, NOW)
    store.record_parts([PartResult(mid, 1, 2, 10, "m1"), PartResult(mid, 2, 2, 11, "m2")])
    store.mark_submitted([mid], NOW)
    store.save_receipts([receipt("m1"), receipt("m2", "UNDELIV")])
    assert store.get(mid).status == "FAILED"


def test_a_receipt_that_arrives_before_its_part_is_kept_and_applied():
    store = InMemoryMessageStore()
    mid = store.add_outbound("+8613800000001", "hi")
    store.claim_outbound("w", 1, NOW)
    store.save_receipts([receipt("early")])
    assert store.orphan_receipts()
    store.record_parts([PartResult(mid, 1, 1, 5, "early")])
    store.mark_submitted([mid], NOW)
    assert store.get(mid).status == "DELIVERED" and not store.orphan_receipts()


def test_permanent_failure_keeps_the_smsc_code():
    store = InMemoryMessageStore()
    mid = store.add_outbound("+8613800000001", "hi")
    store.claim_outbound("w", 1, NOW)
    store.mark_failed([SubmitError(mid, 0x0B, "ESME_RINVDSTADR", 1)])
    m = store.get(mid)
    assert (m.status, m.command_status, m.attempts) == ("FAILED", 0x0B, 1)
