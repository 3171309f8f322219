"""The request log: one line per request with method, path, status and time; no phone number, no
query value that could be a secret, no body. (tests/mcrm/test_startup.py reads it from `mcrm run`.)"""
import logging
import re

import pytest

from mcrm.web import loggable_target


@pytest.fixture
def request_lines(caplog):
    caplog.set_level(logging.INFO, logger="mcrm.requests")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "mcrm.requests"]


def test_each_request_is_one_line_once_its_body_is_sent(client, request_lines):
    client.get("/login").close()
    client.post("/login", data={"username": "boss", "password": "correct-horse-1"}).close()  # no CSRF: 400
    client.get("/no-such-page").close()
    lines = request_lines()
    assert len(lines) == 3, lines
    assert re.fullmatch(r"GET /login 200 \d+ms", lines[0])
    assert re.fullmatch(r"POST /login 400 \d+ms", lines[1])
    assert re.fullmatch(r"GET /no-such-page 404 \d+ms", lines[2])
    assert "correct-horse-1" not in " ".join(lines)


@pytest.mark.parametrize("path, query, shown", [
    ("/members/", "", "/members/"),
    ("/members/42", "", "/members/42"),
    ("/conversations/+8613800138000", "", "/conversations/+86138****8000"),
    ("/members/\xe5\xbc\xa0\xe4\xb8\x89", "", "/members/张三"),      # PATH_INFO: UTF-8 read as Latin-1
    ("/members/", "13800138000=1", "/members/?138****8000=…"),
    ("/members/", "q=13800138000&after=120", "/members/?q=…&after=120"),
    ("/login", "next=/members/&code=483920&token=abc", "/login?next=…&code=…&token=…"),
    ("/messages/", "before=13800138000", "/messages/?before=138****8000"),
])
def test_numbers_are_masked_and_query_values_left_out(path, query, shown):
    assert loggable_target(path, query) == shown
