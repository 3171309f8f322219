"""Members added in the console or by import get the join gift and the welcome SMS as the merchant
chooses (settings; per import on the import page); the welcome SMS is the ZC reply."""
import io

import pytest
import sqlalchemy as sa

from mcrm.members.models import Member, MemberImport
from mcrm.members.services import Welcome
from mcrm.messaging.models import OutboundMessage
from mcrm.points.models import PointsEntry
from tests.conftest import csrf_token
from tests.mcrm.keywords_support import phone  # noqa: F401
from tests.mcrm.test_csv_import import _import


def _sms(db):
    return [(m.msisdn, m.body, m.kind) for m in db.session.scalars(sa.select(OutboundMessage).order_by(OutboundMessage.id))]


def _gifts(db):
    return dict(db.session.execute(sa.select(PointsEntry.member_id, PointsEntry.points)
                                   .where(PointsEntry.kind == "gift")).all())


def _choose(db, merchant, *, gift, sms):
    merchant.added_members_get_gift, merchant.added_members_get_sms = gift, sms
    db.session.commit()


def _add_in_console(client, name="李四", msisdn="13800138000"):
    response = client.post("/members/new", data={"csrf_token": csrf_token(client, "/members/new"),
                                                 "msisdn": msisdn, "name": name, "gender": "u"})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_by_default_a_member_added_in_the_console_gets_neither(client, login, db, merchant):
    login("manager")
    assert "neither the join gift nor a welcome SMS" in client.get("/members/new").get_data(as_text=True)
    _add_in_console(client)
    assert _gifts(db) == {} and _sms(db) == []


def test_a_member_added_in_the_console_gets_the_gift_and_the_zc_welcome(client, login, db, merchant, phone):
    _choose(db, merchant, gift=True, sms=True)
    login("manager")
    assert "gets the join gift and the welcome SMS" in client.get("/members/new").get_data(as_text=True)
    _add_in_console(client)
    member = db.session.scalar(sa.select(Member))
    assert _gifts(db) == {member.id: 100} and member.points_balance == 100
    [(to, body, kind)] = _sms(db)
    assert (to, kind) == ("+8613800138000", "transactional")
    # the very text a ZC gets (same template, same fields), only the member differs
    zc = phone.text("ZC 李四", msisdn="13800138001")[0]
    texter = db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800138001"))
    assert body == zc.replace(texter.member_no, member.member_no)
    assert "李四" in body and "赠送100积分" in body and member.member_no in body


def test_the_welcome_sms_without_the_gift_says_no_points_were_given(client, login, db, merchant):
    _choose(db, merchant, gift=False, sms=True)
    login("manager")
    _add_in_console(client)
    [(_to, body, _kind)] = _sms(db)
    assert "赠送0积分" in body and _gifts(db) == {}


def test_an_import_welcomes_its_new_members_as_chosen_on_the_page(client, login, db, merchant, make_member, now):
    from mcrm.members.services import opt_out_number
    _choose(db, merchant, gift=True, sms=False)  # the page starts from the settings
    known = make_member(msisdn="13900139000")
    opt_out_number(merchant, "13800138002", now=now, channel="sms")
    db.session.commit()
    login("manager")
    data = "手机号,姓名\n13800138000,张三\n13800138001,李四\n13800138002,王五\n13900139000,老会员\n".encode()
    upload = client.post("/members/import", data={"csrf_token": csrf_token(client, "/members/import"),
                                                  "file": (io.BytesIO(data), "x.csv")},
                         content_type="multipart/form-data")
    page = client.get(upload.headers["Location"]).get_data(as_text=True)
    assert 'name="welcome_gift" value="y" checked' in page and 'name="welcome_sms" value="y">' in page
    job = db.session.scalar(sa.select(MemberImport))
    assert (job.welcome_gift, job.welcome_sms) == (True, False)
    # the staff also ticks the SMS for this file; the import runs in the test (not the console's thread)
    from mcrm.members import csv_io
    csv_io.start_import(job, job.mapping, Welcome(gift=True, sms=True))
    db.session.commit()
    from mcrm.core.clock import now_utc
    from mcrm.points.services import Actor
    csv_io.run_import(job, merchant, actor=Actor("test"), region="CN", clock=now_utc)
    assert (job.imported, job.updated) == (3, 1)

    new = {m.msisdn: m for m in db.session.scalars(sa.select(Member).where(Member.id != known.id))}
    assert set(_gifts(db)) == {m.id for m in new.values()}  # the member already known gets nothing
    # the number that had said STOP gets its gift but no text
    assert sorted(to for to, _body, _kind in _sms(db)) == ["+8613800138000", "+8613800138001"]


def test_an_import_started_with_neither_welcomes_nobody(db, merchant):
    _choose(db, merchant, gift=True, sms=True)
    from mcrm.members import csv_io
    job = csv_io.create_import(merchant, staff_id=None, filename="x.csv", data="手机号\n13800138000\n".encode())
    csv_io.start_import(job, job.mapping, Welcome())
    db.session.commit()
    from mcrm.core.clock import now_utc
    from mcrm.points.services import Actor
    csv_io.run_import(job, merchant, actor=Actor("test"), region="CN", clock=now_utc)
    assert job.imported == 1 and _gifts(db) == {} and _sms(db) == []


def test_the_gift_is_paid_once_per_number_however_it_joins(db, merchant, phone):
    _choose(db, merchant, gift=True, sms=True)
    assert "欢迎加入" in phone.text("ZC 张三", msisdn="13800138000")[0]
    from mcrm.members.services import delete_member
    member = db.session.scalar(sa.select(Member))
    delete_member(member, now=member.joined_at)
    db.session.commit()
    job = _import(db, merchant, "手机号\n13800138000\n".encode())
    assert job.imported == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                             .where(PointsEntry.kind == "gift")) == 1


@pytest.mark.parametrize("gift, sms", [(True, False), (False, True), (True, True), (False, False)])
def test_the_owner_chooses_on_the_settings_page(client, login, db, merchant, gift, sms):
    login("owner")
    page = client.get("/settings/").get_data(as_text=True)
    assert 'id="added-members"' in page
    form = {"csrf_token": csrf_token(client, "/settings/"), "name": merchant.name, "signature": merchant.signature,
            "timezone": merchant.timezone, "send_window_start": "08:00", "send_window_end": "21:00",
            "frequency_cap_per_day": "1", "unsubscribe_hint": "回T退订", "message_retention_days": "180", "points_per_yuan": "1",
            "join_gift_points": "100", "points_expiry_policy": "months", "points_expiry_months": "12",
            "points_cycle_end_month": "12", "tiers-0-name": "普通", "tiers-0-score": "0"}
    if gift:
        form["added_members_get_gift"] = "y"
    if sms:
        form["added_members_get_sms"] = "y"
    assert client.post("/settings/", data=form).status_code == 302
    db.session.refresh(merchant)
    assert (merchant.added_members_get_gift, merchant.added_members_get_sms) == (gift, sms)
