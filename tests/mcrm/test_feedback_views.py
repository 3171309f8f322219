"""The feedback desk over HTTP: the inbox and its filters, a ticket's page and thread, replies,
notes, statuses, assignment, tickets typed in; roles, CSRF and another merchant's tickets (404)."""
import re
from datetime import timedelta

import pytest

from mcrm.core.clock import now_utc
from mcrm.extensions import db
from mcrm.feedback import services
from mcrm.feedback.models import FeedbackTicket, TicketEntry
from mcrm.messaging.models import OutboundMessage
from tests.conftest import csrf_token


def _ticket(merchant, *, kind="complaint", text="菜品偏咸", msisdn="+8613800138000", at=None):
    ticket = services.open_ticket(merchant, msisdn=msisdn, kind=kind, text=text, now=at or now_utc())
    db.session.commit()
    return ticket


def _post(client, url, page, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, page), **data})


@pytest.mark.parametrize("role", ["owner", "manager", "clerk"])
def test_every_role_opens_a_ticket_from_the_console_and_finds_it_in_the_inbox(client, login, make_member, role):
    staff = login(role)
    member = make_member(msisdn="13800138000", name="王先生")
    response = _post(client, "/feedback/new", "/feedback/new", msisdn="138 0013 8000", kind="complaint",
                     text="电话投诉：上菜太慢", assignee_id="0")
    ticket = db.session.scalars(db.select(FeedbackTicket)).one()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/feedback/{ticket.id}")
    assert (ticket.member_id, ticket.created_by_id, ticket.status, ticket.msisdn) == (
        member.id, staff.id, "new", "+8613800138000")
    assert ticket.due_at == ticket.received_at + timedelta(hours=2)   # complaints: 2 hours by default
    inbox = client.get("/feedback/").get_data(as_text=True)
    assert f'data-ticket="{ticket.id}"' in inbox and "电话投诉" in inbox


def test_bad_input_is_refused_with_why_and_keeps_what_was_typed(client, login):
    login("clerk")
    page = _post(client, "/feedback/new", "/feedback/new", msisdn="12345", kind="complaint", text="上菜太慢",
                 assignee_id="0").get_data(as_text=True)
    assert "上菜太慢" in page and 'class="flash error"' in page
    assert db.session.scalar(db.select(db.func.count(FeedbackTicket.id))) == 0


def test_forms_need_the_csrf_token(client, login, merchant):
    login("owner")
    ticket = _ticket(merchant)
    assert client.post("/feedback/new", data={"msisdn": "13800138000", "kind": "complaint",
                                              "text": "x"}).status_code == 400
    for action, data in (("reply", {"body": "您好"}), ("note", {"body": "记一下"}), ("status", {"status": "closed"}),
                         ("assign", {"assignee_id": "0"})):
        assert client.post(f"/feedback/{ticket.id}/{action}", data=data).status_code == 400
    db.session.refresh(ticket)
    assert ticket.status == "new" and db.session.scalar(db.select(db.func.count(TicketEntry.id))) == 0


def test_the_ticket_page_shows_the_thread_both_ways_and_notes(client, login, merchant):
    clerk = login("clerk", display_name="小李")
    ticket = _ticket(merchant, text="菜品偏咸")
    services.add_member_text(ticket, text="而且上菜慢", now=now_utc())
    db.session.commit()
    page = f"/feedback/{ticket.id}"
    assert _post(client, f"{page}/reply", page, body="抱歉，已转告厨师").status_code == 302
    assert _post(client, f"{page}/note", page, body="客人是老会员").status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert html.index("菜品偏咸") < html.index("而且上菜慢") < html.index("抱歉，已转告厨师") < html.index("客人是老会员")
    assert 'data-entry="reply"' in html and 'data-entry="note"' in html and "小李" in html
    sms = db.session.scalars(db.select(OutboundMessage)).one()
    assert sms.msisdn == ticket.msisdn and sms.kind == "transactional" and sms.body == "抱歉，已转告厨师"
    db.session.refresh(ticket)
    assert ticket.status == "in_progress" and ticket.first_response_at is not None
    entry = db.session.scalars(db.select(TicketEntry).where(TicketEntry.kind == "reply")).one()
    assert entry.outbound_message_id == sms.id and entry.staff_id == clerk.id


def test_a_reply_submitted_twice_is_sent_once(client, login, merchant):
    login("clerk")
    ticket = _ticket(merchant)
    page = f"/feedback/{ticket.id}"
    html = client.get(page).get_data(as_text=True)
    form = {"csrf_token": csrf_token(client, page),
            "request_id": re.search(r'name="request_id" type="hidden" value="(\w+)"', html).group(1)}
    for _click in range(2):                         # a double click, or the browser resending the POST
        assert client.post(f"{page}/reply", data={**form, "body": "抱歉，已转告厨师"}).status_code == 302
    assert db.session.scalar(db.select(db.func.count(OutboundMessage.id))) == 1
    assert db.session.scalar(db.select(db.func.count(TicketEntry.id))) == 1
    # the same form sent back with another text (the back button) is another reply, not lost
    client.post(f"{page}/reply", data={**form, "body": "明天给您回电"})
    assert db.session.scalars(db.select(OutboundMessage.body).order_by(OutboundMessage.id)).all() == [
        "抱歉，已转告厨师", "明天给您回电"]
    # and the page after a reply carries a fresh key
    assert form["request_id"] not in client.get(page).get_data(as_text=True)


