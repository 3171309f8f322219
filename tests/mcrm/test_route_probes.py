"""Every console route, read from the url map, probed as each role with what an attacker or a broken
page sends: ids too big for any column, odd query strings, forms posted empty or full of control
codes. The answer is a page, a redirect, 400, 403 or 404: never a 500 (SQLite and PostgreSQL)."""
import re
from datetime import datetime, UTC
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from mcrm.campaigns.services import create_campaign
from mcrm.keywords.models import EventSignup
from mcrm.members import csv_io
from mcrm.messaging.models import OutboundMessage
from tests.conftest import csrf_token
from tests.mcrm.keywords_support import phone, switched_on_app  # noqa: F401  (fixture)

HUGE = 2 ** 70
ROLES = ("owner", "manager", "clerk")
#: every query parameter a console page reads
QUERY_NAMES = ("q", "after", "before", "tier", "tag", "opted_out", "birthday_month", "sort", "status", "kind",
               "msisdn", "day", "code", "encoding", "next", "extension", "segment")
#: routes that end the session they are posted in: probed last
SIGNING_OUT = ("auth.logout", "staff.sign_out_my_other_sessions")


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def world(db, merchant, make_member, make_staff, phone, now):
    """One of everything a console URL can name, so that every page and its forms render."""
    member = make_member(name="张三", points=100)
    clerk = make_staff("clerk")
    switched_on_app(merchant, "vote", "新菜", ["TP"], options=[["1", "红烧肉"], ["2", "糖醋鱼"]])
    switched_on_app(merchant, "coupon", "满100减20", ["QUAN"], source="generated")
    switched_on_app(merchant, "autoreply", "地址", ["DZ"])
    event = switched_on_app(merchant, "event", "品鉴会", ["BM"], capacity=2,
                            event_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    phone.text("BM 1")
    phone.text("QUAN")
    job = csv_io.create_import(merchant, staff_id=None, filename="m.csv",
                               data="手机,姓名\n13900139000,李四\n".encode())
    campaign = create_campaign(merchant, name="会员日", body="{name}您好，会员日8折", now=now)
    db.session.commit()
    ids = {"member_id": member.id, "staff_id": clerk.id, "app_id": event.id, "job_id": job.id,
           "campaign_id": campaign.id,
           "signup_id": db.session.scalar(sa.select(EventSignup.id)),
           "message_id": db.session.scalar(sa.select(OutboundMessage.id))}
    db.session.rollback()
    return ids


#: /readyz answers 503 by design while a gateway or the scheduler is missing (tests/mcrm/test_ops_health.py)
NOT_PROBED = ("static", "ops.readyz")


def console_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint not in NOT_PROBED), key=lambda r: r.rule)


def build(rule, values) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m.group(1), "x")), rule.rule)


class Forms(HTMLParser):
    """The POST forms of a page: (action, {field name: type})."""

    def __init__(self):
        super().__init__()
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._current = (attrs.get("action") or "", {})
            self.forms.append(self._current)
        elif self._current and tag in ("input", "textarea", "select") and attrs.get("name"):
            self._current[1].setdefault(attrs["name"], attrs.get("type") or tag)

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def assert_no_500(response, what):
    assert response.status_code < 500, f"{what}: {response.status_code}"


@pytest.mark.parametrize("role", ROLES)
def test_an_id_too_big_for_any_column_is_a_404(app, client, login, world, role):
    login(role)
    token = csrf_token(client, "/staff/me")
    for rule in console_rules(app):
        ints = [name for name, conv in rule._converters.items() if type(conv).__name__ == "IntegerConverter"]
        if not ints:
            continue
        for values in ({name: HUGE for name in ints}, {**world, ints[-1]: HUGE}):
            url = build(rule, values)
            if "GET" in rule.methods:
                assert client.get(url, buffered=True).status_code in (403, 404), f"GET {url}"
            if "POST" in rule.methods:
                assert client.post(url, data={"csrf_token": token}).status_code in (403, 404), f"POST {url}"


@pytest.mark.parametrize("role", ROLES)
def test_odd_query_strings_are_never_a_500(app, client, login, world, role):
    login(role)
    for rule in console_rules(app):
        if "GET" not in rule.methods or rule.endpoint in SIGNING_OUT:
            continue
        url = build(rule, world)
        for value in (str(HUGE), str(-HUGE), "\x00", "1\x00", "\x1b[0m", "%", "9" * 400):
            # buffered: a download's body is read (and its stream closed) before the next request
            response = client.get(url, query_string={name: value for name in QUERY_NAMES}, buffered=True)
            assert_no_500(response, f"GET {url} {value!r}")


@pytest.mark.parametrize("role", ROLES)
def test_every_form_posted_empty_or_with_control_codes_is_never_a_500(app, client, login, make_staff, world,
                                                                       role):
    staff = make_staff(role)
    login(staff=staff)
    forms = {}
    for rule in console_rules(app):
        if "GET" in rule.methods and rule.endpoint not in SIGNING_OUT and not rule.rule.endswith(".csv"):
            parser = Forms()
            parser.feed(client.get(build(rule, world)).get_data(as_text=True))
            for action, fields in parser.forms:
                forms.setdefault(action, {}).update(fields)
    for rule in console_rules(app):  # a POST-only route no page shows a form for: posted with nothing
        if "POST" in rule.methods:
            forms.setdefault(build(rule, world), {})
    assert len(forms) > 30
    actions = sorted(forms, key=lambda a: any(a == build(r, world) for r in console_rules(app)
                                                if r.endpoint in SIGNING_OUT))
    for action in actions:
        fields = [name for name, kind in forms[action].items() if kind != "file" and name != "csrf_token"]
        for filling in ({}, {name: "\x00" for name in fields}, {name: "1\x00\x1b2" for name in fields}):
            if client.get("/staff/me").status_code != 200:
                login(staff=staff)  # a probe signed this staff out (or ended the session): back in
            token = csrf_token(client, "/staff/me")
            response = client.post(action, data={**filling, "csrf_token": token})
            assert_no_500(response, f"POST {action} {filling}")


def test_control_codes_typed_into_the_console_are_dropped_alike_on_every_database(client, login, db, merchant):
    """A NUL in a field was a 500 on PostgreSQL and stored as typed on SQLite."""
    from mcrm.members.models import Member
    login("manager")
    response = client.post("/members/new", data={
        "msisdn": "1390013\x009000", "name": "张\x00三", "gender": "u", "tags": "常客\x1b",
        "custom_fields": "座位: 靠窗\r\n口味: 微辣", "csrf_token": csrf_token(client, "/members/new")})
    assert response.status_code == 302, response.get_data(as_text=True)
    member = db.session.scalar(sa.select(Member))
    assert (member.msisdn, member.name, member.tag_names) == ("+8613900139000", "张三", ["常客"])
    assert member.custom_fields == {"座位": "靠窗", "口味": "微辣"}  # line breaks are kept: they are typing
    assert "张三" in client.get("/members/", query_string={"q": "张\x00三"}).get_data(as_text=True)
