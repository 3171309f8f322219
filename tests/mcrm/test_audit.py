"""The audit log: what is recorded, who sees it, and that every export route records."""
import ast
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from mcrm.audit.models import AuditAction, AuditEntry
from mcrm.audit.services import record
from mcrm.points.services import Actor, record_purchase
from tests.conftest import csrf_token

ROOT = Path(__file__).resolve().parents[2]


def entries(db, action=None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return db.session.scalars(query).all()


def post(client, url, data, token_url="/"):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, token_url)})


def test_record_keeps_no_secrets_in_the_details(db, merchant, now):
    entry = record(merchant.id, AuditAction.STAFF_PASSWORD, now=now, target="staff 1",
                   details={"username": "xiaoli", "password": "hunter22", "login_code": "123456",
                            "api_token": "t0k"})
    db.session.commit()
    assert entry.details == {"username": "xiaoli"}


def test_a_points_adjustment_is_recorded_with_who_what_and_where(client, login, make_member, db):
    manager = login("manager")
    member = make_member(points=10)
    assert post(client, f"/members/{member.id}/adjust", {"points": "-5", "reason": "盘点"},
                f"/members/{member.id}").status_code == 302
    [entry] = entries(db, AuditAction.POINTS_ADJUST)
    assert (entry.merchant_id, entry.staff_id, entry.target) == (member.merchant_id, manager.id, f"member {member.id}")
    assert entry.details["points"] == -5 and entry.details["reason"] == "盘点" and entry.ip == "127.0.0.1"


def test_a_void_is_recorded(client, login, merchant, make_member, db, now):
    login("manager")
    member = make_member(points=100)
    purchase = record_purchase(member, merchant, "50.00", actor=Actor("收银员"), now=now)
    db.session.commit()
    url = f"/members/{member.id}/entries/{purchase.id}/void"
    assert post(client, url, {"reason": "多按了"}, url).status_code == 302
    [entry] = entries(db, AuditAction.POINTS_VOID)
    assert entry.details["voided_entry"] == purchase.id and entry.details["points"] == -50


def test_a_refused_adjustment_records_nothing(client, login, make_member, db):
    login("manager")
    member = make_member()
    assert post(client, f"/members/{member.id}/adjust", {"points": "-5", "reason": "x"},
                f"/members/{member.id}").status_code == 400
    assert entries(db) == []


def test_staff_changes_are_recorded_without_the_password_or_the_phone(client, login, db):
    owner = login("owner")
    post(client, "/staff/new", {"username": "xiaozhang", "password": "long-enough-9", "role": "clerk",
                                "display_name": "小张", "msisdn": "13900139001"}, "/staff/")
    [created] = entries(db, AuditAction.STAFF_CREATE)
    staff_id = int(created.target.split()[1])
    post(client, f"/staff/{staff_id}", {"role": "manager", "display_name": "小张", "msisdn": ""}, "/staff/")
    post(client, f"/staff/{staff_id}/password", {"password": "another-long-9", "confirm": "another-long-9"},
         "/staff/")
    post(client, f"/staff/{staff_id}/deactivate", {}, "/staff/")
    post(client, f"/staff/{staff_id}/activate", {}, "/staff/")
    post(client, f"/staff/{staff_id}/sessions/end", {}, "/staff/")
    assert [e.action for e in entries(db)] == [
        "staff.create", "staff.update", "staff.password", "staff.deactivate", "staff.activate", "staff.sign_out"]
    assert created.details == {"username": "xiaozhang", "role": "clerk", "trusted_phone": True}
    update = entries(db, AuditAction.STAFF_UPDATE)[0]
    assert update.details["role"] == "clerk → manager" and update.details["trusted_phone_changed"] is True
    assert all(e.staff_id == owner.id for e in entries(db))
    stored = repr([e.details for e in entries(db)])
    assert "13900139001" not in stored and "long-enough" not in stored and "another-long" not in stored


