"""One-time login codes: 6 digits, 5 minutes, single use, hashed, rate-limited, 5 wrong tries lock."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.auth.login_codes import (LoginCode, TooManyCodesError, find_staff_for_code, issue_login_code,
                                   verify_login_code)
from mcrm.auth.services import LoginError
from mcrm.messaging.models import MessageKind, OutboundMessage
from mcrm.messaging.store import SqlMessageStore
from tests.conftest import csrf_token
from tests.mcrm.keywords_support import sent_to_phones

STAFF_PHONE = "+8613700137000"


@pytest.fixture
def staff(make_staff):
    return make_staff("manager", msisdn=STAFF_PHONE, username="xiaowang")


def test_a_code_has_six_digits_and_is_stored_only_as_a_hash(staff, db, now):
    code = issue_login_code(staff, now=now)
    assert re.fullmatch(r"\d{6}", code)
    stored = db.session.scalar(sa.select(LoginCode))
    assert code not in stored.code_hash and stored.expires_at == now + timedelta(minutes=5)


def test_a_code_works_once(staff, db, now):
    code = issue_login_code(staff, now=now)
    verify_login_code(staff, code, now=now + timedelta(minutes=1))
    with pytest.raises(LoginError):
        verify_login_code(staff, code, now=now + timedelta(minutes=2))


def test_a_code_expires_after_five_minutes(staff, now):
    code = issue_login_code(staff, now=now)
    with pytest.raises(LoginError):
        verify_login_code(staff, code, now=now + timedelta(minutes=5, seconds=1))


def test_five_wrong_tries_lock_the_code_even_for_the_right_one(staff, now):
    code = issue_login_code(staff, now=now)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(LoginError):
            verify_login_code(staff, wrong, now=now)
    with pytest.raises(LoginError, match="Too many"):
        verify_login_code(staff, code, now=now)


def test_a_new_code_replaces_the_old_one(staff, now):
    first = issue_login_code(staff, now=now)
    second = issue_login_code(staff, now=now)
    if first != second:
        with pytest.raises(LoginError):
            verify_login_code(staff, first, now=now)
    verify_login_code(staff, second, now=now)


def test_codes_per_number_are_rate_limited(staff, now):
    for _ in range(3):
        issue_login_code(staff, now=now)
    with pytest.raises(TooManyCodesError):
        issue_login_code(staff, now=now + timedelta(minutes=5))
    issue_login_code(staff, now=now + timedelta(minutes=16))


def test_staff_is_found_by_username_or_phone_but_not_by_a_shared_phone(staff, make_staff, make_merchant):
    assert find_staff_for_code("XiaoWang") == staff
    assert find_staff_for_code("137 0013 7000") == staff
    make_staff("clerk", merchant=make_merchant(), msisdn=STAFF_PHONE)
    assert find_staff_for_code("13700137000") is None  # two accounts: the username decides
    assert find_staff_for_code("xiaowang") == staff
    assert find_staff_for_code("nobody") is None


def _request(client, identifier):
    return client.post("/login/code/", data={"identifier": identifier,
                                             "csrf_token": csrf_token(client, "/login/code/")})


def _sent_code(app, db, now) -> str:
    """The code as the staff's phone gets it: from the gateway, since the outbox shows it masked."""
    message = db.session.scalar(sa.select(OutboundMessage).order_by(OutboundMessage.id.desc()))
    assert message.kind == MessageKind.TRANSACTIONAL and message.msisdn == STAFF_PHONE
    [(to, text)] = sent_to_phones(app, now)
    return re.search(r"\d{6}", text).group(0)


def test_send_me_a_code_signs_in_from_the_login_page(app, client, staff, db, now):
    assert "/login/code/" in client.get("/login").get_data(as_text=True)
    response = _request(client, "13700137000")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code/verify")
    code = _sent_code(app, db, now)
    response = client.post("/login/code/verify", data={"code": code,
                                                       "csrf_token": csrf_token(client, "/login/code/verify")})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_an_unknown_account_gets_the_same_answer_and_no_sms(client, staff, db):
    response = _request(client, "nobody-here")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 0


def test_a_wrong_code_on_the_page_signs_nobody_in_and_counts(app, client, staff, db, now):
    _request(client, "xiaowang")
    response = client.post("/login/code/verify", data={"code": "000000" if _sent_code(app, db, now) != "000000"
                                                       else "111111",
                                                       "csrf_token": csrf_token(client, "/login/code/verify")})
    assert response.status_code == 200
    assert client.get("/").status_code == 302
    assert db.session.scalar(sa.select(LoginCode.wrong_tries)) == 1


def test_the_code_request_page_is_rate_limited_per_address(client, staff):
    statuses = [_request(client, "nobody").status_code for _ in range(6)]
    assert statuses[:5] == [302] * 5 and statuses[5] == 429


