"""A campaign whose texts SQL can build queues each batch with one INSERT ... SELECT: the same rows,
member fields filled the same way, as when Python builds every text."""
import pytest
import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.messaging.models import OutboundMessage

EVERY_FIELD = "{name}，{tier}会员{member_no}：{points}积分，{shop}周末八折 {{限时}}"


def _rows(db) -> list[tuple]:
    columns = [c for c in OutboundMessage.__table__.c if c.name != "id"]
    db.session.expire_all()
    return sorted(tuple(row) for row in db.session.execute(sa.select(*columns)))


def _members(db, make_member):
    make_member(msisdn="13800000001", name="张三", points=120)
    make_member(msisdn="13800000002", name="")
    make_member(msisdn="13800000003", name="王五", opted_out=True)
    make_member(msisdn="13800000004", name="Ann 🎉")         # beyond the BMP: Python builds this one
    gone = make_member(msisdn="13800000005", name="赵六")
    make_member(msisdn="13800000006", name="孙七").tier = "金卡"
    make_member(msisdn="13800000007", name="周八").tier = "💎卡"   # a tier beyond the BMP: Python too
    return gone


def test_texts_built_in_sql_equal_the_texts_python_builds(db, merchant, make_member, launch, now, monkeypatch):
    gone = _members(db, make_member)
    campaign = launch(EVERY_FIELD)
    gone.deleted_at = now                                   # after the run's snapshot: skipped
    db.session.commit()
    assert services._texts_in_sql(campaign, merchant) is not None
    assert services.dispatch_due(now=now, batch_size=4) == 6
    by_sql = _rows(db)
    texts = db.session.scalars(sa.select(OutboundMessage.text).order_by(OutboundMessage.msisdn)).all()
    assert texts[:2] == ["【小王烧烤】张三，贵宾卡会员00000001：120积分，小王烧烤周末八折 {限时}回T退订",
                         "【小王烧烤】会员，贵宾卡会员00000002：0积分，小王烧烤周末八折 {限时}回T退订"]

    db.session.execute(sa.delete(OutboundMessage))
    db.session.execute(sa.update(services.CampaignRun).values(status="enqueuing", last_member_id=0))
    db.session.execute(sa.insert(services.CampaignRecipient).from_select(
        ["run_id", "member_id"], sa.select(sa.literal(campaign.runs[0].id), services.Member.id)))
    db.session.commit()
    monkeypatch.setattr(services, "_texts_in_sql", lambda campaign, merchant: None)
    assert services.dispatch_due(now=now, batch_size=4) == 6
    assert _rows(db) == by_sql and len(by_sql) == 6


@pytest.mark.parametrize("body, in_sql", [
    ("{name}您好", True),
    ("{name}您好，{expiring_points}积分将到期", False),   # a ledger query per batch
    ("Hi {name}", True),                                 # the signature makes it UCS-2
])
def test_which_campaigns_sql_builds(db, merchant, make_member, launch, body, in_sql):
    make_member()
    assert (services._texts_in_sql(launch(body), merchant) is not None) is in_sql


def test_a_latin_signature_leaves_a_latin_text_to_python(db, merchant, make_member, launch):
    make_member()
    merchant.signature, merchant.unsubscribe_hint = "Wang", " STOP"
    assert services._texts_in_sql(launch("Hi {name}"), merchant) is None
