"""The console speaks Chinese by default and English on request; the catalog is complete."""
import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import csrf_token

CATALOG = Path(__file__).resolve().parents[2] / "mcrm" / "translations" / "zh" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-+ #0-9.]*[sdifr]|\{[a-z_]+\}")


def zh_catalog():
    with open(CATALOG / "messages.po", "rb") as po:
        return read_po(po, locale="zh")


def test_every_message_in_the_catalog_has_a_chinese_translation():
    untranslated = [m.id for m in zh_catalog() if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_translations_keep_every_placeholder():
    broken = [(m.id, m.string) for m in zh_catalog() if m.id and
              sorted(PLACEHOLDER.findall(m.id)) != sorted(PLACEHOLDER.findall(m.string))]
    assert broken == []


def test_compiled_catalog_matches_the_po_file():
    """The .mo is committed (installs need no compile step): it must not lag behind the .po."""
    with open(CATALOG / "messages.mo", "rb") as mo:
        compiled = {m.id: m.string for m in read_mo(mo) if m.id}
    written = {m.id: m.string for m in zh_catalog() if m.id}
    assert compiled == written


@pytest.fixture
def client(app):
    """A browser that states no language (the shared client fixture asks for English)."""
    client = app.test_client()
    del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    return client


def test_login_page_is_chinese_by_default(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page
    assert ">用户名</label>" in page


def test_login_page_is_english_after_switching_and_chinese_after_switching_back(client):
    response = client.post("/language/en", data={"csrf_token": csrf_token(client), "next": "/login"})
    assert response.headers["Location"].endswith("/login")
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<h1>Sign in</h1>" in page
    client.post("/language/zh", data={"csrf_token": csrf_token(client), "next": "/login"})
    assert "<h1>登录</h1>" in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("header, heading", [("en-US,en;q=0.9", "Sign in"), ("zh-CN,zh;q=0.9", "登录"),
                                             ("fr-FR", "登录")])
def test_browser_language_is_followed_when_nothing_was_chosen(client, header, heading):
    page = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in page


def test_form_errors_from_wtforms_are_chinese_too(client, make_staff):
    page = client.post("/login", data={"csrf_token": csrf_token(client), "username": "",
                                       "password": "x"}).get_data(as_text=True)
    assert "该字段是必填字段。" in page or "此字段为必填项。" in page


def test_domain_errors_shown_to_staff_are_translated(client, make_staff):
    make_staff("clerk", username="xiaoli")
    page = client.post("/login", data={"csrf_token": csrf_token(client), "username": "xiaoli",
                                       "password": "wrong-password"}).get_data(as_text=True)
    assert "用户名或密码错误" in page


def test_signed_in_staff_sees_chinese_console_and_role(client, login):
    login("clerk")
    page = client.get("/").get_data(as_text=True)
    assert ">概览</a>" in page and ">会员</a>" in page
    assert "(收银员)" in page


def test_domain_errors_with_values_are_translated_with_their_values(client, login):
    login("manager")
    page = client.post("/keywords/builtin/join", data={"csrf_token": csrf_token(client, "/keywords/"),
                                                       "keywords": "JF"}).get_data(as_text=True)
    assert "关键词 JF 已被内置功能“积分余额”使用" in page
    page = client.post("/members/opt-outs", data={"csrf_token": csrf_token(client, "/members/opt-outs"),
                                                  "msisdn": "12345"}, follow_redirects=True).get_data(as_text=True)
    assert "不是有效的手机号码" in page or "不是手机号码" in page


def test_domain_error_messages_are_literals_the_catalog_can_hold():
    """An f-string message cannot be extracted, so it would show in English in the Chinese console."""
    import ast
    domain_errors = {"DomainError", "ValidationError", "NotFoundError", "ConflictError", "InsufficientPointsError",
                     "LoginError", "NotAllowedError", "TooManyCodesError", "TemplateError"}
    formatted = []
    for path in (CATALOG.parents[2]).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # ours, not WTForms' ValidationError: defined here or imported from mcrm
        ours = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("mcrm") for alias in node.names}
        ours |= {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in domain_errors & ours and node.args \
                    and not isinstance(node.args[0], ast.Constant):
                formatted.append(f"{path.relative_to(CATALOG.parents[3])}:{node.lineno}")
    assert not formatted, formatted
