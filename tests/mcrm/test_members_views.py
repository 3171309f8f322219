"""The members console through the test client: roles, scoping, forms, points actions."""
import re
import tempfile

import pytest
import sqlalchemy as sa

from mcrm import create_app
from mcrm.members.models import Member, MemberImport
from mcrm.points.models import PointsEntry
from mcrm.settings import Settings
from tests.conftest import csrf_token

@pytest.fixture(autouse=True)
def english(client):
    """The assertions read English text, whatever the catalog translates."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"



def _member_routes():
    """Every members/points route that names a member or an import job, read from the url map."""
    settings = Settings(env="test", instance_path=tempfile.mkdtemp(), database_url="sqlite://",
                        secret_key="t" * 40).with_defaults()
    routes = []
    for rule in create_app(settings).url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("members", "points") and rule.arguments & {"member_id", "job_id"}:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((rule.rule, method))
    return sorted(routes)


MEMBER_ROUTES = _member_routes()


def _url(rule: str, member_id: int, job_id: int, entry_id: int = 0) -> str:
    return rule.replace("<int:member_id>", str(member_id)).replace("<int:job_id>", str(job_id)) \
        .replace("<int:entry_id>", str(entry_id))


@pytest.fixture
def other_merchants_things(db, make_merchant, make_member, make_staff, now):
    from mcrm.points.services import SYSTEM, record_purchase
    other = make_merchant()
    member = make_member(merchant=other, msisdn="13900139000", points=400)
    purchase = record_purchase(member, other, 100, actor=SYSTEM, now=now)  # one a manager there could void
    job = MemberImport(merchant_id=other.id, encoding="utf-8", headers=["mobile"], mapping={"0": "msisdn"},
                       data=b"mobile\n13900139001\n", total_lines=1)
    db.session.add(job)
    db.session.commit()
    return member, job, purchase


def test_the_route_list_covers_members_points_and_imports():
    endpoints = {rule for rule, _method in MEMBER_ROUTES}
    assert {"/members/<int:member_id>", "/members/<int:member_id>/redeem", "/members/import/<int:job_id>",
            "/members/import/<int:job_id>/errors.csv"} <= endpoints


@pytest.mark.parametrize("rule, method", MEMBER_ROUTES)
def test_another_merchants_member_or_import_is_a_404(client, login, other_merchants_things, rule, method, db):
    login("owner")
    member, job, purchase = other_merchants_things
    url = _url(rule, member.id, job.id, purchase.id)
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, data={"csrf_token": csrf_token(client, "/members/"), "amount": "10",
                                          "points": "10", "reason": "x", "column-0": "msisdn"})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Member, member.id).points_balance == 500
    assert db.session.get(Member, member.id).deleted_at is None
    assert db.session.get(MemberImport, job.id).status == "mapping"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                             .where(PointsEntry.voids_entry_id.is_not(None))) == 0


@pytest.mark.parametrize("rule", sorted({r for r, m in MEMBER_ROUTES if m == "POST"}))
def test_posts_without_a_csrf_token_are_refused(client, login, merchant, make_member, rule, db, now):
    from mcrm.points.services import SYSTEM, record_purchase
    login("owner")
    member = make_member(points=400)
    purchase = record_purchase(member, merchant, 100, actor=SYSTEM, now=now)
    db.session.commit()
    response = client.post(_url(rule, member.id, 1, purchase.id),
                           data={"amount": "10", "points": "10", "reason": "x"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Member, member.id).points_balance == 500


@pytest.mark.parametrize("method, url", [
    ("GET", "/members/import"), ("GET", "/members/export.csv"),
    ("GET", "/members/{id}/edit"), ("POST", "/members/{id}/delete"),
    ("POST", "/members/{id}/adjust"), ("POST", "/members/{id}/opt-out"),
    ("GET", "/members/{id}/entries/{entry}/void"), ("POST", "/members/{id}/entries/{entry}/void"),
])
def test_a_clerk_cannot_change_members_adjust_or_void(client, login, merchant, make_member, method, url, db, now):
    from mcrm.points.services import SYSTEM, record_purchase
    login("clerk")
    member = make_member(points=400)
    purchase = record_purchase(member, merchant, 100, actor=SYSTEM, now=now)
    db.session.commit()
    url = url.format(id=member.id, entry=purchase.id)
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, data={"csrf_token": csrf_token(client, "/members/"), "points": "10",
                                          "reason": "x"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Member, member.id).points_balance == 500


def test_a_clerk_looks_members_up_and_records_a_purchase(client, login, make_member, db):
    login("clerk")
    member = make_member(name="张三", points=100)
    page = client.get("/members/?q=" + member.msisdn[-4:]).get_data(as_text=True)
    assert "张三" in page
    detail = client.get(f"/members/{member.id}").get_data(as_text=True)
    # only what a clerk may do is offered: purchases and redemptions, no adjustments or voids
    assert "Redeem points" in detail and "Adjust points" not in detail and "data-void" not in detail
    token = re.search(r'name="request_id" type="hidden" value="(\w+)"', detail).group(1)
    data = {"csrf_token": csrf_token(client, "/members/"), "amount": "¥88.50", "request_id": token}
    response = client.post(f"/members/{member.id}/purchase", data=data)
    assert response.status_code == 302
    client.post(f"/members/{member.id}/purchase", data=data)  # a double click
    db.session.expire_all()
    assert db.session.get(Member, member.id).points_balance == 188
    entries = db.session.scalars(sa.select(PointsEntry).where(PointsEntry.member_id == member.id,
                                                              PointsEntry.kind == "earn")).all()
    assert len(entries) == 1 and entries[0].actor_staff_id is not None


def test_redeeming_more_than_the_balance_is_refused_and_keeps_the_input(client, login, make_member, db):
    login("manager")
    member = make_member(points=100)
    response = client.post(f"/members/{member.id}/redeem", data={
        "csrf_token": csrf_token(client, "/members/"), "points": "300", "reason": "免费甜品"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Balance is 100 points" in page and 'value="免费甜品"' in page
    db.session.expire_all()
    assert db.session.get(Member, member.id).points_balance == 100


def test_a_manual_adjustment_needs_a_reason_and_shows_in_the_history(client, login, make_member, db):
    staff = login("manager")
    member = make_member(points=100)
    token = csrf_token(client, "/members/")
    refused = client.post(f"/members/{member.id}/adjust", data={"csrf_token": token, "points": "-40", "reason": ""})
    assert refused.status_code == 400
    done = client.post(f"/members/{member.id}/adjust", data={"csrf_token": token, "points": "-40",
                                                             "reason": "重复积分更正"}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and "重复积分更正" in page and "-40" in page
    assert staff.display_name in page
    db.session.expire_all()
    assert db.session.get(Member, member.id).points_balance == 60


def test_the_whole_points_history_pages_back_fifty_lines_at_a_time(client, login, merchant, make_member, db, now):
    from mcrm.points.services import Actor, adjust_points
    login("clerk")
    member = make_member(points=0)
    for n in range(1, 121):
        adjust_points(member, merchant, 1, reason=f"line-{n:03d}", actor=Actor("system"), now=now)
    db.session.commit()

    def lines(page):
        return re.findall(r"line-(\d{3})", page)

    first = client.get(f"/members/{member.id}").get_data(as_text=True)
    assert lines(first) == [f"{n:03d}" for n in range(120, 70, -1)] and "Newest" not in first
    older = re.search(r'href="([^"]+)"[^>]*>Older', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert lines(second) == [f"{n:03d}" for n in range(70, 20, -1)] and "Newest" in second
    third = client.get(re.search(r'href="([^"]+)"[^>]*>Older', second).group(1).replace("&amp;", "&"))
    assert lines(third.get_data(as_text=True)) == [f"{n:03d}" for n in range(20, 0, -1)]
    assert ">Older" not in third.get_data(as_text=True)


def test_adding_a_member_normalises_the_number(client, login, db):
    login("manager")
    response = client.post("/members/new", data={
        "csrf_token": csrf_token(client, "/members/new"), "msisdn": "138-0013-8000", "name": "李四",
        "gender": "f", "birthday": "农历0815", "tags": "VIP，常客", "custom_fields": "座位: 靠窗"})
    assert response.status_code == 302
    member = db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800138000"))
    assert (member.name, member.birthday_lunar_month, member.tag_names) == ("李四", 8, ["VIP", "常客"])
    assert member.custom_fields == {"座位": "靠窗"} and member.consent_channel == "console"


def test_bad_fields_are_reported_on_the_form(client, login, db):
    login("manager")
    response = client.post("/members/new", data={
        "csrf_token": csrf_token(client, "/members/new"), "msisdn": "12345", "name": "王五",
        "gender": "u", "birthday": "19901345", "custom_fields": "no separator"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Not a valid phone number" in page and "No such date" in page and "name: value" in page
    assert 'value="王五"' in page  # nothing typed is lost
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0


def test_a_duplicate_number_links_to_the_existing_member(client, login, make_member):
    login("manager")
    existing = make_member(msisdn="13800138000")
    response = client.post("/members/new", data={
        "csrf_token": csrf_token(client, "/members/new"), "msisdn": "+86 138 0013 8000", "gender": "u"})
    page = response.get_data(as_text=True)
    assert "already a member" in page and f'href="/members/{existing.id}"' in page


def test_editing_keeps_the_number_and_opting_out_is_recorded(client, login, make_member, db):
    login("manager")
    member = make_member(name="旧名", tags=["午餐"])
    number = member.msisdn
    form = client.get(f"/members/{member.id}/edit").get_data(as_text=True)
    assert 'value="旧名"' in form and 'value="午餐"' in form and 'name="msisdn"' not in form
    response = client.post(f"/members/{member.id}/edit", data={
        "csrf_token": csrf_token(client, "/members/"), "name": "新名", "gender": "m", "tags": "晚餐",
        "opted_out": "y", "msisdn": "13900000000"})
    assert response.status_code == 302
    db.session.expire_all()
    member = db.session.get(Member, member.id)
    assert (member.name, member.tag_names, member.opted_out) == ("新名", ["晚餐"], True)
    assert member.opted_out_at is not None and member.msisdn == number


def test_deleting_hides_the_member_but_keeps_the_ledger(client, login, make_member, db):
    login("manager")
    member = make_member(points=100)
    response = client.post(f"/members/{member.id}/delete", data={"csrf_token": csrf_token(client, "/members/")})
    assert response.status_code == 302
    assert client.get(f"/members/{member.id}").status_code == 404
    assert member.msisdn not in client.get("/members/").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                             .where(PointsEntry.member_id == member.id)) == 1


def test_the_member_page_shows_balance_tier_expiry_consent_and_history(client, login, make_member):
    login("clerk")
    member = make_member(name="赵六", points=300, consent=None)
    page = client.get(f"/members/{member.id}").get_data(as_text=True)
    assert 'data-stat="balance">300<' in page and "贵宾卡" in page and 'data-stat="expiring">0<' in page
    assert "+300" in page and "test" in page


def test_the_list_pages_with_next_and_previous_links(client, login, make_member, monkeypatch):
    from mcrm.members import queries
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    login("clerk")
    for i in range(5):
        make_member(msisdn=f"1380000{i:04d}", name=f"会员{i}")
    first = client.get("/members/?sort=name").get_data(as_text=True)
    assert "会员0" in first and "会员1" in first and "会员2" not in first and 'rel="prev"' not in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "sort=name" in next_url
    second = client.get(next_url).get_data(as_text=True)
    assert "会员2" in second and "会员3" in second and 'rel="prev"' in second
    prev_url = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert "会员0" in client.get(prev_url).get_data(as_text=True)


def test_a_forged_page_link_starts_again_from_the_first_page(client, login):
    login("clerk")
    response = client.get("/members/?after=nonsense&sort=points")
    assert response.status_code == 302 and "after" not in response.headers["Location"]


@pytest.mark.parametrize("query", ["", "?sort=points", "?q=王&opted_out=yes&birthday_month=3"])
def test_the_filter_form_shows_no_errors_for_what_was_left_blank(client, login, query):
    login("clerk")
    page = client.get("/members/" + query).get_data(as_text=True)
    assert 'class="error"' not in page


# -- the opt-out list -------------------------------------------------------------------------------

def _add_opt_out(client, msisdn, note=""):
    return client.post("/members/opt-outs", data={"csrf_token": csrf_token(client, "/members/opt-outs"),
                                                  "msisdn": msisdn, "note": note})


def test_a_manager_puts_a_number_that_called_in_on_the_opt_out_list(client, login, merchant, db, now):
    from mcrm.messaging.services import enqueue_sms
    staff = login("manager")
    response = _add_opt_out(client, "138 0013 8000", note="by phone")
    assert response.status_code == 302
    page = client.get("/members/opt-outs").get_data(as_text=True)
    assert "+8613800138000" in page and f"staff {staff.username}: by phone" in page
    assert "had already opted out" in client.get(_add_opt_out(client, "13800138000").headers["Location"]) \
        .get_data(as_text=True)
    message = enqueue_sms(merchant, msisdn="13800138000", body="周末八折", kind="marketing", now=now)
    assert message.suppressed_reason == "opted out"


def test_putting_a_members_number_on_the_list_opts_the_member_out(client, login, make_member, db):
    member = make_member(msisdn="13800138000")
    login("manager")
    _add_opt_out(client, "13800138000")
    db.session.expire_all()
    assert db.session.get(Member, member.id).opted_out
    assert "+8613800138000" not in client.get("/members/opt-outs").get_data(as_text=True)  # on its member


def test_a_bad_number_is_refused_on_the_form_and_nothing_is_added(client, login, db):
    from mcrm.members.models import OptOut
    login("manager")
    response = _add_opt_out(client, "12345")
    assert response.status_code == 200 and "has-error" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OptOut)) == 0


def test_a_clerk_reads_the_opt_out_list_but_cannot_add_to_it(client, login, db):
    from mcrm.members.models import OptOut
    login("clerk")
    page = client.get("/members/opt-outs")
    assert page.status_code == 200 and 'name="msisdn"' not in page.get_data(as_text=True)
    assert _add_opt_out(client, "13800138000").status_code == 403
    assert client.post("/members/opt-outs", data={"msisdn": "13800138000"}).status_code == 400  # no CSRF token
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OptOut)) == 0


def test_another_merchants_opt_outs_stay_out_of_sight(client, login, make_merchant, db, now):
    from mcrm.members.services import opt_out_number
    opt_out_number(make_merchant(sub_code="02", name="别家"), "13800138000", now=now, channel="sms")
    db.session.commit()
    login("owner")
    assert "+8613800138000" not in client.get("/members/opt-outs").get_data(as_text=True)


def test_the_opt_out_list_pages_and_searches_by_the_end_of_the_number(client, login, merchant, db, now,
                                                                      monkeypatch):
    from mcrm.members import views
    from mcrm.members.services import opt_out_number
    monkeypatch.setattr(views, "OPT_OUT_PAGE", 2)
    for n in range(5):
        opt_out_number(merchant, f"1380013800{n}", now=now, channel="sms")
    db.session.commit()
    login("clerk")
    first = client.get("/members/opt-outs").get_data(as_text=True)
    assert re.findall(r"\+86138001380\d\d", first) == ["+8613800138004", "+8613800138003"]
    older = re.search(r'href="([^"]+)" rel="next"|rel="next" href="([^"]+)"', first)
    second = client.get((older.group(1) or older.group(2)).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r"\+86138001380\d\d", second) == ["+8613800138002", "+8613800138001"]
    found = client.get("/members/opt-outs?q=8003").get_data(as_text=True)
    assert re.findall(r"\+86138001380\d\d", found) == ["+8613800138003"]
