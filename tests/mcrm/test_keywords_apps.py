"""Keyword apps made in the wizard: conflicts, replies, limits, dates, and each kind answering texts."""
import re
from datetime import datetime, timedelta, UTC

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ConflictError, NotFoundError, ValidationError
from mcrm.keywords import services
from mcrm.keywords.apps.custom import add_pool_codes, redeem_coupon, reply_fields, vote_counts
from mcrm.keywords.models import AppStatus, CouponCode, EventSignup
from mcrm.keywords.texts import BUILTIN_LABELS
from tests.mcrm.keywords_support import CONSUMER, phone  # noqa: F401

OTHER = "+8613900139001"


@pytest.fixture
def make_app(merchant, db):
    def make(kind="autoreply", words=("HD",), replies=None, activate=True, **config):
        app = services.create_keyword_app(merchant, kind=kind, name=f"{kind} app")
        services.set_app_keywords(app, merchant, list(words))
        if replies:
            services.set_app_replies(app, replies)
        if config:
            services.set_app_config(app, **config)
        if activate:
            services.activate_keyword_app(app)
        db.session.commit()
        return app
    return make


# -- keywords and conflicts -----------------------------------------------------------------------

@pytest.mark.parametrize("word,message,owner", [
    ("ZC", "already used by the built-in", BUILTIN_LABELS["join"]),
    ("ｊｆ", "already used by the built-in", BUILTIN_LABELS["points"]),
    ("t", "already used by the built-in", BUILTIN_LABELS["stop"]),
    ("XF", "is the staff command", "XF"), ("HD", "already used by the app", "autoreply app")])
def test_a_keyword_taken_by_a_built_in_a_staff_command_or_another_app_is_refused(make_app, merchant, word, message,
                                                                                owner):
    make_app(words=["HD"])
    other = services.create_keyword_app(merchant, kind="autoreply", name="second")
    with pytest.raises(ConflictError, match=message) as refused:
        services.set_app_keywords(other, merchant, ["NEW", word])
    assert str(refused.value.details["owner"]) == str(owner) and str(owner) in refused.value.message


def test_the_same_keyword_twice_in_one_app_is_refused(merchant):
    app = services.create_keyword_app(merchant, kind="autoreply", name="x")
    with pytest.raises(ConflictError):
        services.set_app_keywords(app, merchant, ["HD", "hd"])


def test_an_app_may_keep_its_own_keywords_when_saved_again(make_app, merchant):
    app = make_app(words=["HD", "活动"])
    services.set_app_keywords(app, merchant, ["活动", "HD", "EVENT"])
    assert app.keywords == ["活动", "HD", "EVENT"]


def test_a_keyword_with_a_separator_inside_is_refused(merchant):
    app = services.create_keyword_app(merchant, kind="autoreply", name="x")
    with pytest.raises(ValidationError, match="one word"):
        services.set_app_keywords(app, merchant, ["H D"])


def test_built_in_keywords_are_editable_but_never_onto_another_ones(merchant, db, phone):
    services.set_builtin_keywords(merchant, "join", ["HY", "会员"])
    db.session.commit()
    phone.text("HY 张三")
    assert phone.text("ZC")[0] != ""  # ZC is no keyword any more: help
    with pytest.raises(ConflictError, match="already used by the built-in"):
        services.set_builtin_keywords(merchant, "join", ["JF"])


# -- replies --------------------------------------------------------------------------------------

def test_a_reply_with_an_unknown_placeholder_is_refused_on_save(make_app):
    app = make_app(activate=False)
    with pytest.raises(ValidationError, match=r"\{nmae\}"):
        services.set_app_replies(app, {"reply": "你好{nmae}"})


def test_built_in_reply_texts_are_checked_and_empty_restores_the_default(merchant, db, phone, make_member):
    make_member(msisdn=CONSUMER, points=7)
    with pytest.raises(ValidationError):
        services.set_reply_text(merchant, "points", "积分{balance}")
    services.set_reply_text(merchant, "points", "您有{points}分")
    db.session.commit()
    assert phone.text("JF") == ["您有7分"]
    services.set_reply_text(merchant, "points", "")
    db.session.commit()
    assert phone.text("JF") != ["您有7分"]


# -- auto-reply, pause, dates, limits, usage ------------------------------------------------------

def test_an_auto_reply_answers_with_member_fields(make_app, make_member, phone):
    make_member(msisdn=CONSUMER, name="小美", points=30)
    make_app(words=["HD", "活动"], replies={"reply": "{name}，本周活动：满100减20。积分{points}"})
    assert phone.text("活动") == ["小美，本周活动：满100减20。积分30"]


