"""Ending a staff member's sessions: password changes, deactivation, role changes, "sign out everywhere".

Each test opens several test clients for the same staff, like a shop PC and a (lost) phone.
"""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.auth import services
from mcrm.auth.models import StaffSession
from mcrm.auth.services import NotAllowedError
from mcrm.core.errors import ValidationError
from tests.conftest import csrf_token

ENDED = "Your session ended: please sign in again."


def sign_in(client, staff, password="correct-horse-1", remember=False):
    data = {"username": staff.username, "password": password, "csrf_token": csrf_token(client)}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302
    return client


def post(client, url, data=None, token_url="/staff/me"):
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client, token_url)})


def is_signed_in(client) -> bool:
    return client.get("/").status_code == 200


@pytest.fixture
def new_client(app):
    return app.test_client


@pytest.fixture
def owner(client, login):
    return login("owner")


def test_changing_my_password_signs_out_my_other_sessions_but_not_this_one(new_client, make_staff, db):
    clerk = make_staff("clerk")
    shop_pc, phone = sign_in(new_client(), clerk), sign_in(new_client(), clerk)
    response = post(shop_pc, "/staff/me/password", {"current_password": "correct-horse-1",
                                                     "password": "brand-new-pass",
                                                     "confirm": "brand-new-pass"})
    assert response.status_code == 302
    assert is_signed_in(shop_pc)
    assert not is_signed_in(phone)
    sign_in(new_client(), clerk, password="brand-new-pass")


def test_a_wrong_current_password_changes_nothing_and_keeps_every_session(new_client, make_staff, db):
    clerk = make_staff("clerk")
    shop_pc, phone = sign_in(new_client(), clerk), sign_in(new_client(), clerk)
    old_hash = clerk.password_hash
    response = post(shop_pc, "/staff/me/password", {"current_password": "not-my-password",
                                                     "password": "brand-new-pass",
                                                     "confirm": "brand-new-pass"})
    assert response.status_code == 200
    assert "Your current password is wrong" in response.get_data(as_text=True)
    db.session.refresh(clerk)
    assert clerk.password_hash == old_hash
    assert is_signed_in(shop_pc) and is_signed_in(phone)


def test_the_owner_resetting_a_password_signs_the_staff_out_everywhere(client, owner, new_client, make_staff):
    clerk = make_staff("clerk")
    phone = sign_in(new_client(), clerk)
    response = post(client, f"/staff/{clerk.id}/password", {"password": "brand-new-pass",
                                                            "confirm": "brand-new-pass"}, token_url="/staff/")
    assert response.status_code == 302
    assert not is_signed_in(phone)
    assert is_signed_in(client)


def test_a_deactivated_then_reactivated_account_does_not_revive_its_old_sessions(client, owner, new_client,
                                                                               make_staff):
    clerk = make_staff("clerk")
    phone = sign_in(new_client(), clerk)
    post(client, f"/staff/{clerk.id}/deactivate", token_url="/staff/")
    post(client, f"/staff/{clerk.id}/activate", token_url="/staff/")
    assert not is_signed_in(phone)
    assert is_signed_in(sign_in(phone, clerk))  # signing in again works


def test_a_role_change_signs_the_staff_out_but_a_name_change_does_not(client, owner, new_client, make_staff):
    clerk = make_staff("clerk")
    phone = sign_in(new_client(), clerk)
    post(client, f"/staff/{clerk.id}", {"role": "clerk", "display_name": "小李"}, token_url="/staff/")
    assert is_signed_in(phone)
    post(client, f"/staff/{clerk.id}", {"role": "manager", "display_name": "小李"}, token_url="/staff/")
    assert not is_signed_in(phone)


def test_sign_out_everywhere_from_my_page_keeps_this_session_only(new_client, make_staff):
    clerk = make_staff("clerk")
    shop_pc, phone = sign_in(new_client(), clerk), sign_in(new_client(), clerk)
    assert 'data-action="sign-out-everywhere"' in shop_pc.get("/staff/me").get_data(as_text=True)
    response = post(shop_pc, "/staff/me/sessions/end")
    assert response.status_code == 302
    page = shop_pc.get(response.headers["Location"]).get_data(as_text=True)
    assert "Signed out on every other device" in page
    assert is_signed_in(shop_pc)
    assert not is_signed_in(phone)


