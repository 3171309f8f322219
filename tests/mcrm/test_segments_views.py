"""The segment console over HTTP: roles, CSRF on the live preview, another merchant's segment, and
the member list narrowed to a segment with its keyset paging."""
import json
import re

from mcrm.extensions import db
from mcrm.segments import services
from tests.conftest import csrf_token


def _gold(make_member, n, **fields):
    members = [make_member(name=f"金{i:02d}", **fields) for i in range(n)]
    for member in members:
        member.tier = "金卡"
    db.session.commit()
    return members


def _segment(merchant, now, name="金卡", definition=None):
    segment = services.save_segment(merchant.id, name=name, definition=definition or {"type": "tier", "tiers": ["金卡"]},
                                    now=now)
    db.session.commit()
    return segment


def test_clerks_cannot_open_segments(client, login):
    login("clerk")
    assert client.get("/segments/").status_code == 403
    assert client.get("/segments/new").status_code == 403


def test_preview_answers_count_sample_and_words_and_needs_the_csrf_token(client, login, make_member):
    login("manager")
    _gold(make_member, 3)
    make_member()
    body = json.dumps({"definition": {"op": "and", "items": [{"type": "tier", "tiers": ["金卡"]}]}})
    refused = client.post("/segments/preview", data=body, content_type="application/json")
    assert refused.status_code == 400 and b"count" not in refused.data
    token = csrf_token(client, "/segments/new")
    answer = client.post("/segments/preview", data=body, content_type="application/json",
                         headers={"X-CSRFToken": token}).get_json()
    assert answer["count"] == 3 and answer["description"] == "Tier 金卡" and len(answer["sample"]) == 3
    assert all("****" in m["msisdn"] for m in answer["sample"])
    bad = client.post("/segments/preview", data=json.dumps({"definition": {"type": "tier"}}),
                      content_type="application/json", headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and bad.get_json() == {"error": "Condition tier needs tiers"}


def test_save_list_edit_and_delete_a_segment(client, login, merchant):
    login("manager")
    token = csrf_token(client, "/segments/new")
    definition = json.dumps({"op": "or", "items": [{"type": "birthday_month", "month": 5},
                                                  {"type": "tags", "tags": ["常客"]}]})
    response = client.post("/segments/new", data={"csrf_token": token, "name": "五月或常客", "definition": definition})
    assert response.status_code == 302
    (segment,) = services.list_segments(merchant.id)
    page = client.get("/segments/").get_data(as_text=True)
    assert "五月或常客" in page and "Birthday in May or tagged 常客" in page
    edit = client.get(f"/segments/{segment.id}/edit").get_data(as_text=True)
    assert "birthday_month" in edit
    again = client.post("/segments/new", data={"csrf_token": token, "name": "五月或常客", "definition": definition})
    assert "There is already a segment called 五月或常客" in again.get_data(as_text=True)
    client.post(f"/segments/{segment.id}/delete", data={"csrf_token": token})
    assert services.list_segments(merchant.id) == []


def test_another_merchants_segment_is_not_found_anywhere(client, login, make_merchant, now):
    theirs = _segment(make_merchant(), now, name="别家")
    login("owner")
    token = csrf_token(client, "/segments/new")
    assert client.get(f"/segments/{theirs.id}/edit").status_code == 404
    assert client.post(f"/segments/{theirs.id}/edit", data={"csrf_token": token, "name": "x",
                                                           "definition": "{}"}).status_code == 404
    assert client.post(f"/segments/{theirs.id}/delete", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/members/?segment={theirs.id}").status_code == 404
    assert client.get("/members/?segment=abc").status_code == 404
    assert services.get_segment(theirs.merchant_id, theirs.id).name == "别家"


def test_the_member_list_filtered_by_a_segment_pages_by_keyset(client, login, merchant, make_member, now):
    login("owner")
    gold = _gold(make_member, 55)
    make_member(name="普通会员")
    segment = _segment(merchant, now)
    first = client.get(f"/members/?segment={segment.id}&sort=name").get_data(as_text=True)
    assert "Segment: 金卡" in first
    shown = re.findall(r'data-member="(\d+)"', first)
    assert len(shown) == 50
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert f"segment={segment.id}" in next_url and "after=" in next_url
    second = re.findall(r'data-member="(\d+)"', client.get(next_url).get_data(as_text=True))
    assert sorted(map(int, shown + second)) == sorted(m.id for m in gold)
    export = client.get(f"/members/export.csv?segment={segment.id}").get_data(as_text=True)
    assert "普通会员" not in export and export.count(",金卡,") == 55