def test_a_paused_app_does_not_answer_and_its_use_is_counted_only_while_live(make_app, phone, db):
    app = make_app(replies={"reply": "活动详情"})
    assert phone.text("HD") == ["活动详情"]
    services.pause_keyword_app(app)
    db.session.commit()
    assert phone.text("HD") != ["活动详情"]
    db.session.refresh(app)
    assert app.uses == 1


def test_an_app_answers_only_inside_its_date_range(make_app, merchant, phone, db, now):
    app = make_app(replies={"reply": "活动详情"})
    services.set_app_limits(app, merchant, per_number_limit=None, starts_at=now + timedelta(days=1),
                            ends_at=now + timedelta(days=2), extension=None)
    db.session.commit()
    assert phone.text("HD") != ["活动详情"]
    assert phone.text("HD", now=now + timedelta(days=1, hours=1)) == ["活动详情"]
    assert phone.text("HD", now=now + timedelta(days=3)) != ["活动详情"]


def test_the_per_number_limit_is_kept(make_app, merchant, phone, db):
    app = make_app(replies={"reply": "活动详情", "limit": "每人限{limit}次"})
    services.set_app_limits(app, merchant, per_number_limit=2, starts_at=None, ends_at=None, extension=None)
    db.session.commit()
    assert [phone.text("HD")[0] for _ in range(3)] == ["活动详情", "活动详情", "每人限2次"]
    assert phone.text("HD", msisdn=OTHER) == ["活动详情"]


def test_an_extension_routes_to_the_app_and_cannot_be_taken_twice(make_app, merchant, phone, db):
    app = make_app(replies={"reply": "活动详情"})
    services.set_app_limits(app, merchant, per_number_limit=None, starts_at=None, ends_at=None, extension="7")
    db.session.commit()
    assert phone.text("随便什么", extension="7") == ["活动详情"]
    other = make_app(words=["QT"])
    with pytest.raises(ConflictError):
        services.set_app_limits(other, merchant, per_number_limit=None, starts_at=None, ends_at=None, extension="7")
    with pytest.raises(ConflictError, match="already goes to the built-in"):
        services.set_app_limits(other, merchant, per_number_limit=None, starts_at=None, ends_at=None, extension="9")


def test_help_lists_live_apps(make_app, phone):
    make_app(words=["HD"])
    assert "HD autoreply app" in phone.text("BZ")[0]


def test_the_live_test_panel_shows_the_reply_and_changes_nothing(make_app, merchant, db, now):
    app = make_app(kind="coupon", words=["QUAN"], source="generated", stock=5)
    replies = services.try_text(merchant, msisdn=CONSUMER, text="QUAN", now=now)
    assert "券码" in replies[0].body
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CouponCode)) == 0
    db.session.refresh(app)
    assert app.uses == 0


# -- coupon ---------------------------------------------------------------------------------------

def test_generated_coupons_are_unique_limited_per_number_and_by_stock(make_app, phone, db):
    make_app(kind="coupon", words=["QUAN"], source="generated", stock=2, valid_days=7)
    first = phone.text("QUAN")[0]
    assert "券码" in first and "2026-11-27" in first
    assert "限" in phone.text("QUAN")[0] or "上限" in phone.text("QUAN")[0]  # one per number
    second = phone.text("QUAN", msisdn=OTHER)[0]
    assert "领完" in phone.text("QUAN", msisdn="+8613900139002")[0]
    codes = db.session.scalars(sa.select(CouponCode.code).order_by(CouponCode.id)).all()
    assert len(set(codes)) == 2 and all(code in text for code, text in zip(codes, [first, second], strict=True))


def test_pool_coupons_hand_out_uploaded_codes_in_order_until_empty(make_app, phone, db):
    app = make_app(kind="coupon", words=["QUAN"], source="pool", activate=False)
    assert add_pool_codes(app, ["AAA111", "BBB222"]) == 2
    with pytest.raises(ConflictError):
        add_pool_codes(app, ["aaa111"])
    services.activate_keyword_app(app)
    db.session.commit()
    assert "AAA111" in phone.text("QUAN")[0]
    assert "BBB222" in phone.text("QUAN", msisdn=OTHER)[0]
    assert "领完" in phone.text("QUAN", msisdn="+8613900139002")[0]


