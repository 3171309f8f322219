"""The owner's staff pages: roles, CSRF, other merchants' staff, and the owner's own account."""
import pytest

from mcrm.auth.models import Staff
from tests.conftest import csrf_token


@pytest.fixture
def owner(login):
    return login("owner")


def post(client, url, data, token_url="/staff/"):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, token_url)})


@pytest.mark.parametrize("role", ["manager", "clerk"])
@pytest.mark.parametrize("method, url", [
    ("get", "/staff/"), ("get", "/staff/new"), ("post", "/staff/new"), ("get", "/staff/{id}"),
    ("post", "/staff/{id}/password"), ("post", "/staff/{id}/deactivate"), ("post", "/staff/{id}/activate"),
    ("post", "/staff/{id}/sessions/end"),
])
def test_only_owners_may_manage_staff(client, login, make_staff, role, method, url):
    colleague = make_staff("clerk")
    login(role)
    kwargs = {"data": {"csrf_token": csrf_token(client, "/")}} if method == "post" else {}
    response = getattr(client, method)(url.format(id=colleague.id), **kwargs)
    assert response.status_code == 403


def test_staff_list_shows_the_merchants_staff_only(client, owner, make_staff, make_merchant):
    make_staff("clerk", username="xiaoli")
    make_staff("owner", merchant=make_merchant(), username="elsewhere")
    page = client.get("/staff/").get_data(as_text=True)
    assert 'data-staff="xiaoli"' in page
    assert f'data-staff="{owner.username}"' in page
    assert "elsewhere" not in page


def test_owner_creates_a_clerk_with_a_trusted_number_who_can_sign_in(client, owner, db):
    response = post(client, "/staff/new", {"username": "XiaoZhang", "password": "long-enough-9",
                                            "display_name": "收银员小张", "role": "clerk",
                                            "msisdn": "139 0013 9001"})
    assert response.status_code == 302
    staff = db.session.query(Staff).filter_by(username="xiaozhang").one()
    assert (staff.merchant_id, staff.role, staff.msisdn) == (owner.merchant_id, "clerk", "+8613900139001")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    signed_in = client.post("/login", data={"username": "xiaozhang", "password": "long-enough-9",
                                            "csrf_token": csrf_token(client)})
    assert signed_in.status_code == 302


