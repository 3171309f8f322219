import re
import statistics
import time
from datetime import timedelta

import pytest

from mcrm.auth.services import LoginError, authenticate
from tests.conftest import csrf_token


def test_login_with_right_password_shows_dashboard(client, make_staff):
    staff = make_staff("clerk", username="xiaoli")
    response = client.post("/login", data={"username": "XiaoLi", "password": "correct-horse-1",
                                           "csrf_token": csrf_token(client)}, follow_redirects=True)
    assert response.status_code == 200
    assert staff.display_name in response.get_data(as_text=True)


def test_login_form_without_csrf_token_is_refused(client, make_staff):
    staff = make_staff()
    response = client.post("/login", data={"username": staff.username, "password": "correct-horse-1"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # still signed out


def _try(client, username, password, address="10.0.0.9"):
    """Post the login form from ``address``; the flash error shown (None when signed in)."""
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_token(client)},
                           environ_base={"REMOTE_ADDR": address})
    if response.status_code == 302:
        client.delete_cookie("session")  # signed in: start the next try signed out
        return None
    return re.search(r'class="flash error"[^>]*>([^<]*)<', response.get_data(as_text=True)).group(1)


def test_wrong_passwords_lock_the_username_from_that_address_only(client, make_staff):
    """Before, five wrong passwords from anywhere locked the owner out everywhere."""
    owner = make_staff("owner")
    for _ in range(5):
        assert _try(client, owner.username, "wrong-password", address="10.0.0.9") == "Wrong username or password"
    locked = _try(client, owner.username, "correct-horse-1", address="10.0.0.9")
    assert locked == "Too many wrong passwords from here: try again in 15 minutes"
    assert _try(client, owner.username, "correct-horse-1", address="192.168.1.20") is None  # the owner's shop


def test_a_locked_username_answers_like_an_unknown_one(client, make_staff):
    """Before, a locked account said so, and an unknown username never did: usernames could be listed."""
    owner = make_staff("owner")
    answers = {}
    for username in (owner.username, "nobody-here"):
        answers[username] = [_try(client, username, "wrong-password") for _ in range(6)]
    assert answers[owner.username] == answers["nobody-here"]
    assert answers["nobody-here"][-1].startswith("Too many wrong passwords")


def test_a_locked_username_takes_as_long_to_answer_as_an_unknown_one(client, make_staff):
    """Before, a locked account answered without hashing: several times faster than an unknown one."""
    owner = make_staff("owner")
    for _ in range(5):
        _try(client, owner.username, "wrong-password")

    def median_seconds(username):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            _try(client, username, "wrong-password", address="10.0.0.9")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    _try(client, "nobody-here", "wrong-password", address="10.0.0.10")  # warm the dummy hash up
    locked, unknown = median_seconds(owner.username), median_seconds("nobody-here")
    assert 0.5 < locked / unknown < 2, (locked, unknown)


def test_one_address_guessing_many_usernames_is_refused_for_all_of_them(client, make_staff):
    owner = make_staff("owner")
    for number in range(20):
        _try(client, f"guess{number}", "wrong-password", address="10.0.0.66")
    assert _try(client, owner.username, "correct-horse-1", address="10.0.0.66").startswith("Too many")
    assert _try(client, owner.username, "correct-horse-1", address="10.0.0.1") is None


def test_a_lock_ends_after_the_lockout_window(db, make_staff, now):
    owner = make_staff("owner")
    options = dict(address="10.0.0.9", lockout_after=5, lockout_minutes=15)
    for _ in range(5):
        with pytest.raises(LoginError):
            authenticate(owner.username, "wrong-password", now=now, **options)
    with pytest.raises(LoginError, match="Too many"):
        authenticate(owner.username, "correct-horse-1", now=now + timedelta(minutes=14), **options)
    assert authenticate(owner.username, "correct-horse-1", now=now + timedelta(minutes=15), **options) == owner


def test_console_pages_need_login(client):
    response = client.get("/members/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_attempts_are_rate_limited_per_address(settings, make_staff, db):
    from dataclasses import replace
    from mcrm import create_app
    app = create_app(replace(settings, login_rate_limit="3 per minute"))
    client = app.test_client()
    username = make_staff().username
    db.session.commit()  # release SQLite's lock: the second app writes to the same file
    statuses = []
    for _ in range(4):
        token = csrf_token(client)
        statuses.append(client.post("/login", data={"username": username, "password": "nope-nope",
                                                    "csrf_token": token}).status_code)
    assert statuses == [200, 200, 200, 429]


def test_unknown_user_gets_the_same_message_as_a_wrong_password(client, make_staff):
    staff = make_staff()
    wrong = client.post("/login", data={"username": staff.username, "password": "nope-nope",
                                        "csrf_token": csrf_token(client)}).get_data(as_text=True)
    unknown = client.post("/login", data={"username": "nobody", "password": "nope-nope",
                                          "csrf_token": csrf_token(client)}).get_data(as_text=True)
    assert "Wrong username or password" in wrong or "用户名或密码错误" in wrong
    assert wrong.count("flash error") == unknown.count("flash error") == 1


def test_session_cookie_is_httponly_and_lax(client, make_staff):
    staff = make_staff()
    response = client.post("/login", data={"username": staff.username, "password": "correct-horse-1",
                                           "csrf_token": csrf_token(client)})
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_open_redirect_after_login_is_refused(client, make_staff):
    staff = make_staff()
    response = client.post("/login?next=//evil.example/x", data={
        "username": staff.username, "password": "correct-horse-1", "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/"
