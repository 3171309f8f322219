"""One-time login codes: 6 digits, 5 minutes, single use, hashed, rate-limited, 5 wrong tries lock."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.auth.login_codes import (LoginCode, TooManyCodesError, find_staff_for_code, issue_login_code,
                                   verify_login_code)
from mcrm.auth.services import LoginError
from mcrm.messaging.models import MessageKind, OutboundMessage
from tests.conftest import csrf_token

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


def _sent_code(db) -> str:
    message = db.session.scalar(sa.select(OutboundMessage).order_by(OutboundMessage.id.desc()))
    assert message.kind == MessageKind.TRANSACTIONAL and message.msisdn == STAFF_PHONE
    return re.search(r"\d{6}", message.body).group(0)


def test_send_me_a_code_signs_in_from_the_login_page(client, staff, db):
    assert "/login/code/" in client.get("/login").get_data(as_text=True)
    response = _request(client, "13700137000")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code/verify")
    code = _sent_code(db)
    response = client.post("/login/code/verify", data={"code": code,
                                                       "csrf_token": csrf_token(client, "/login/code/verify")})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_an_unknown_account_gets_the_same_answer_and_no_sms(client, staff, db):
    response = _request(client, "nobody-here")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 0


def test_a_wrong_code_on_the_page_signs_nobody_in_and_counts(client, staff, db):
    _request(client, "xiaowang")
    response = client.post("/login/code/verify", data={"code": "000000" if _sent_code(db) != "000000" else "111111",
                                                       "csrf_token": csrf_token(client, "/login/code/verify")})
    assert response.status_code == 200
    assert client.get("/").status_code == 302
    assert db.session.scalar(sa.select(LoginCode.wrong_tries)) == 1


def test_the_code_request_page_is_rate_limited_per_address(client, staff):
    statuses = [_request(client, "nobody").status_code for _ in range(6)]
    assert statuses[:5] == [302] * 5 and statuses[5] == 429