def test_statuses_go_new_in_progress_resolved_closed(client, login, merchant):
    login("clerk")
    ticket = _ticket(merchant)
    page = f"/feedback/{ticket.id}"
    for status in ("in_progress", "resolved", "closed"):
        assert _post(client, f"{page}/status", page, status=status).status_code == 302
        db.session.refresh(ticket)
        assert ticket.status == status
    assert ticket.resolved_at is not None and ticket.closed_at is not None
    # closed is final: no reply form, and a forged move is refused with why
    html = client.get(page).get_data(as_text=True)
    assert f'action="{page}/reply"' not in html
    _post(client, f"{page}/status", page, status="in_progress")
    db.session.refresh(ticket)
    assert ticket.status == "closed"
    assert "cannot become" in client.get(page).get_data(as_text=True)


def test_managers_assign_and_clerks_cannot(client, login, merchant, make_staff):
    waiter = make_staff("clerk", display_name="小张")
    ticket = _ticket(merchant)
    page = f"/feedback/{ticket.id}"
    login("clerk")
    assert _post(client, f"{page}/assign", page, assignee_id=str(waiter.id)).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, page)})
    login("manager")
    assert _post(client, f"{page}/assign", page, assignee_id=str(waiter.id)).status_code == 302
    db.session.refresh(ticket)
    assert (ticket.assignee_id, ticket.status) == (waiter.id, "in_progress")   # someone works on it now
    assert f'data-ticket="{ticket.id}"' in client.get(f"/feedback/?assignee={waiter.id}").get_data(as_text=True)
    assert f'data-ticket="{ticket.id}"' not in client.get("/feedback/?assignee=none").get_data(as_text=True)


def test_staff_of_another_merchant_cannot_be_assigned(client, login, merchant, make_merchant, make_staff):
    stranger = make_staff("clerk", merchant=make_merchant(name="别家"))
    ticket = _ticket(merchant)
    login("owner")
    page = f"/feedback/{ticket.id}"
    assert _post(client, f"{page}/assign", page, assignee_id=str(stranger.id)).status_code == 400
    db.session.refresh(ticket)
    assert ticket.assignee_id is None


def test_the_inbox_filters_by_kind_status_and_overdue_and_highlights_overdue(client, login, merchant):
    login("clerk")
    late = _ticket(merchant, kind="complaint", text="迟到的投诉", at=now_utc() - timedelta(hours=3))
    idea = _ticket(merchant, kind="suggestion", text="多放点辣")
    done = _ticket(merchant, kind="praise", text="服务很好")
    services.move_ticket(done, merchant, to="closed", now=now_utc())
    db.session.commit()

    def shown(query):
        html = client.get(f"/feedback/{query}").get_data(as_text=True)
        return {t.id for t in (late, idea, done) if f'data-ticket="{t.id}"' in html}, html

    ids, html = shown("")
    assert ids == {late.id, idea.id} and f'<tr data-ticket="{late.id}" class="overdue">' in html
    assert f'<tr data-ticket="{idea.id}">' in html
    assert shown("?kind=suggestion")[0] == {idea.id}
    assert shown("?status=closed")[0] == {done.id}
    assert shown("?status=all")[0] == {late.id, idea.id, done.id}
    assert shown("?overdue=1")[0] == {late.id}


def _walk_inbox(client, url):
    """Follow the inbox's next-page links from ``url``: the ticket ids of each page."""
    pages = []
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append([int(i) for i in re.findall(r'<tr data-ticket="(\d+)"', html)])
        found = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = found and found.group(1).replace("&amp;", "&")
    return pages


def test_the_inbox_pages_past_its_first_page_keeping_the_filters(client, login, merchant):
    login("clerk")
    start = now_utc() - timedelta(hours=5)
    complaints = [_ticket(merchant, kind="complaint", text=f"投诉{n}", at=start + timedelta(minutes=n))
                  for n in range(services.INBOX_PAGE * 2 + 30)]
    ideas = [_ticket(merchant, kind="suggestion", text=f"建议{n}") for n in range(5)]
    # the later complaints are not overdue yet: their 2 hours are not up
    overdue = [t.id for t in complaints if t.is_overdue(now_utc())]
    assert 0 < len(overdue) < len(complaints)
    pages = _walk_inbox(client, "/feedback/?kind=complaint")
    assert [len(p) for p in pages] == [services.INBOX_PAGE, services.INBOX_PAGE, 30]
    seen = [i for page in pages for i in page]
    assert seen == sorted(overdue, reverse=True) + sorted(set(t.id for t in complaints) - set(overdue), reverse=True)
    assert not set(seen) & {t.id for t in ideas}          # the kind filter holds on every page
    html = client.get("/feedback/?kind=complaint").get_data(as_text=True)
    assert "kind=complaint" in re.search(r'<a rel="next" href="([^"]+)"', html).group(1)