def test_a_coupon_is_good_through_the_whole_local_day_its_sms_names(make_app, merchant, phone, db):
    """Issued at 23:30 in Shanghai (15:30 UTC) and good for one day: the SMS names the 21st, and the
    coupon works until that day ends there, not at 23:30 (nor by the UTC date)."""
    from mcrm.keywords.apps.custom import CouponState, coupon_state, last_valid_day
    make_app(kind="coupon", words=["QUAN"], source="generated", valid_days=1)
    issued_at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    assert "有效期至2026-11-21" in phone.text("QUAN", now=issued_at)[0]
    coupon = db.session.scalar(sa.select(CouponCode))
    assert last_valid_day(coupon.expires_at, merchant.timezone).isoformat() == "2026-11-21"
    assert coupon_state(coupon, datetime(2026, 11, 21, 15, 59, tzinfo=UTC)) == CouponState.VALID  # 23:59
    assert coupon_state(coupon, datetime(2026, 11, 21, 16, 0, tzinfo=UTC)) == CouponState.EXPIRED
    late = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # already the 21st in Shanghai
    assert "有效期至2026-11-22" in phone.text("QUAN", msisdn=OTHER, now=late)[0]


def test_staff_redeem_a_coupon_once_in_the_console_or_by_sms(make_app, merchant, make_staff, phone, db, now):
    make_app(kind="coupon", words=["QUAN"], source="pool", activate=False)
    app = services.list_keyword_apps(merchant)[0]
    add_pool_codes(app, ["AAA111", "BBB222"])
    services.activate_keyword_app(app)
    db.session.commit()
    phone.text("QUAN")
    phone.text("QUAN", msisdn=OTHER)
    redeem_coupon(merchant, "aaa111", by="店长", now=now)
    with pytest.raises(ConflictError):
        redeem_coupon(merchant, "AAA111", by="店长", now=now)
    with pytest.raises(NotFoundError):
        redeem_coupon(merchant, "ZZZ999", by="店长", now=now)
    make_staff("clerk", msisdn="+8613700137000")
    assert "BBB222已核销：coupon app。" in phone.text("HX BBB222", msisdn="+8613700137000")[0]  # with the offer
    assert "BBB222 已经核销过了" in phone.text("HX BBB222", msisdn="+8613700137000")[0]  # in the staff's language


# -- vote -----------------------------------------------------------------------------------------

def test_a_vote_counts_one_vote_per_number(make_app, phone):
    app = make_app(kind="vote", words=["TP"], options="1 红烧肉\n2 糖醋鱼\n3 清蒸鲈鱼")
    assert "1.红烧肉" in phone.text("TP")[0]  # no choice: the options
    assert "红烧肉" in phone.text("TP 1")[0]
    assert "已投过票" in phone.text("TP 2")[0]
    phone.text("TP 糖醋鱼", msisdn=OTHER)
    assert vote_counts(app) == [("1", "红烧肉", 1), ("2", "糖醋鱼", 1), ("3", "清蒸鲈鱼", 0)]


def test_a_vote_needs_two_options_before_it_goes_live(merchant):
    app = services.create_keyword_app(merchant, kind="vote", name="v")
    services.set_app_keywords(app, merchant, ["TP"])
    with pytest.raises(ValidationError):
        services.set_app_config(app, options="只有一个")
    with pytest.raises(ValidationError):
        services.activate_keyword_app(app)


# -- info query -----------------------------------------------------------------------------------

def test_info_query_looks_up_the_uploaded_table(make_app, phone, db):
    app = make_app(kind="info", words=["CX"], activate=False, replies={"found": "订单{订单号}：{状态}，{取餐时间}取餐"})
    csv_text = "订单号,状态,取餐时间\nA100,制作中,12:30\nA101,已完成,12:00\n".encode("gb18030")
    assert services.upload_info_table(app, csv_text) == 2
    services.activate_keyword_app(app)
    db.session.commit()
    assert phone.text("CX a100") == ["订单A100：制作中，12:30取餐"]
    assert "没有查到" in phone.text("CX B999")[0]
    assert "CX" in phone.text("CX")[0]


def test_a_table_without_a_column_the_reply_uses_is_refused(make_app):
    app = make_app(kind="info", words=["CX"], activate=False, replies={"found": "{状态}"})
    with pytest.raises(ValidationError, match="状态"):
        services.upload_info_table(app, "订单号,进度\nA1,好了\n".encode())


LONG_COLUMN = "备注" * 150


@pytest.mark.parametrize("column,placeholder", [
    ("to", "to"), ("member", "member"), ("code", "col:code"), ("info", "col:info"), ("name", "col:name"),
    ("shop", "col:shop"), ("points", "col:points"), ("col:code", "col:col:code"), ("50%", "50%"),
    ("%(name)s", "%(name)s"), ("取餐 时间", "取餐 时间"), ("取餐时间", "取餐时间"), (LONG_COLUMN, LONG_COLUMN)])
