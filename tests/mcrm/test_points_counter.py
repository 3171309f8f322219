"""At the counter, through the console: who may do what, the member's SMS, purchase limits, voids."""
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from mcrm.keywords.services import set_reply_text
from mcrm.members.models import Member
from mcrm.messaging.models import OutboundMessage
from mcrm.points.models import PointsEntry
from mcrm.points.services import Actor, record_purchase, redeem_points
from tests.conftest import csrf_token
from tests.mcrm.keywords_support import phone  # noqa: F401

MEMBER = "+8613800138000"
STAFF_PHONE = "+8613700137000"


def texts_to(db, msisdn):
    """Bodies of the SMS queued to ``msisdn``, oldest first."""
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboundMessage.body).where(OutboundMessage.msisdn == msisdn)
                              .order_by(OutboundMessage.id)).all()


def post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, "/members/"), **data})


def balance(db, member):
    db.session.expire_all()
    return db.session.get(Member, member.id).points_balance


# -- who may do what -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["clerk", "manager", "owner"])
def test_every_role_enrols_a_member_and_redeems_points(client, login, make_member, db, role):
    login(role)
    assert client.get("/members/new").status_code == 200
    assert "/members/new" in client.get("/members/").get_data(as_text=True)
    response = post(client, "/members/new", msisdn="13900139001", name="新会员")
    assert response.status_code == 302
    member = db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613900139001"))
    assert member.name == "新会员"
    regular = make_member(points=300)
    assert post(client, f"/members/{regular.id}/redeem", points="120", reason="免费甜品").status_code == 302
    assert balance(db, regular) == 180


@pytest.mark.parametrize("role, allowed", [("clerk", False), ("manager", True), ("owner", True)])
def test_only_managers_and_owners_adjust_and_void(client, login, merchant, make_member, db, now, role, allowed):
    login(role)
    member = make_member(points=100)
    purchase = record_purchase(member, merchant, 50, actor=Actor("收银员"), now=now)
    db.session.commit()
    page = client.get(f"/members/{member.id}").get_data(as_text=True)
    assert ("Adjust points" in page) == allowed and (f'data-void="{purchase.id}"' in page) == allowed
    adjusted = post(client, f"/members/{member.id}/adjust", points="10", reason="补录")
    voided = post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="记错")
    assert (adjusted.status_code, voided.status_code) == ((302, 302) if allowed else (403, 403))
    assert balance(db, member) == (110 if allowed else 150)


def test_a_redemption_posted_without_the_reason_field_is_recorded_not_a_server_error(client, login, make_member,
                                                                                     db):
    login("clerk")
    member = make_member(points=100)
    response = client.post(f"/members/{member.id}/redeem", data={"csrf_token": csrf_token(client, "/members/"),
                                                                 "points": "40"})
    assert response.status_code == 302 and balance(db, member) == 60


# -- the member's SMS --------------------------------------------------------------------------------

def test_a_console_purchase_and_redemption_text_the_member_as_xf_and_dh_do(client, login, phone, make_staff,
                                                                          make_member, db):
    make_staff("clerk", msisdn=STAFF_PHONE)
    make_member(msisdn="13800138001", name="老王", points=10)
    phone.exchange("XF 13800138001 88", msisdn=STAFF_PHONE)
    phone.exchange("DH 13800138001 30", msisdn=STAFF_PHONE)
    login("clerk")
    in_console = make_member(msisdn=MEMBER, name="老王", points=10)
    post(client, f"/members/{in_console.id}/purchase", amount="¥88")
    post(client, f"/members/{in_console.id}/redeem", points="30", reason="")
    sent = texts_to(db, MEMBER)
    assert sent == texts_to(db, "+8613800138001") == [
        "老王您好，本次消费88元，获得88积分，当前积分98。", "老王您好，您已兑换30积分，当前积分68。"]
    kinds = db.session.scalars(sa.select(OutboundMessage.kind).where(OutboundMessage.msisdn == MEMBER)).all()
    assert kinds == ["transactional", "transactional"]


def test_the_console_uses_the_merchants_own_wording(client, login, merchant, make_member, db):
    set_reply_text(merchant, "member_purchase", "{name}：消费{amount}元，积分+{earned}，共{points}分")
    db.session.commit()
    login("clerk")
    member = make_member(msisdn=MEMBER, name="小李")
    post(client, f"/members/{member.id}/purchase", amount="25.50")
    assert texts_to(db, MEMBER) == ["小李：消费25.50元，积分+25，共25分"]