def test_inbox_pages_neither_repeat_nor_skip_while_tickets_arrive_and_fall_due(merchant):
    now = now_utc()
    for n in range(25):
        _ticket(merchant, text=f"投诉{n}", at=now - timedelta(minutes=110 + n))   # due within 10 minutes
    first = services.list_tickets(merchant, services.InboxFilter(), now=now, limit=10)
    _ticket(merchant, text="新的投诉", at=now + timedelta(minutes=1))
    later = now + timedelta(minutes=20)                   # meanwhile every one of them fell due
    rest, cursor = [], first.next
    while cursor:
        page = services.list_tickets(merchant, services.InboxFilter(), now=later,
                                     after=services.InboxCursor.parse(str(cursor)), limit=10)
        rest += page.tickets
        cursor = page.next
    ids = [t.id for t in first.tickets + rest]
    assert len(ids) == len(set(ids)) == 25


def test_a_forged_page_cursor_shows_the_first_page(client, login, merchant):
    login("clerk")
    ticket = _ticket(merchant)
    for after in ("x", "1-2", "2-5-0", "1-1-99999999999999999999999"):
        response = client.get(f"/feedback/?after={after}")
        assert response.status_code == 200 and f'data-ticket="{ticket.id}"' in response.get_data(as_text=True)


def test_another_merchants_tickets_are_not_found_and_not_listed(client, login, make_merchant):
    other = make_merchant(name="别家")
    theirs = _ticket(other, text="别家的投诉")
    login("owner")
    page = f"/feedback/{theirs.id}"
    assert client.get(page).status_code == 404
    token = csrf_token(client, "/feedback/new")
    for action, data in (("reply", {"body": "您好"}), ("note", {"body": "记一下"}), ("status", {"status": "closed"}),
                         ("assign", {"assignee_id": "0"})):
        assert client.post(f"{page}/{action}", data={"csrf_token": token, **data}).status_code == 404
    assert "别家的投诉" not in client.get("/feedback/?status=all").get_data(as_text=True)
    db.session.refresh(theirs)
    assert theirs.status == "new" and db.session.scalar(db.select(db.func.count(OutboundMessage.id))) == 0


@pytest.mark.parametrize("url, least", [("/feedback/targets", "owner"), ("/feedback/figures", "manager")])
def test_targets_are_for_owners_and_figures_for_managers(client, login, url, least):
    login("clerk")
    assert client.get(url).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/feedback/")})
    login(least)
    assert client.get(url).status_code == 200


def test_owners_set_targets_per_kind_and_per_tier_in_the_console(client, login, merchant, make_member):
    login("owner")
    page = client.get("/feedback/targets").get_data(as_text=True)
    assert 'data-tier="金卡"' in page and 'name="complaint" type="number" value="120"' in page
    gold = merchant.tier_thresholds.index(["金卡", 2000])
    response = _post(client, "/feedback/targets", "/feedback/targets", suggestion="", complaint="120", praise="",
                     **{f"complaint_{gold}": "30", f"suggestion_{gold}": "240"})
    assert response.status_code == 302
    assert {k: v for k, v in services.response_targets(merchant).items() if k[1]} == {
        ("complaint", "金卡"): 30, ("suggestion", "金卡"): 240}
    assert f'name="complaint_{gold}" type="number" value="30"' in client.get("/feedback/targets").get_data(as_text=True)
    make_member(msisdn="13800138000").tier = "金卡"
    db.session.commit()
    _post(client, "/feedback/new", "/feedback/new", msisdn="13800138000", kind="complaint", text="上菜慢",
          assignee_id="0")
    ticket = db.session.scalars(db.select(FeedbackTicket)).one()
    assert ticket.due_at == ticket.received_at + timedelta(minutes=30)


def test_a_bad_target_is_refused_with_why_and_nothing_saved(client, login, merchant):
    login("owner")
    page = _post(client, "/feedback/targets", "/feedback/targets", complaint="120", complaint_2="0").get_data(
        as_text=True)
    assert 'class="error"' in page and 'name="complaint_2" type="number" value="0"' in page
    assert not any(tier for _kind, tier in services.response_targets(merchant))


def test_signed_out_visitors_go_to_the_login_page(client):
    for url in ("/feedback/", "/feedback/new", "/feedback/1", "/feedback/targets", "/feedback/figures"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_desk_is_in_chinese_by_default(client, login, merchant):
    login("owner")
    _ticket(merchant)
    page = client.get("/feedback/", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "客户反馈" in page and "投诉" in page