def test_any_column_name_answers_the_texter_and_never_overrides_the_engines_fields(make_app, make_member, phone,
                                                                                   db, column, placeholder):
    """A column named ``to`` once sent the answer to the number in the table, and ``code``, ``info``
    or ``member`` broke every query. Columns the engine fills are reached as ``{col:<name>}``."""
    make_member(msisdn=CONSUMER, name="张三")
    app = make_app(kind="info", words=["CX"], activate=False)
    services.upload_info_table(app, f'订单号,"{column}"\nA100,+8613900139099\n'.encode())
    services.set_app_replies(app, {"found": "{name}，{code}：{%s}" % placeholder})
    services.activate_keyword_app(app)
    db.session.commit()
    assert phone.exchange("CX a100") == [(CONSUMER, "张三，a100：+8613900139099")]
    services.set_app_replies(app, {})  # the default answer lists every column
    db.session.commit()
    assert phone.exchange("CX A100") == [(CONSUMER, f"A100：订单号:A100 {column}:+8613900139099")]


def test_a_column_the_engine_fills_is_offered_with_its_prefix(make_app):
    app = make_app(kind="info", words=["CX"], activate=False)
    services.upload_info_table(app, "订单号,code,状态\nA100,X,好了\n".encode())
    fields = reply_fields(app, "found")
    assert "col:code" in fields and "状态" in fields and fields.count("code") == 1
    with pytest.raises(ValidationError, match="col:状态"):
        services.set_app_replies(app, {"found": "{col:状态}"})  # only a taken name is prefixed


@pytest.mark.parametrize("header,message", [
    ("订单号,{状态}", "Column {状态}: a column name cannot contain { or }"),
    ("订单号,状态}", "cannot contain { or }"),
    ("订单号,状态,状态", "Two columns are named 状态"),
    ("订单号,,状态", "Column 2 has no name"),
])
def test_a_table_whose_columns_cannot_be_told_apart_is_refused_by_name(make_app, header, message):
    app = make_app(kind="info", words=["CX"], activate=False)
    cells = ",".join(["A1"] + ["x"] * header.count(","))
    with pytest.raises(ValidationError, match=re.escape(message)):
        services.upload_info_table(app, f"{header}\n{cells}\n".encode())


def test_a_table_with_a_ragged_row_is_refused_with_its_line(make_app):
    app = make_app(kind="info", words=["CX"], activate=False)
    with pytest.raises(ValidationError, match="Row 3"):
        services.upload_info_table(app, b"a,b\n1,2\n3\n")


def test_a_table_with_a_control_character_is_refused_with_its_line(make_app, db):
    """A NUL failed the upload on PostgreSQL only (a 500); now it is refused alike on both."""
    app = make_app(kind="info", words=["CX"], activate=False)
    with pytest.raises(ValidationError, match="Row 3.*U\\+0000"):
        services.upload_info_table(app, "订单号,状态\nA1,好了\nA\x002,制作中\n".encode())


# -- event sign-up --------------------------------------------------------------------------------

