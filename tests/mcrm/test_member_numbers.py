"""Only numbers that can receive SMS become members: every path that takes a member's number
refuses a landline clearly (console, import, ZC by SMS, staff XF/DH targets)."""
import pytest
import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.members.models import Member
from mcrm.members.services import enrol_member
from tests.conftest import csrf_token
from tests.mcrm.keywords_support import phone  # noqa: F401
from tests.mcrm.test_csv_import import _errors, _import

LANDLINES = ["02188886666", "+862188886666"]
STAFF_PHONE = "+8613700137000"


def _members(db):
    return db.session.scalars(sa.select(Member.msisdn)).all()


@pytest.mark.parametrize("landline", LANDLINES)
def test_enrolling_a_landline_is_refused(db, merchant, now, landline):
    with pytest.raises(ValidationError, match="not a mobile number"):
        enrol_member(merchant, msisdn=landline, now=now)
    assert _members(db) == []


@pytest.mark.parametrize("landline", LANDLINES)
def test_the_console_refuses_a_landline_on_the_new_member_form(client, login, db, landline):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login("manager")
    response = client.post("/members/new", data={"csrf_token": csrf_token(client, "/members/new"),
                                                 "msisdn": landline, "name": "座机", "gender": "u"})
    assert response.status_code == 200
    assert "is not a mobile number: members need a number that can receive SMS" in response.get_data(as_text=True)
    assert _members(db) == []


def test_an_import_line_with_a_landline_is_a_bad_line(db, merchant):
    data = "手机号,姓名\r\n02188886666,座机\r\n+862188886666,座机二\r\n13800138000,手机\r\n".encode()
    job = _import(db, merchant, data)
    assert (job.imported, job.failed) == (1, 2)
    errors = _errors(db, job)
    assert set(errors) == {2, 3} and all("not a mobile number" in reason for reason in errors.values())
    assert _members(db) == ["+8613800138000"]


def test_zc_from_a_landline_enrols_nobody_and_says_a_mobile_is_needed(phone, db):
    replies = phone.text("ZC 张三", msisdn="+862188886666")
    assert len(replies) == 1 and "手机号注册" in replies[0]
    assert _members(db) == []


def test_zc_from_a_mobile_still_enrols(phone, db):
    assert "欢迎加入" in phone.text("ZC 张三", msisdn="+8613900139000")[0]
    assert _members(db) == ["+8613900139000"]


@pytest.mark.parametrize("command", ["XF 02188886666 88", "DH 02188886666 10"])
def test_a_staff_command_naming_a_landline_is_refused_as_such(phone, make_staff, db, command):
    make_staff("clerk", msisdn=STAFF_PHONE)
    reply = phone.text(command, msisdn=STAFF_PHONE)
    assert len(reply) == 1 and reply[0].startswith("未执行")
    assert "02188886666" in reply[0]