def test_a_settings_change_names_the_fields_changed(client, login, merchant, db):
    from tests.mcrm.test_merchant_settings import save, settings_form
    login("owner")
    assert save(client, settings_form(merchant, join_gift_points="88")).status_code == 302
    [entry] = entries(db, AuditAction.SETTINGS_UPDATE)
    assert entry.details == {"changed": ["join_gift_points"]}


@pytest.mark.parametrize("url, action", [
    ("/members/export.csv", AuditAction.EXPORT_MEMBERS),
    ("/care/calls.csv", AuditAction.EXPORT_CARE_CALLS),
])
def test_exports_are_recorded(client, login, make_member, db, url, action):
    owner = login("owner")
    make_member()
    assert client.get(url).status_code == 200
    [entry] = entries(db, action)
    assert entry.staff_id == owner.id


# -- the page ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["manager", "clerk"])
def test_only_owners_see_the_log(client, login, role):
    login(role)
    assert client.get("/audit/").status_code == 403


def test_the_log_filters_by_action_and_staff_pages_and_hides_other_merchants(client, login, make_staff,
                                                                            make_merchant, merchant, db, now):
    owner = login("owner")
    clerk = make_staff("clerk", display_name="收银员小李")
    for number in range(55):
        record(merchant.id, AuditAction.POINTS_ADJUST, now=now, staff_id=owner.id, target=f"member {number}")
    record(merchant.id, AuditAction.EXPORT_MEMBERS, now=now, staff_id=clerk.id, target="exported-by-clerk")
    record(make_merchant().id, AuditAction.EXPORT_MEMBERS, now=now, target="elsewhere")
    db.session.commit()
    page = client.get("/audit/").get_data(as_text=True)
    assert page.count("data-audit=") == 50 and "exported-by-clerk" in page and "elsewhere" not in page
    older = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert client.get(older).get_data(as_text=True).count("data-audit=") == 6
    by_action = client.get("/audit/?action=export.members").get_data(as_text=True)
    assert by_action.count("data-audit=") == 1 and "收银员小李" in by_action
    by_staff = client.get(f"/audit/?staff={owner.id}").get_data(as_text=True)
    assert by_staff.count("data-audit=") == 50 and "exported-by-clerk" not in by_staff


# -- every export records -----------------------------------------------------------------------------

EXPORT_ROUTE = re.compile(r"\.(csv|json|zip|xlsx)$|export")


def export_views_without_audit() -> list[str]:
    """Views whose route downloads data (a .csv/.json/.zip path, or "export" in it) and that never
    call ``audit(...)``."""
    missing = []
    for path in sorted((ROOT / "mcrm").rglob("*views.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            routes = [d.args[0].value for d in node.decorator_list
                      if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "route"
                      and d.args and isinstance(d.args[0], ast.Constant)]
            if not any(EXPORT_ROUTE.search(route) for route in routes):
                continue
            calls = {getattr(n.func, "id", "") for n in ast.walk(node) if isinstance(n, ast.Call)}
            if "audit" not in calls:
                missing.append(f"{path.relative_to(ROOT)}:{node.name}")
    return missing


def test_every_export_route_records_an_audit_entry():
    assert export_views_without_audit() == []


def test_the_export_scan_finds_routes(tmp_path, monkeypatch):
    """The scan itself can fail: a planted export view without audit() is found."""
    planted = tmp_path / "mcrm" / "x"
    planted.mkdir(parents=True)
    (planted / "views.py").write_text('@bp.route("/all.csv")\ndef dump():\n    return 1\n', encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert export_views_without_audit() == ["mcrm/x/views.py:dump"]


@pytest.mark.parametrize("role, shown", [("owner", True), ("manager", False)])
def test_only_owners_are_offered_the_member_export(client, login, role, shown):
    login(role)
    assert ("/members/export.csv" in client.get("/members/").get_data(as_text=True)) is shown
