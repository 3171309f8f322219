"""Demo data: a merchant, its staff, a few hundred realistic members with points history, and keyword
apps (a vote, a coupon, an event sign-up, an order look-up) that members have already texted."""
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from mcrm.auth.models import Role, Staff
from mcrm.auth.services import create_staff
from mcrm.core.clock import now_utc
from mcrm.extensions import db
from mcrm.keywords import services as keyword_services
from mcrm.keywords.apps.custom import redeem_coupon
from mcrm.keywords.engine import handle_inbound_sms
from mcrm.keywords.models import CouponCode
from mcrm.members.models import Gender, Member, Source
from mcrm.members.services import Consent, enrol_member, opt_out_number
from mcrm.merchants.models import Merchant
from mcrm.merchants.services import create_merchant
from mcrm.messaging.models import InboundStatus
from mcrm.messaging.services import store_inbound
from mcrm.points.services import (Actor, SYSTEM, expire_member_points, expiry_rule, grant_points,
                                  record_purchase, redeem_points, refresh_tier)

DEMO_SUB_CODE = "01"
DEMO_LOGINS = (("demo", "demo-pass-2026", Role.OWNER), ("clerk", "clerk-pass-2026", Role.CLERK))

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉晨浩宇欣怡子涵梓轩雨婷佳琪一诺思远"
_PREFIXES = ("138", "139", "135", "136", "137", "150", "151", "152", "157", "158", "159", "182", "183", "187",
             "188", "130", "131", "132", "155", "156", "185", "186", "133", "153", "180", "181", "189", "177", "199")
_TAGS = ("常客", "午餐", "晚餐", "外卖", "生日宴", "VIP", "家庭", "商务", "学生")


@dataclass
class DemoResult:
    created: bool
    merchant: Merchant
    members: int

    def summary(self) -> str:
        state = "Demo data loaded" if self.created else "Demo data already present"
        logins = ", ".join(f"{user} / {password} ({role})" for user, password, role in DEMO_LOGINS)
        return (f"{state}: merchant {self.merchant.name} (sub-code {self.merchant.sub_code}), "
                f"{self.members} members. Console logins: {logins}")


def load_demo(member_count: int = 300, seed: int = 2026, now: datetime | None = None) -> DemoResult:
    """The demo merchant with ``member_count`` members whose history ends at ``now`` (default: the clock)."""
    existing = db.session.scalar(sa.select(Merchant).where(Merchant.sub_code == DEMO_SUB_CODE))
    if existing is not None:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Staff).where(Staff.merchant_id == existing.id))
        return DemoResult(created=False, merchant=existing, members=_member_count(existing) if count else 0)
    rng = random.Random(seed)
    merchant = create_merchant(name="小王烧烤", sub_code=DEMO_SUB_CODE, signature="小王烧烤")
    for username, password, role in DEMO_LOGINS:
        create_staff(merchant, username=username, password=password, role=role,
                     display_name="王老板" if role == Role.OWNER else "收银员小李",
                     msisdn="13900139000" if role == Role.OWNER else None)
    now = now or now_utc()
    rule = expiry_rule(merchant)
    clerk = Actor("收银员小李")
    used = set()
    numbers = []
    for index in range(member_count):
        msisdn = _unique_msisdn(rng, used)
        joined = now - timedelta(days=rng.randint(0, 4 * 365), minutes=rng.randint(0, 1440))
        birthday = None
        if rng.random() < 0.8:
            if rng.random() < 0.15:
                birthday = f"农历{rng.randint(1, 12):02d}{rng.randint(1, 29):02d}"
            else:
                birthday = f"{rng.randint(1960, 2006)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        source = rng.choice((Source.SMS, Source.SMS, Source.CONSOLE, Source.IMPORT))
        member = enrol_member(
            merchant, msisdn=msisdn, now=joined, source=source,
            consent=Consent(channel=source, detail="ZC 注册" if source == Source.SMS else "demo"),
            name=rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2))),
            gender=rng.choice((Gender.FEMALE, Gender.MALE, Gender.UNKNOWN)), birthday=birthday,
            tags=rng.sample(_TAGS, rng.randint(0, 3)))
        numbers.append(member.msisdn)
        grant_points(member, merchant, merchant.join_gift_points, reason="注册礼", actor=SYSTEM, now=joined)
        lapses = [rule.expires_at(joined)]  # when the member's points lapse, for the expiry job's runs
        moment = joined
        for _visit in range(rng.randint(0, 12)):
            moment += timedelta(days=rng.randint(3, 90), hours=rng.randint(0, 5))
            if moment >= now:
                break
            _expire_until(member, lapses, moment)
            record_purchase(member, merchant, rng.choice((38, 58, 88, 128, 168, 236, 388, 520, 888, 1288)),
                            actor=clerk, now=moment)
            lapses.append(rule.expires_at(moment))
            if member.points_balance >= 500 and rng.random() < 0.3:
                redeem_points(member, rng.choice((100, 200, 500)), reason="兑换菜品", actor=clerk, now=moment)
        _expire_until(member, lapses, now)
        if rng.random() < 0.05:
            member.opted_out, member.opted_out_at = True, moment
        refresh_tier(member, merchant, now=now)
        if index % 100 == 99:
            db.session.flush()
    for days in (2, 9, 30):  # numbers that texted TD without ever joining
        opt_out_number(merchant, _unique_msisdn(rng, used), now=now - timedelta(days=days), channel=Source.SMS,
                       detail="keyword TD")
    _keyword_apps(merchant, rng, numbers, now)
    db.session.flush()
    return DemoResult(created=True, merchant=merchant, members=member_count)