def test_owner_signs_a_staff_out_everywhere_from_the_staff_list(client, owner, new_client, make_staff):
    clerk = make_staff("clerk")
    shop_pc, phone = sign_in(new_client(), clerk), sign_in(new_client(), clerk)
    page = client.get("/staff/").get_data(as_text=True)
    assert f'action="/staff/{clerk.id}/sessions/end"' in page
    response = post(client, f"/staff/{clerk.id}/sessions/end", token_url="/staff/")
    assert response.status_code == 302
    assert not is_signed_in(shop_pc) and not is_signed_in(phone)
    assert is_signed_in(client)


def test_owner_signing_their_own_row_out_keeps_this_browser_only(client, owner, new_client):
    phone = sign_in(new_client(), owner)
    response = post(client, f"/staff/{owner.id}/sessions/end", token_url="/staff/")
    assert "Signed out on every other device" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert not is_signed_in(phone)


def test_a_remembered_device_is_signed_out_too(new_client, make_staff, client, owner):
    clerk = make_staff("clerk")
    phone = sign_in(new_client(), clerk, remember=True)
    phone.delete_cookie("session")  # the browser was closed: only the remember-me cookie is left
    assert is_signed_in(phone)
    post(client, f"/staff/{clerk.id}/sessions/end", token_url="/staff/")
    phone.delete_cookie("session")
    assert not is_signed_in(phone)
    assert phone.get_cookie("remember_token") is None  # and the dead cookie is removed


def test_signing_out_ends_the_remember_me_cookie(new_client, make_staff):
    clerk = make_staff("clerk")
    phone = sign_in(new_client(), clerk, remember=True)
    response = phone.post("/logout", data={"csrf_token": csrf_token(phone, "/")})
    assert phone.get_cookie("remember_token") is None
    assert ENDED not in phone.get(response.headers["Location"]).get_data(as_text=True)  # no false alarm
    assert not is_signed_in(phone)


def test_my_own_password_change_keeps_this_device_remembered(new_client, make_staff):
    clerk = make_staff("clerk")
    shop_pc = sign_in(new_client(), clerk, remember=True)
    post(shop_pc, "/staff/me/password", {"current_password": "correct-horse-1",
                                         "password": "brand-new-pass", "confirm": "brand-new-pass"})
    shop_pc.delete_cookie("session")
    assert is_signed_in(shop_pc)