def _answer(client, identifier) -> str:
    """What the page says after asking a code for ``identifier``."""
    page = client.get(_request(client, identifier).headers["Location"]).get_data(as_text=True)
    return re.search(r'class="flash[^"]*"[^>]*>([^<]*)<', page).group(1)


def test_a_code_asked_for_the_owner_never_shows_to_a_manager(app, client, login, make_staff, db, now):
    """Before, the SMS body held the code: a manager asked one for the owner on the login page, read
    it in the message log and signed in as the owner."""
    owner = make_staff("owner", msisdn="+8613600136000")
    stranger = app.test_client()
    _request(stranger, owner.username)
    message = db.session.scalar(sa.select(OutboundMessage))
    assert message.body == "您的后台登录验证码******，5分钟内有效，请勿告诉他人。"
    assert message.text == "【小王烧烤】" + message.body
    login("manager")
    urls = ["/messages/", f"/messages/{message.id}", "/messages/simulator?msisdn=%2B8613600136000",
            "/messages/simulator/thread?msisdn=13600136000"]
    pages = [client.get(url).get_data(as_text=True) for url in urls]
    for url, page in zip(urls, pages, strict=True):
        assert "验证码******" in page and not re.search(r"验证码\d", page), url

    [(to, text)] = sent_to_phones(app, now)  # the phone still gets the real code
    assert to == owner.msisdn and re.fullmatch(r"【小王烧烤】您的后台登录验证码\d{6}，5分钟内有效，请勿告诉他人。", text)
    db.session.expire_all()
    assert db.session.get(OutboundMessage, message.id).secret_text is None


def test_a_code_sms_is_held_for_the_gateway_until_the_smsc_takes_it_or_it_fails(app, staff, db, now):
    from mcrm.keywords.apps.staff import send_login_code
    from sms_gateway import SubmitError
    send_login_code(staff, now=now)
    send_login_code(staff, now=now)
    db.session.commit()
    store = SqlMessageStore(app)
    first, second = store.claim_outbound("w1", 10, now)
    assert re.search(r"\d{6}", first.text) and re.search(r"\d{6}", second.text)
    store.mark_retry([SubmitError(first.id, 0x58, "ESME_RTHROTTLED", 0, now)])
    store.mark_failed([SubmitError(second.id, 0x45, "ESME_RSUBMITFAIL", 1)])
    db.session.expire_all()
    assert db.session.get(OutboundMessage, first.id).secret_text is not None  # a retry still needs it
    assert db.session.get(OutboundMessage, second.id).secret_text is None
    db.session.rollback()
    [again] = store.claim_outbound("w1", 10, now)
    assert again.id == first.id and again.text == first.text


def test_too_many_codes_for_a_phone_answer_like_an_unknown_account(client, staff, db):
    """Before, the 4th request for a real account said "too many codes", which no unknown one did."""
    answers = [_answer(client, "xiaowang") for _ in range(4)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 3  # still limited
    assert answers[3] == answers[0] == _answer(client, "nobody-here")


def test_the_keyword_wizards_test_panel_shows_a_dl_code_masked(make_staff, merchant, now):
    from mcrm.keywords.services import try_text
    make_staff("owner", msisdn="+8613600136000")
    [reply] = try_text(merchant, msisdn="+8613600136000", text="DL", now=now)
    assert reply.body == "您的后台登录验证码******，5分钟内有效，请勿告诉他人。"


def test_the_migration_masks_codes_in_login_code_sms_sent_before_it(staff, db, now):
    from flask_migrate import downgrade, upgrade

    from mcrm.keywords.apps.staff import send_login_code
    from mcrm.messaging.services import enqueue_sms
    send_login_code(staff, now=now)
    other = enqueue_sms(staff.merchant, msisdn=STAFF_PHONE, body="订单123456已发货", kind="transactional",
                        now=now + timedelta(seconds=1)).id
    db.session.commit()
    db.session.close()
    downgrade(revision="03710c321233")
    with db.engine.begin() as connection:  # as an SMS queued before the masking was
        connection.execute(sa.text("UPDATE outbound_messages SET body = '您的后台登录验证码654321，5分钟内有效', "
                                   "text = '【小王烧烤】您的后台登录验证码654321，5分钟内有效' WHERE id != :other"),
                           {"other": other})
    upgrade()
    texts = dict(db.session.execute(sa.select(OutboundMessage.id, OutboundMessage.text)).all())
    assert texts.pop(other) == "【小王烧烤】订单123456已发货"  # not a login code: untouched
    assert list(texts.values()) == ["【小王烧烤】您的后台登录验证码******，5分钟内有效"]