#: the order look-up's table, as a merchant would upload it
_ORDERS = "订单号,状态,预计送达\nA1001,已送达,12:10\nA1002,配送中,18:40\nA1003,制作中,19:05\nA1004,已接单,19:30\n"


def _keyword_apps(merchant: Merchant, rng: random.Random, numbers: list[str], now: datetime) -> None:
    """Four wizard apps, switched on, and members' texts answered by the real engine over the last days."""
    def make(kind, name, words, **config):
        app = keyword_services.create_keyword_app(merchant, kind=kind, name=name)
        keyword_services.set_app_keywords(app, merchant, words)
        if config:
            keyword_services.set_app_config(app, **config)
        return app

    local = now.astimezone(ZoneInfo(merchant.timezone))
    apps = [make("vote", "新菜投票", ["TP", "投票"], options="1 孜然羊肉串\n2 蒜蓉烤生蚝\n3 锡纸烤脑花"),
            make("coupon", "到店满100减20", ["QUAN", "领券"], source="generated", valid_days=30, prefix="XW"),
            make("event", "周年品鉴会", ["BM", "报名"], capacity=30, max_seats=4, remind_hours=24,
                 event_at=(local + timedelta(days=10)).replace(hour=19, minute=0, second=0, microsecond=0)),
            make("info", "外卖订单查询", ["CX", "查询"])]
    keyword_services.upload_info_table(apps[3], _ORDERS.encode())
    for app in apps:
        keyword_services.activate_keyword_app(app)
    texts = ([f"TP {rng.choice('1123')}" for _ in range(45)] + ["QUAN"] * 25
             + [f"BM {rng.choice('11234')}" for _ in range(16)] + [f"CX A100{rng.randint(1, 4)}" for _ in range(6)])
    rng.shuffle(texts)
    senders = rng.sample(numbers, min(len(texts), len(numbers)))                     # one text a member
    moments = sorted(now - timedelta(minutes=rng.randint(10, 4320)) for _ in senders)  # stored in time order
    for text, msisdn, moment in zip(texts, senders, moments, strict=False):
        _text_in(merchant, msisdn, text, moment)
    issued = db.session.scalars(sa.select(CouponCode).where(CouponCode.app_id == apps[1].id)
                                .order_by(CouponCode.issued_at)).all()
    for coupon in issued[:8]:
        redeem_coupon(merchant, coupon.code, by="收银员小李",
                      now=min(coupon.issued_at + timedelta(hours=rng.randint(2, 48)), now))


def _expire_until(member, lapses: list, until: datetime) -> None:
    """What the daily expiry job did for the member up to ``until``: points lapsed at their expiry
    time, so the history and the balance obey the merchant's expiry rule."""
    for moment in sorted(lapse for lapse in lapses if lapse is not None and lapse <= until):
        expire_member_points(member, now=moment)
    lapses[:] = [lapse for lapse in lapses if lapse is not None and lapse > until]


def _member_count(merchant: Merchant) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(Member.merchant_id == merchant.id))


def _unique_msisdn(rng: random.Random, used: set) -> str:
    while True:
        number = rng.choice(_PREFIXES) + f"{rng.randint(0, 99999999):08d}"
        if number not in used:
            used.add(number)
            return number


def _text_in(merchant: Merchant, msisdn: str, text: str, at: datetime) -> None:
    """An MO stored and answered as the keyword loop does, at ``at``: the inbox and the message log
    show the exchange, and ``mcrm run`` sends the queued replies through the (sandbox) gateway."""
    access_number = current_app.extensions["mcrm_settings"].access_number
    inbound = store_inbound(source_addr=msisdn, destination_addr=access_number + merchant.sub_code, text=text,
                            data_coding=8, received_at=at, access_number=access_number)
    handle_inbound_sms(inbound, now=at)
    inbound.status, inbound.processed_at = InboundStatus.DONE, at