def test_a_resent_purchase_form_records_and_texts_once(client, login, make_member, db):
    login("clerk")
    member = make_member(msisdn=MEMBER)
    for _ in range(2):
        post(client, f"/members/{member.id}/purchase", amount="40", request_id="a" * 32)
    assert balance(db, member) == 40 and len(texts_to(db, MEMBER)) == 1


def test_a_merchant_that_turned_the_texts_off_texts_no_member_from_the_console_or_by_xf(
        client, login, phone, merchant, make_staff, make_member, db):
    merchant.points_change_sms = False
    db.session.commit()
    make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER, points=100)
    staff_replies = phone.text("XF 13800138000 88", msisdn=STAFF_PHONE)
    assert len(staff_replies) == 1 and "余额188" in staff_replies[0]  # staff still hear back
    login("manager")
    post(client, f"/members/{member.id}/purchase", amount="12")
    post(client, f"/members/{member.id}/redeem", points="50")
    purchase = db.session.scalar(sa.select(PointsEntry).where(PointsEntry.amount == 12))
    post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="记错")
    assert balance(db, member) == 138 and texts_to(db, MEMBER) == []


# -- purchase limits -------------------------------------------------------------------------------

def test_a_purchase_above_the_threshold_is_recorded_once_confirmed(client, login, merchant, make_member, db):
    login("clerk")
    member = make_member(msisdn=MEMBER)
    asked = post(client, f"/members/{member.id}/purchase", amount="8800")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "¥8,800.00 is above ¥5,000.00: is the amount right?" in page
    assert "Confirm and record" in page and balance(db, member) == 0 and texts_to(db, MEMBER) == []
    request_id = re.search(r'name="request_id" type="hidden" value="(\w+)"', page).group(1)
    confirmed = re.search(r'name="confirmed_amount" type="hidden" value="([^"]+)"', page).group(1)
    done = post(client, f"/members/{member.id}/purchase", amount="8800", request_id=request_id,
                confirmed_amount=confirmed)
    assert done.status_code == 302 and balance(db, member) == 8800
    assert texts_to(db, MEMBER) == ["会员您好，本次消费8800元，获得8800积分，当前积分8800。"]


def test_a_confirmation_holds_only_for_the_amount_confirmed(client, login, make_member, db):
    login("clerk")
    member = make_member()
    asked = post(client, f"/members/{member.id}/purchase", amount="9000", confirmed_amount="8800")
    assert asked.status_code == 200 and "¥9,000.00 is above" in asked.get_data(as_text=True)
    assert balance(db, member) == 0


def test_a_purchase_above_the_maximum_is_refused_even_when_confirmed(client, login, make_member, db):
    login("owner")
    member = make_member()
    refused = post(client, f"/members/{member.id}/purchase", amount="60000", confirmed_amount="60000")
    assert refused.status_code == 400
    assert "¥60,000.00 is more than the largest purchase this shop records, ¥50,000.00" in \
        refused.get_data(as_text=True)
    assert balance(db, member) == 0


def test_xf_above_the_maximum_is_refused_and_above_the_threshold_points_to_the_console(phone, merchant, make_staff,
                                                                                       make_member, db):
    make_staff("clerk", msisdn=STAFF_PHONE)
    member = make_member(msisdn=MEMBER)
    over = phone.exchange("XF 13800138000 60000", msisdn=STAFF_PHONE)
    assert over == [(STAFF_PHONE, "未执行：¥60,000.00超过本店单笔消费上限¥50,000.00")]
    confirm = phone.exchange("XF 13800138000 8800", msisdn=STAFF_PHONE)
    assert confirm == [(STAFF_PHONE, "未执行：¥8,800.00超过¥5,000.00，请在后台录入并确认")]
    assert balance(db, member) == 0
    assert "本次消费5000元" in phone.exchange("XF 13800138000 5000", msisdn=STAFF_PHONE)[1][1]


# -- voids -----------------------------------------------------------------------------------------