def test_event_sign_up_confirms_until_full_then_waiting_list(make_app, phone, db):
    make_app(kind="event", words=["BM"], capacity=3, event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    assert "报名成功" in phone.text("BM 2")[0] and "12月01日19:00" in phone.text("BM", msisdn=OTHER)[0]
    assert "候补第1位" in phone.text("BM", msisdn="+8613900139002")[0]
    assert "已报名" in phone.text("BM")[0]
    statuses = db.session.scalars(sa.select(EventSignup.status).order_by(EventSignup.id)).all()
    assert statuses == ["confirmed", "confirmed", "waiting"]


@pytest.mark.parametrize("capacity,max_seats,text,limit", [(20, 4, "BM 5", 4), (3, 5, "BM 4", 3)])
def test_a_sign_up_over_the_seats_one_text_may_book_says_the_limit_and_books_nothing(make_app, phone, db, capacity,
                                                                                     max_seats, text, limit):
    """``BM 5`` once booked 4 seats without a word; a party bigger than the hall waited for ever."""
    app = make_app(kind="event", words=["BM"], capacity=capacity, max_seats=max_seats,
                   event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    assert phone.text(text) == [f"抱歉，event app每次最多报名{limit}位，本次未报名。请回复“BM 人数”，人数不超过{limit}。"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EventSignup)) == 0
    db.session.refresh(app)
    assert app.uses == 0 and app.taken == 0
    assert f"{limit}位" in phone.text(f"BM {limit}")[0]  # the limit itself is fine


def test_confirmed_sign_ups_are_reminded_once_before_the_event(make_app, merchant, phone, db, now):
    from mcrm.keywords.apps.custom import send_event_reminders
    from mcrm.messaging.models import OutboundMessage
    starts = now + timedelta(hours=30)
    make_app(kind="event", words=["BM"], capacity=1, event_at=starts, remind_hours=24)
    phone.text("BM")
    phone.text("BM", msisdn=OTHER)  # waiting list: no reminder
    assert send_event_reminders(merchant, now=now) == 0  # 30 hours ahead: too early
    assert send_event_reminders(merchant, now=now + timedelta(hours=7)) == 1
    assert send_event_reminders(merchant, now=now + timedelta(hours=8)) == 0
    db.session.commit()
    reminder = db.session.scalar(sa.select(OutboundMessage).where(
        OutboundMessage.idempotency_key.like("event-reminder:%")))
    assert reminder.msisdn == CONSUMER and "提醒" in reminder.body and reminder.kind.value == "transactional"


def test_a_texter_cancels_their_own_sign_up_and_the_waiting_list_moves_up(make_app, phone, db):
    make_app(kind="event", words=["BM"], capacity=2, event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    assert "BM QX" in phone.text("BM 2")[0]  # the confirmation says how to cancel
    phone.text("BM", msisdn=OTHER)
    exchange = phone.exchange("bm 取消")
    assert [body for to, body in exchange if to == CONSUMER] and "已取消" in exchange[0][1]
    assert any(to == OTHER and "有空位了" in body for to, body in exchange)
    assert db.session.scalars(sa.select(EventSignup.status)).all() == ["confirmed"]
    assert "没有报名" in phone.text("BM QX")[0]
    assert "报名成功" in phone.text("BM")[0]  # and may sign up again


def test_a_pool_coupon_is_not_switched_on_with_no_codes_left(make_app, db):
    app = make_app(kind="coupon", words=["QUAN"], source="pool", activate=False)
    with pytest.raises(ValidationError, match="Add codes to the pool first"):
        services.activate_keyword_app(app)
    add_pool_codes(app, ["AAA111"])
    services.activate_keyword_app(app)
    assert app.status == AppStatus.ACTIVE


# -- ending and deleting ----------------------------------------------------------------------------

def test_an_ended_app_frees_its_keywords_and_extension_and_keeps_what_it_collected(make_app, merchant, db, phone,
                                                                                  now):
    app = make_app(kind="coupon", words=["QUAN", "券"], source="generated")
    services.set_app_limits(app, merchant, per_number_limit=1, starts_at=None, ends_at=None, extension="7")
    db.session.commit()
    phone.text("QUAN")
    services.end_keyword_app(app, now=now)
    db.session.commit()
    assert app.status == AppStatus.ENDED and app.keywords == [] and app.extension is None
    assert app.config["ended_keywords"] == ["QUAN", "券"] and app.ends_at == now
    assert "QUAN" not in " ".join(phone.text("QUAN", now=now + timedelta(minutes=1)))   # no more coupons
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CouponCode)) == 1
    code = db.session.scalar(sa.select(CouponCode.code))
    redeem_coupon(merchant, code, by="店长", now=now + timedelta(days=1))            # still honoured
    successor = make_app(words=["QUAN"])
    services.set_app_limits(successor, merchant, per_number_limit=None, starts_at=None, ends_at=None, extension="7")
    for change in (lambda: services.activate_keyword_app(app), lambda: services.pause_keyword_app(app),
                   lambda: services.set_app_keywords(app, merchant, ["NEU"])):
        with pytest.raises(ConflictError, match="has ended"):
            change()
    services.end_keyword_app(app, now=now + timedelta(days=2))                        # twice: nothing changes
    assert app.ends_at == now


def test_only_an_app_that_answered_nothing_is_deleted(make_app, merchant, db, phone):
    draft = make_app(words=["CG"], activate=False)
    used = make_app(words=["HD"], replies={"reply": "活动"})
    phone.text("HD")
    with pytest.raises(ConflictError, match="end it instead"):
        services.delete_keyword_app(used)
    services.delete_keyword_app(draft)
    db.session.commit()
    assert [a.name for a in services.list_keyword_apps(merchant)] == [used.name]
    make_app(words=["CG"])                                                           # its keyword is free again


def test_an_ended_events_sign_ups_can_no_longer_be_cancelled(make_app, merchant, db, phone, now):
    app = make_app(kind="event", words=["BM"], capacity=1, event_at=now + timedelta(days=2))
    phone.text("BM")
    signup = db.session.scalar(sa.select(EventSignup))
    services.end_keyword_app(app, now=now)
    with pytest.raises(ConflictError, match="has ended"):
        services.cancel_event_signup(app, signup.id, now=now)