def test_an_ended_session_lands_on_the_login_page_with_a_message_and_keeps_the_rest(owner, client, new_client,
                                                                                  make_staff):
    clerk = make_staff("clerk")
    phone = sign_in(new_client(), clerk)
    phone.post("/language/en", data={"csrf_token": csrf_token(phone, "/")})
    post(client, f"/staff/{clerk.id}/sessions/end", token_url="/staff/")

    response = phone.get("/members/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = phone.get(response.headers["Location"]).get_data(as_text=True)
    assert page.count(ENDED) == 1
    assert '<html lang="en"' in page
    assert ENDED not in phone.get("/login").get_data(as_text=True)  # said once, not on every page
    again = phone.post(response.headers["Location"], data={
        "username": clerk.username, "password": "correct-horse-1", "csrf_token": csrf_token(phone)})
    assert again.headers["Location"] == "/members/"


def test_a_clerk_cannot_sign_out_another_staff(client, login, new_client, make_staff, db):
    colleague = make_staff("clerk")
    phone = sign_in(new_client(), colleague)
    login("clerk")
    response = client.post(f"/staff/{colleague.id}/sessions/end",
                           data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 403
    assert is_signed_in(phone)


def test_another_merchants_staff_cannot_be_signed_out(client, owner, new_client, make_staff, make_merchant):
    stranger = make_staff("clerk", merchant=make_merchant())
    phone = sign_in(new_client(), stranger)
    response = post(client, f"/staff/{stranger.id}/sessions/end", token_url="/staff/")
    assert response.status_code == 404
    assert is_signed_in(phone)


def test_the_new_forms_need_a_csrf_token(new_client, make_staff, db):
    clerk = make_staff("clerk")
    shop_pc, phone = sign_in(new_client(), clerk), sign_in(new_client(), clerk)
    assert shop_pc.post("/staff/me/sessions/end").status_code == 400
    assert shop_pc.post("/staff/me/password", data={"current_password": "correct-horse-1",
                                                    "password": "brand-new-pass",
                                                    "confirm": "brand-new-pass"}).status_code == 400
    assert is_signed_in(phone)


def test_a_session_id_without_a_live_session_is_refused(db, make_staff, now):
    clerk = make_staff("clerk")
    services.start_session(clerk, now=now, max_age=timedelta(days=365))
    assert services.find_staff_for_session(clerk.get_id()) == clerk
    for stale in (str(clerk.id), f"{clerk.id}:1", f"{clerk.id}:{clerk.session_token}x", "x:1",
                  f"{clerk.id + 1}:{clerk.session_token}", ""):
        assert services.find_staff_for_session(stale) is None


def test_signing_out_kills_a_copied_session_cookie(new_client, make_staff):
    """Before, sign-out only cleared this browser's cookie: a copy of it stayed signed in."""
    clerk = make_staff("clerk")
    browser = sign_in(new_client(), clerk)
    thief = new_client()
    thief.set_cookie("session", browser.get_cookie("session").value)
    assert is_signed_in(thief)
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/")})
    assert not is_signed_in(thief)
    assert is_signed_in(sign_in(new_client(), clerk))  # the account itself still signs in


def test_signing_out_kills_a_copied_remember_me_cookie_and_keeps_other_devices(new_client, make_staff):
    clerk = make_staff("clerk")
    browser, other_device = sign_in(new_client(), clerk, remember=True), sign_in(new_client(), clerk)
    thief = new_client()
    thief.set_cookie("remember_token", browser.get_cookie("remember_token").value)
    assert is_signed_in(thief)
    thief.delete_cookie("session")
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/")})
    assert not is_signed_in(thief)
    assert is_signed_in(other_device)  # signing out here is not signing out everywhere


def test_old_sessions_of_a_staff_are_dropped_when_they_sign_in_again(db, make_staff, now):
    clerk = make_staff("clerk")
    services.start_session(clerk, now=now - timedelta(days=400), max_age=timedelta(days=365))
    old = clerk.get_id()
    services.start_session(clerk, now=now, max_age=timedelta(days=365))
    assert services.find_staff_for_session(old) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 1


def test_only_the_staff_or_their_owner_may_end_their_sessions(db, make_staff, make_merchant):
    clerk, manager, owner = make_staff("clerk"), make_staff("manager"), make_staff("owner")
    foreign_owner = make_staff("owner", merchant=make_merchant())
    for actor in (manager, foreign_owner):
        with pytest.raises(NotAllowedError):
            services.sign_out_everywhere(clerk, actor=actor)
    services.sign_out_everywhere(clerk, actor=clerk)
    services.start_session(clerk, now=clerk.created_at, max_age=timedelta(days=1))
    services.sign_out_everywhere(clerk, actor=owner)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 0


def test_changing_my_password_checks_the_current_one(db, make_staff):
    clerk = make_staff("clerk")
    with pytest.raises(ValidationError):
        services.change_own_password(clerk, current_password="wrong-wrong", new_password="brand-new-pass")
    services.change_own_password(clerk, current_password="correct-horse-1", new_password="brand-new-pass")
    assert services.authenticate(clerk.username, "brand-new-pass", address="10.0.0.1", now=clerk.created_at,
                                 lockout_after=5, lockout_minutes=15) == clerk


def test_an_owner_cannot_reset_their_own_password_without_the_current_one(client, owner, db):
    """Before, the staff page's reset form took a new owner password without the current one."""
    page = client.get(f"/staff/{owner.id}").get_data(as_text=True)
    assert f'action="/staff/{owner.id}/password"' not in page and 'href="/staff/me"' in page
    old_hash = owner.password_hash
    response = post(client, f"/staff/{owner.id}/password", {"password": "taken-over-1", "confirm": "taken-over-1"},
                    token_url="/staff/")
    assert response.status_code == 200
    assert "Change your own password on your preferences page" in response.get_data(as_text=True)
    db.session.refresh(owner)
    assert owner.password_hash == old_hash
    with pytest.raises(NotAllowedError):
        services.reset_password(owner, "taken-over-1", actor=owner)
