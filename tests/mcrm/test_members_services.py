import pytest

from mcrm.core.errors import ConflictError, ValidationError
from mcrm.members import services
from mcrm.members.services import Consent


def test_enrol_normalises_the_number_and_records_consent(db, merchant, now):
    member = services.enrol_member(merchant, msisdn="138-0013-8000", now=now, source="sms",
                                   consent=Consent("sms", "ZC via 106571234501"), name=" 张三 ",
                                   birthday="农历0815", tags="VIP，常客 vip")
    db.session.commit()
    assert member.msisdn == "+8613800138000" and member.msisdn_rev == "0008310083168+"
    assert member.name == "张三"
    assert member.birthday_is_lunar and (member.birthday_lunar_month, member.birthday_lunar_day) == (8, 15)
    assert (member.birthday_month, member.birthday_day) == (8, 15) and member.birthday is None
    assert member.tag_names == ["VIP", "vip", "常客"]
    assert (member.consent_at, member.consent_channel, member.consent_detail) == (now, "sms", "ZC via 106571234501")
    assert member.tier == "贵宾卡"


def test_the_same_number_twice_is_a_conflict_naming_the_member(db, merchant, make_member, now):
    first = make_member(msisdn="13800138000")
    with pytest.raises(ConflictError) as error:
        services.enrol_member(merchant, msisdn="+86 13800138000", now=now)
    assert error.value.details["member_id"] == first.id


def test_two_merchants_may_share_a_member_number(db, make_merchant, make_member):
    other = make_merchant()
    a = make_member(msisdn="13800138000")
    b = make_member(merchant=other, msisdn="13800138000")
    assert a.id != b.id


def test_bad_input_is_refused_with_a_reason(db, merchant, now):
    with pytest.raises(ValidationError, match="phone"):
        services.enrol_member(merchant, msisdn="12345", now=now)
    with pytest.raises(ValidationError, match="date"):
        services.enrol_member(merchant, msisdn="13800138001", now=now, birthday="19901345")
    with pytest.raises(ValidationError):
        services.enrol_member(merchant, msisdn="13800138002", now=now, gender="x")


def test_soft_deleted_member_comes_back_on_enrol(db, merchant, make_member, now):
    member = make_member(msisdn="13800138000", points=50)
    services.delete_member(member, now=now)
    db.session.commit()
    assert services.find_member_by_msisdn(merchant, "+8613800138000") is None
    again = services.enrol_member(merchant, msisdn="13800138000", now=now, name="回来")
    assert again.id == member.id and again.deleted_at is None and again.points_balance == 50


def test_enrol_with_the_member_read_by_the_caller_revives_a_deleted_one_and_refuses_a_live_one(
        db, merchant, make_member, now):
    member = make_member(msisdn="13800138000", points=50)
    with pytest.raises(ConflictError):
        services.enrol_member(merchant, msisdn="13800138000", now=now, existing=member)
    services.delete_member(member, now=now)
    found = services.find_member_by_msisdn(merchant, "+8613800138000", include_deleted=True)
    again = services.enrol_member(merchant, msisdn="13800138000", now=now, existing=found, name="回来")
    assert again is member and again.deleted_at is None and again.name == "回来" and again.points_balance == 50
    new = services.enrol_member(merchant, msisdn="13800138001", now=now, existing=None, name="新人")
    assert new.id != member.id and services.find_member_by_msisdn(merchant, "+8613800138001") is new


def test_a_new_member_holds_what_its_row_holds_and_goes_when_its_enrolment_is_rolled_back(db, merchant, now):
    savepoint = db.session.begin_nested()
    gone = services.enrol_member(merchant, msisdn="13800138000", now=now, source="sms", name="甲")
    savepoint.rollback()
    assert gone not in db.session and services.find_member_by_msisdn(merchant, "+8613800138000") is None

    # on SQLite the rolled-back row's id comes again: the object still held must not clash with it
    member = services.enrol_member(merchant, msisdn="13800138000", now=now, source="sms", name="乙")
    db.session.commit()
    held = {column.key: getattr(member, column.key) for column in member.__table__.columns}
    db.session.expire(member)
    assert {key: getattr(member, key) for key in held} == held
    assert (member.name, member.gender, member.tier, member.points_balance, member.custom_fields,
            member.tag_names) == ("乙", "u", "贵宾卡", 0, {}, [])


def test_opt_out_and_back_in_keeps_a_consent_record(db, merchant, make_member, now):
    member = make_member()
    assert services.opt_out(member, now=now) is True
    assert services.opt_out(member, now=now) is False
    assert member.opted_out and member.opted_out_at == now
    assert services.opt_in(member, Consent("sms", "DY"), now=now) is True
    assert not member.opted_out and member.consent_detail == "DY"


def test_opt_out_and_in_by_number_with_the_member_already_read_act_as_with_their_own_look_up(
        db, merchant, make_member, now):
    member = make_member()
    found = services.find_member_by_msisdn(merchant, member.msisdn)
    assert services.opt_out_number(merchant, member.msisdn, now=now, channel="sms", member=found) is True
    assert member.opted_out and not services.on_opt_out_list(merchant, member.msisdn)
    assert services.opt_out_number(merchant, member.msisdn, now=now, channel="sms", member=found) is False
    assert services.opt_in_number(merchant, member.msisdn, Consent("sms", "DY"), now=now, member=found) is True
    assert not member.opted_out and member.consent_detail == "DY"

    stranger = "+8613900139000"  # no member: read as None, the opt-out list is used
    assert services.opt_out_number(merchant, stranger, now=now, channel="sms", member=None) is True
    assert services.on_opt_out_list(merchant, stranger)
    assert services.opt_in_number(merchant, stranger, Consent("sms", "DY"), now=now, member=None) is True
    assert not services.on_opt_out_list(merchant, stranger)
    assert services.opt_in_number(merchant, stranger, Consent("sms", "DY"), now=now, member=None) is False


def test_too_many_tags_refused(db, make_member):
    member = make_member()
    with pytest.raises(ValidationError):
        services.set_tags(member, [f"t{i}" for i in range(21)])


def test_a_member_found_by_number_has_its_tags_and_a_deleted_one_only_when_asked_for(
        db, merchant, make_member, now):
    member = make_member(msisdn="13800138000", tags="vip, 常客")
    gone = make_member(msisdn="13800138001")
    services.delete_member(gone, now=now)
    db.session.commit()
    member_id, gone_id = member.id, gone.id
    db.session.expunge_all()  # read from the database, not the session
    merchant = db.session.merge(merchant)
    found = services.find_member_by_msisdn(merchant, "+8613800138000")
    assert found.id == member_id and found.tag_names == ["vip", "常客"]
    assert services.find_member_by_msisdn(merchant, "+8613800138001") is None
    assert services.find_member_by_msisdn(merchant, "+8613800138001", include_deleted=True).id == gone_id


def test_the_birthday_keeps_its_month_and_day_in_its_own_calendar(db, make_member):
    member = make_member(birthday="19900315")
    assert (member.birthday_month, member.birthday_day, member.birthday_is_lunar) == (3, 15, False)
    services.update_member(member, birthday="农历1230")
    assert (member.birthday_month, member.birthday_day, member.birthday_is_lunar) == (12, 30, True)
    services.update_member(member, birthday="")
    assert (member.birthday_month, member.birthday_day) == (None, None)
