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


def test_wrong_passwords_lock_the_account(client, make_staff, db):
    staff = make_staff()
    for _ in range(5):
        client.post("/login", data={"username": staff.username, "password": "wrong-password",
                                    "csrf_token": csrf_token(client)})
    response = client.post("/login", data={"username": staff.username, "password": "correct-horse-1",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 200
    assert "locked" in response.get_data(as_text=True) or "锁定" in response.get_data(as_text=True)
    db.session.refresh(staff)
    assert staff.locked_until is not None


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
