"""Every main console page, as each role, on the demo data: no English words and no raw codes in the
Chinese console, and no raw codes in the English one.

Codes the database keeps (channels, actors, statuses, reply ids, details written by the code)
must reach a page as words; this renders the pages and reads the text a person sees."""
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from mcrm.auth.models import Staff
from mcrm.demo import load_demo
from mcrm.keywords.models import KeywordApp
from mcrm.members.models import Member
from mcrm.messaging.models import InboundMessage, OutboundMessage
from tests.conftest import csrf_token


class VisibleText(HTMLParser):
    """Text a person reads: text nodes outside scripts and styles, and the attributes a browser
    shows or reads aloud. Option texts of the time-zone list are IANA names, the same in every language."""

    SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt", "data-confirm")

    def __init__(self):
        super().__init__()
        self.texts, self._hidden, self._zones = [], 0, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._hidden += tag in ("script", "style")
        self._zones += tag == "select" and attrs.get("name") == "timezone"
        self.texts += [attrs[name] for name in self.SHOWN_ATTRIBUTES if attrs.get(name)]
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.texts.append(attrs["value"])

    def handle_endtag(self, tag):
        self._hidden -= tag in ("script", "style")
        self._zones -= tag == "select" and self._zones > 0

    def handle_data(self, data):
        if not self._hidden and not self._zones and data.strip():
            self.texts.append(data.strip())


def visible_texts(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.texts


#: Latin words a Chinese page may show: the product's name, the other language's switch, file
#: formats. Upper-case words are keyword commands (ZC, JF, TD), coupon codes and SMSC codes.
ALLOWED_LATIN = {"mcrm", "English", "Excel"}
#: codes the database keeps that must never show as they are, in either language
RAW_CODES = {"sms", "console", "import", "api", "system", "member"}


def untranslated_words(text: str, data: set[str]) -> list[str]:
    text = re.sub(r"\{[^{}]*\}", "", text)           # reply-text placeholders are typed as shown
    return [word for word in re.findall(r"[A-Za-z][A-Za-z_]*", text)
            if not word.isupper() and word not in ALLOWED_LATIN and word not in data]


def raw_codes(text: str) -> list[str]:
    text = re.sub(r"\{[^{}]*\}", "", text)
    return re.findall(r"\b[a-z]+_[a-z_]+\b|\bsms:|\bkeyword [A-Z]{2}\b", text) + \
        ([text] if text in RAW_CODES else [])


@pytest.fixture
def demo(app, db):
    from mcrm.auth.services import create_staff
    result = load_demo(member_count=30)
    create_staff(result.merchant, role="manager", username="dianzhang", password="correct-horse-1")
    db.session.commit()
    return result.merchant


def console_pages(merchant) -> list[str]:
    """The main pages, and a sample of every kind of detail page in the demo."""
    from mcrm.extensions import db
    members = db.session.scalars(sa.select(Member.id).where(Member.merchant_id == merchant.id)
                                 .order_by(Member.id).limit(30)).all()
    messages = db.session.scalars(sa.select(OutboundMessage.id).order_by(OutboundMessage.id.desc()).limit(3)).all()
    numbers = db.session.scalars(sa.select(InboundMessage.msisdn).order_by(InboundMessage.id.desc()).limit(3)).all()
    apps = db.session.scalars(sa.select(KeywordApp.id).where(KeywordApp.merchant_id == merchant.id)).all()
    staff = db.session.scalars(sa.select(Staff.id).where(Staff.merchant_id == merchant.id)).all()
    db.session.rollback()
    pages = ["/", "/members/", "/members/?opted_out=yes", "/members/new", "/members/import", "/members/opt-outs",
             "/settings/", "/messages/", "/messages/daily", "/messages/simulator", "/keywords/", "/keywords/replies",
             "/keywords/coupons", "/keywords/apps/new", "/staff/", "/staff/new", "/staff/me",
             f"/members/{members[0]}/edit"]
    pages += [f"/members/{member_id}" for member_id in members]
    pages += [f"/messages/{message_id}" for message_id in messages]
    pages += [f"/messages/numbers/{number}" for number in numbers]
    for app_id in apps:
        pages += [f"/keywords/apps/{app_id}{tail}" for tail in ("", "/settings", "/replies", "/try", "/keywords",
                                                                  "/name")]
    return pages + [f"/staff/{staff_id}" for staff_id in staff]


def sign_in(client, username, password, language):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302


@pytest.mark.parametrize("username, password", [("demo", "demo-pass-2026"), ("dianzhang", "correct-horse-1"),
                                                ("clerk", "clerk-pass-2026")])
def test_the_chinese_console_shows_no_english_and_no_codes(client, demo, username, password):
    merchant = demo
    sign_in(client, username, password, "zh-CN")
    # what people typed is shown as typed: staff usernames (the demo's are English words)
    data = {"demo", "clerk", "dianzhang"}
    found, seen = {}, 0
    for url in console_pages(merchant):
        response = client.get(url)
        if response.status_code == 403:          # not this role's page
            continue
        assert response.status_code == 200, url
        seen += 1
        for text in visible_texts(response.get_data(as_text=True)):
            for word in untranslated_words(text, data) + raw_codes(text):
                found.setdefault(word, f"{url}: {text[:80]}")
    assert seen >= 30
    assert found == {}


@pytest.mark.parametrize("username, password", [("demo", "demo-pass-2026"), ("clerk", "clerk-pass-2026")])
def test_the_english_console_shows_no_raw_codes(client, demo, username, password):
    merchant = demo
    sign_in(client, username, password, "en")
    found = {}
    for url in console_pages(merchant):
        response = client.get(url)
        if response.status_code == 403:
            continue
        for text in visible_texts(response.get_data(as_text=True)):
            for code in raw_codes(text):
                found.setdefault(code, f"{url}: {text[:80]}")
    assert found == {}


def test_codes_kept_in_rows_read_as_words(app):
    from flask_babel import force_locale

    from mcrm.formatting import actor_label, channel_label, origin_detail
    with app.test_request_context(), force_locale("zh"):
        assert channel_label("sms") == "短信" and channel_label("console") == "后台"
        assert actor_label("system") == "系统自动" and actor_label("sms:小李") == "小李（短信）"
        assert actor_label("王老板") == "王老板"
        assert origin_detail("keyword TD to 106571234501") == "发送 TD 至 106571234501"
        assert origin_detail("staff laowang: 电话要求") == "员工 laowang：电话要求"
        assert origin_detail("member 1002 deleted") == "会员 1002 已删除"
        assert origin_detail("会员.csv, line 3") == "会员.csv 第 3 行"
        assert origin_detail("ZC 注册") == "ZC 注册"
