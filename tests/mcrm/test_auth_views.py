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
