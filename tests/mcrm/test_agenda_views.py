"""The agenda console over HTTP: day and week views, the item form with its local time, CSRF, the
roles (a clerk changes only their own items) and another merchant's items (404, never shown)."""
from datetime import datetime, UTC

import pytest

from mcrm.agenda import services
from mcrm.agenda.models import AgendaItem
from mcrm.extensions import db
from tests.conftest import csrf_token

#: 15:00 on 21 November 2026 in Shanghai
AFTERNOON = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def _item(merchant, now, actor=None, **fields):
    fields.setdefault("title", "王总来店")
    fields.setdefault("starts_at", AFTERNOON)
    item = services.create_item(merchant, now=now, actor=actor, **fields)
    db.session.commit()
    return item


def _form(client, url, **fields):
    data = {"csrf_token": csrf_token(client, url), "title": "王总来店", "starts_at": "2030-11-21T15:00",
            "repeat": "none", "remind_minutes": "30", "escalate_minutes": "15", "place": "二楼包间"}
    data.update(fields)
    return client.post(url, data=data)


@pytest.mark.parametrize("role", ["owner", "manager", "clerk"])
def test_every_role_adds_an_item_in_local_time_and_sees_it_on_the_day(client, login, merchant, role):
    staff = login(role, msisdn="13700137000")
    response = _form(client, "/agenda/new")
    assert response.status_code == 302 and "day=2030-11-21" in response.headers["Location"]
    item = db.session.scalars(db.select(AgendaItem)).one()
    assert item.starts_at == datetime(2030, 11, 21, 7, 0, tzinfo=UTC)   # 15:00 in Shanghai
    assert [s.id for s in item.staff] == [staff.id] and item.created_by_id == staff.id
    day = client.get("/agenda/?day=2030-11-21").get_data(as_text=True)
    assert f'data-item="{item.id}"' in day and "15:00" in day and "二楼包间" in day
    week = client.get("/agenda/week?day=2030-11-22").get_data(as_text=True)
    assert f'data-item="{item.id}"' in week and 'data-day="2030-11-18"' in week     # the week starts on Monday
    assert f'data-item="{item.id}"' not in client.get("/agenda/?day=2030-11-22").get_data(as_text=True)


def test_the_form_needs_the_csrf_token(client, login):
    login("owner")
    response = client.post("/agenda/new", data={"title": "王总来店", "starts_at": "2030-11-21T15:00"})
    assert response.status_code == 400 and db.session.scalar(db.select(db.func.count(AgendaItem.id))) == 0


def test_bad_input_is_refused_with_why_and_keeps_what_was_typed(client, login, make_staff):
    login("owner")
    page = _form(client, "/agenda/new", starts_at="2001-01-01T10:00").get_data(as_text=True)
    assert "That time has passed" in page and "王总来店" in page
    page = _form(client, "/agenda/new", member_msisdns="13911112222").get_data(as_text=True)
    assert "13911112222 is no member of this shop" in page
    assert db.session.scalar(db.select(db.func.count(AgendaItem.id))) == 0


def test_an_appointment_names_staff_and_members(client, login, make_staff, make_member):
    login("manager")
    waiter = make_staff("clerk", msisdn="13700137001", display_name="小李")
    member = make_member(name="王总", msisdn="13800138000")
    _form(client, "/agenda/new", staff_ids=[str(waiter.id)], member_msisdns="138 0013 8000", repeat="weekly")
    item = db.session.scalars(db.select(AgendaItem)).one()
    assert item.staff == [waiter] and item.members == [member] and item.repeat.value == "weekly"
    # a weekly item shows on every week's same weekday
    assert f'data-item="{item.id}"' in client.get("/agenda/week?day=2030-12-05").get_data(as_text=True)


def test_a_clerk_changes_only_their_own_items(client, login, merchant, make_staff, now):
    clerk = login("clerk")
    own = _item(merchant, now, actor=clerk, title="自己的")
    other = _item(merchant, now, actor=make_staff("manager"), title="店长的")
    assert client.get(f"/agenda/{other.id}").status_code == 403
    token = csrf_token(client, f"/agenda/{own.id}")
    assert client.post(f"/agenda/{other.id}/delete", data={"csrf_token": token}).status_code == 403
    day = client.get("/agenda/?day=2026-11-21").get_data(as_text=True)
    assert "店长的" in day and f'href="/agenda/{other.id}"' not in day and f'href="/agenda/{own.id}"' in day
    assert client.post(f"/agenda/{own.id}/delete", data={"csrf_token": token}).status_code == 302
    assert f'data-item="{own.id}"' not in client.get("/agenda/?day=2026-11-21").get_data(as_text=True)


def test_a_manager_edits_anyones_item_and_the_time_stays_local(client, login, merchant, make_staff, now):
    login("manager")
    item = _item(merchant, now, actor=make_staff("clerk"))
    edit = client.get(f"/agenda/{item.id}").get_data(as_text=True)
    assert 'value="2026-11-21T15:00"' in edit
    assert _form(client, f"/agenda/{item.id}", title="王总改期", starts_at="2030-11-22T10:30").status_code == 302
    db.session.refresh(item)
    assert item.title == "王总改期" and item.starts_at == datetime(2030, 11, 22, 2, 30, tzinfo=UTC)


def test_another_merchants_items_are_not_found_and_not_listed(client, login, make_merchant, make_staff, now):
    other = make_merchant(name="别家")
    theirs = _item(other, now, actor=make_staff("owner", merchant=other), title="别家的事")
    login("owner")
    assert client.get(f"/agenda/{theirs.id}").status_code == 404
    token = csrf_token(client, "/agenda/new")
    assert client.post(f"/agenda/{theirs.id}/delete", data={"csrf_token": token}).status_code == 404
    assert _form(client, f"/agenda/{theirs.id}").status_code == 404
    assert "别家的事" not in client.get("/agenda/?day=2026-11-21").get_data(as_text=True)
    assert "别家的事" not in client.get("/agenda/week?day=2026-11-21").get_data(as_text=True)
    db.session.refresh(theirs)
    assert theirs.deleted_at is None and theirs.title == "别家的事"


def test_staff_of_another_merchant_cannot_be_chosen(client, login, make_merchant, make_staff):
    other = make_merchant(name="别家")
    stranger = make_staff("clerk", merchant=other)
    login("owner")
    response = _form(client, "/agenda/new", staff_ids=[str(stranger.id)])
    assert response.status_code == 200 and "is not a valid choice" in response.get_data(as_text=True) and db.session.scalar(db.select(db.func.count(AgendaItem.id))) == 0


def test_signed_out_visitors_go_to_the_login_page(client):
    for url in ("/agenda/", "/agenda/week", "/agenda/new", "/agenda/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_agenda_is_in_chinese_by_default(client, login, merchant, now):
    login("owner")
    _item(merchant, now)
    page = client.get("/agenda/?day=2026-11-21", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "日程" in page and "新建事项" in page