@pytest.mark.parametrize("fields, message", [
    ({"username": "bad name!"}, "Username must be letters, digits"),
    ({"password": "short"}, "Field must be between 8 and 200 characters long."),
    ({"msisdn": "12345"}, "Not a valid phone number"),
])
def test_bad_new_staff_is_refused_with_a_clear_error_and_the_form_kept(client, owner, db, fields, message):
    data = {"username": "xiaozhang", "password": "long-enough-9", "role": "clerk", "display_name": "小张",
            **fields}
    response = post(client, "/staff/new", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert 'value="小张"' in page
    assert db.session.query(Staff).count() == 1


def test_a_taken_username_or_trusted_number_is_refused(client, owner, make_staff, make_merchant, db):
    make_staff("clerk", username="taken", msisdn="13900139002")
    response = post(client, "/staff/new", {"username": "taken", "password": "long-enough-9", "role": "clerk"})
    assert "Username taken is taken" in response.get_data(as_text=True)
    response = post(client, "/staff/new", {"username": "fresh", "password": "long-enough-9", "role": "clerk",
                                            "msisdn": "13900139002"})
    assert "Another staff account already uses this phone number" in response.get_data(as_text=True)
    assert db.session.query(Staff).filter_by(username="fresh").count() == 0


def test_forms_without_csrf_token_change_nothing(client, owner, make_staff, db):
    clerk = make_staff("clerk")
    assert client.post("/staff/new", data={"username": "sneaky", "password": "long-enough-9",
                                           "role": "owner"}).status_code == 400
    assert client.post(f"/staff/{clerk.id}/deactivate").status_code == 400
    assert client.post(f"/staff/{clerk.id}", data={"role": "owner"}).status_code == 400
    db.session.refresh(clerk)
    assert clerk.is_active and clerk.role == "clerk"
    assert db.session.query(Staff).filter_by(username="sneaky").count() == 0


@pytest.mark.parametrize("method, url", [
    ("get", "/staff/{id}"), ("post", "/staff/{id}"), ("post", "/staff/{id}/password"),
    ("post", "/staff/{id}/deactivate"), ("post", "/staff/{id}/activate"), ("post", "/staff/{id}/sessions/end"),
])
def test_another_merchants_staff_is_not_found(client, owner, make_staff, make_merchant, db, method, url):
    stranger = make_staff("clerk", merchant=make_merchant())
    kwargs = {"data": {"csrf_token": csrf_token(client, "/staff/"), "role": "owner",
                       "password": "long-enough-9", "confirm": "long-enough-9"}} if method == "post" else {}
    response = getattr(client, method)(url.format(id=stranger.id), **kwargs)
    assert response.status_code == 404
    db.session.refresh(stranger)
    assert stranger.is_active and stranger.role == "clerk"


def test_owner_changes_a_role_and_trusted_number(client, owner, make_staff, db):
    clerk = make_staff("clerk")
    response = post(client, f"/staff/{clerk.id}", {"role": "manager", "display_name": "店长", "msisdn": ""})
    assert response.status_code == 302
    db.session.refresh(clerk)
    assert (clerk.role, clerk.display_name, clerk.msisdn) == ("manager", "店长", None)


def test_owner_cannot_lower_their_own_role(client, owner, db):
    response = post(client, f"/staff/{owner.id}", {"role": "clerk", "display_name": "x"})
    assert "You cannot change your own role" in response.get_data(as_text=True)
    db.session.refresh(owner)
    assert owner.role == "owner"


def test_deactivated_staff_is_signed_out_and_cannot_sign_in_until_reactivated(app, client, owner, make_staff):
    clerk = make_staff("clerk")
    clerk_client = app.test_client()
    clerk_client.post("/login", data={"username": clerk.username, "password": "correct-horse-1",
                                      "csrf_token": csrf_token(clerk_client)})
    assert clerk_client.get("/").status_code == 200

    assert post(client, f"/staff/{clerk.id}/deactivate", {}).status_code == 302
    assert clerk_client.get("/").status_code == 302  # the open session ends
    refused = clerk_client.post("/login", data={"username": clerk.username, "password": "correct-horse-1",
                                                "csrf_token": csrf_token(clerk_client)})
    assert refused.status_code == 200

    post(client, f"/staff/{clerk.id}/activate", {})
    fresh = app.test_client()
    again = fresh.post("/login", data={"username": clerk.username, "password": "correct-horse-1",
                                       "csrf_token": csrf_token(fresh)})
    assert again.status_code == 302


def test_owner_cannot_deactivate_themselves(client, owner, db):
    response = post(client, f"/staff/{owner.id}/deactivate", {})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You cannot deactivate your own account" in page
    db.session.refresh(owner)
    assert owner.is_active
    assert 'data-action="deactivate"' not in page


def test_owner_resets_a_password_which_also_lifts_a_lockout(app, client, owner, make_staff, db, now):
    clerk = make_staff("clerk")
    clerk.locked_until, clerk.failed_logins = now.replace(year=2099), 3
    db.session.commit()
    response = post(client, f"/staff/{clerk.id}/password",
                    {"password": "brand-new-pass", "confirm": "brand-new-pass"})
    assert response.status_code == 302
    other = app.test_client()
    signed_in = other.post("/login", data={"username": clerk.username, "password": "brand-new-pass",
                                           "csrf_token": csrf_token(other)})
    assert signed_in.status_code == 302


def test_password_reset_with_mismatched_repeat_changes_nothing(client, owner, make_staff, db):
    clerk = make_staff("clerk")
    old_hash = clerk.password_hash
    response = post(client, f"/staff/{clerk.id}/password",
                    {"password": "brand-new-pass", "confirm": "other-pass-1"})
    assert response.status_code == 200
    assert "The passwords differ." in response.get_data(as_text=True)
    db.session.refresh(clerk)
    assert clerk.password_hash == old_hash


@pytest.mark.parametrize("role", ["owner", "manager", "clerk"])
def test_every_staff_sets_their_own_language(client, login, db, role):
    staff = login(role)
    response = post(client, "/staff/me", {"locale": "en"}, token_url="/staff/me")
    assert response.status_code == 302
    db.session.refresh(staff)
    assert staff.locale == "en"
    assert '<html lang="en"' in client.get("/").get_data(as_text=True)
    post(client, "/staff/me", {"locale": ""}, token_url="/staff/me")
    db.session.refresh(staff)
    assert staff.locale is None