def test_a_manager_voids_a_purchase_and_the_ledger_links_both_ways(client, login, merchant, make_member, db, now):
    manager = login("manager")
    member = make_member(msisdn=MEMBER, name="老王", points=100)
    purchase = record_purchase(member, merchant, "880.00", actor=Actor("收银员"), now=now)
    db.session.commit()
    form = client.get(f"/members/{member.id}/entries/{purchase.id}/void").get_data(as_text=True)
    assert "Purchase of ¥880.00" in form and "+880 points" in form and "The member gets an SMS." in form
    assert post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="").status_code == 400
    done = post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="多按了一个0")
    assert done.status_code == 302 and balance(db, member) == 100
    void = db.session.scalar(sa.select(PointsEntry).where(PointsEntry.voids_entry_id == purchase.id))
    assert void.points == -880 and void.actor_staff_id == manager.id

    page = client.get(f"/members/{member.id}").get_data(as_text=True)
    original_row = re.search(rf'<tr id="entry-{purchase.id}" class="voided">.*?</tr>', page, re.S).group(0)
    void_row = re.search(rf'<tr id="entry-{void.id}">.*?</tr>', page, re.S).group(0)
    assert "purchase voided" in void_row and "(-¥880.00)" in void_row and f'data-link-to="{purchase.id}"' in void_row
    assert f'#entry-{purchase.id}' in void_row and "多按了一个0" in void_row
    assert "voided" in original_row and f'data-link-to="{void.id}"' in original_row
    assert "多按了一个0" in original_row and "data-void=" not in original_row
    assert texts_to(db, MEMBER) == ["老王您好，您880.00元的消费记录已撤销，扣回880积分，当前积分100。"]

    again = post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="再撤一次")
    assert again.status_code == 400 and "already been voided" in again.get_data(as_text=True)
    assert balance(db, member) == 100


def test_a_void_link_reaches_the_original_on_an_older_page(client, login, merchant, make_member, db, now):
    login("manager")
    member = make_member()
    purchase = record_purchase(member, merchant, 30, actor=Actor("收银员"), now=now)
    for _ in range(60):
        record_purchase(member, merchant, 1, actor=Actor("收银员"), now=now)
    db.session.commit()
    post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="退货")
    page = client.get(f"/members/{member.id}").get_data(as_text=True)
    link = re.search(rf'href="([^"]+)" data-link-to="{purchase.id}"', page).group(1).replace("&amp;", "&")
    assert f'id="entry-{purchase.id}"' not in page
    older = client.get(link).get_data(as_text=True)
    assert f'<tr id="entry-{purchase.id}" class="voided">' in older


def test_a_voided_redemption_gives_the_points_back_and_tells_the_member(client, login, make_member, db, now):
    login("owner")
    member = make_member(msisdn=MEMBER, points=500)
    redeemed = redeem_points(member, 200, reason="甜品", actor=Actor("收银员"), now=now)
    db.session.commit()
    assert post(client, f"/members/{member.id}/entries/{redeemed.id}/void", reason="客人没要").status_code == 302
    assert balance(db, member) == 500
    assert texts_to(db, MEMBER) == ["会员您好，您兑换的200积分已退回，当前积分500。"]


def test_voiding_spent_points_is_refused_with_the_reason(client, login, merchant, make_member, db, now):
    login("manager")
    member = make_member()
    purchase = record_purchase(member, merchant, 300, actor=Actor("收银员"), now=now)
    redeem_points(member, 250, reason="兑换", actor=Actor("收银员"), now=now)
    db.session.commit()
    refused = post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="退货")
    assert refused.status_code == 400
    assert "The member has 50 points, fewer than the 300 this purchase earned" in refused.get_data(as_text=True)
    assert balance(db, member) == 50


def test_an_entry_of_another_member_cannot_be_voided_through_this_member(client, login, merchant, make_member, db,
                                                                         now):
    login("manager")
    member, other = make_member(), make_member()
    purchase = record_purchase(other, merchant, 300, actor=Actor("收银员"), now=now)
    db.session.commit()
    assert client.get(f"/members/{member.id}/entries/{purchase.id}/void").status_code == 404
    assert post(client, f"/members/{member.id}/entries/{purchase.id}/void", reason="x").status_code == 404
    assert balance(db, other) == 300


def test_the_chinese_console_asks_for_the_confirmation_in_chinese(client, login, make_member, db):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    login("clerk")
    member = make_member()
    page = post(client, f"/members/{member.id}/purchase", amount="8800").get_data(as_text=True)
    assert "¥8,800.00超过¥5,000.00，金额无误吗？" in page and "确认并记录" in page
    assert Decimal(balance(db, member)) == 0
