"""The members list: keyset pages, search and filters, on the real database."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.members.name_keys import name_sort_key
from mcrm.members.queries import COUNT_CAP, SORTS, MemberFilter, count_members, iter_members, list_members
from mcrm.members.services import delete_member, update_member


@pytest.fixture
def crowd(db, merchant, make_member, now):
    """40 members with many equal sort values (ties are where keyset paging goes wrong)."""
    members = []
    for i in range(40):
        member = make_member(msisdn=f"1390000{i:04d}", name=["王芳", "李娜", "", "张伟"][i % 4],
                             points=[0, 100, 100, 250][i % 4], tags=["常客"] if i % 3 == 0 else [],
                             birthday=f"1990{(i % 12) + 1:02d}15")
        update_member(member, total_spend=[0, 88, 88, 300][i % 5 % 4],
                      last_visit_at=None if i % 3 else now - timedelta(days=i % 4))
        members.append(member)
    db.session.commit()
    return members


def _expected(members, sort):
    if sort == "newest":
        return sorted(members, key=lambda m: -m.id)
    if sort == "name":
        return sorted(members, key=lambda m: (name_sort_key(m.name), m.id))
    column = {"points": "points_balance", "spend": "total_spend", "last_visit": "last_visit_at"}[sort]
    with_value = [m for m in members if getattr(m, column) is not None]
    without = [m for m in members if getattr(m, column) is None]
    return sorted(with_value, key=lambda m: (getattr(m, column), m.id), reverse=True) + sorted(
        without, key=lambda m: m.id, reverse=True)


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_paging_forward_and_back_visits_every_member_once_in_order(merchant, crowd, sort):
    filters = MemberFilter(sort=sort)
    pages, cursor = [], None
    while True:
        page = list_members(merchant, filters, after=cursor, limit=7)
        pages.append([m.id for m in page.members])
        cursor = page.next_cursor
        if cursor is None:
            break
    seen = [i for p in pages for i in p]
    assert seen == [m.id for m in _expected(crowd, sort)]
    assert len(pages) == 6 and all(len(p) == 7 for p in pages[:-1])

    back, cursor = [pages[-1]], _first_cursor_of_last_page(merchant, filters)
    while cursor:
        page = list_members(merchant, filters, before=cursor, limit=7)
        back.insert(0, [m.id for m in page.members])
        cursor = page.prev_cursor
    assert back == pages


def _first_cursor_of_last_page(merchant, filters):
    page = list_members(merchant, filters, limit=7)
    while page.next_cursor:
        page = list_members(merchant, filters, after=page.next_cursor, limit=7)
    return page.prev_cursor


def test_msisdn_suffix_and_name_prefix_search(merchant, crowd):
    found = list_members(merchant, MemberFilter(q="0007")).members
    assert [m.msisdn for m in found] == ["+8613900000007"]
    assert {m.name for m in list_members(merchant, MemberFilter(q="王")).members} == {"王芳"}
    assert len(list_members(merchant, MemberFilter(q="王")).members) == 10
    assert list_members(merchant, MemberFilter(q="+86 139 0000 0012")).members[0].msisdn == "+8613900000012"
    assert list_members(merchant, MemberFilter(q="赵")).members == []


def test_names_sort_in_pinyin_order_not_by_code_point(db, merchant, make_member):
    names = ["张伟", "阿芳", "Bob", "李娜", "曾敏", "赵敏", "王芳", "陈静", "alice", "单田芳", ""]
    for index, name in enumerate(names):
        make_member(msisdn=f"1390000{index:04d}", name=name)
    listed = [m.name for m in list_members(merchant, MemberFilter(sort="name")).members]
    # 曾 and 单 are read as surnames (zeng, shan), not as the characters alone (ceng, dan)
    assert listed == ["", "阿芳", "alice", "Bob", "陈静", "李娜", "单田芳", "王芳", "曾敏", "张伟", "赵敏"]


def test_name_search_ignores_case_and_pinyin_finds_chinese_names(db, merchant, make_member):
    for index, name in enumerate(["Zhang Wei", "ZHANG MIN", "zhangsan", "张伟", "章敏", "Wang Fang", "王芳"]):
        make_member(msisdn=f"1390000{index:04d}", name=name)

    def found(text):
        return sorted(m.name for m in list_members(merchant, MemberFilter(q=text)).members)
    assert found("zhang w") == ["Zhang Wei"]
    assert found("ZHANG") == sorted(["Zhang Wei", "ZHANG MIN", "zhangsan", "张伟", "章敏"])
    assert found("张") == ["张伟"]  # characters are matched as written: 章 is another surname
    assert found("wang") == sorted(["Wang Fang", "王芳"])


def test_search_by_member_number(db, merchant, make_member):
    members = [make_member(msisdn=f"1390000{index:04d}", name=f"会员{index}") for index in range(3)]
    wanted = members[1]
    for text in (wanted.member_no, f"No.{wanted.id}", f"#{wanted.id}", f"会员号{wanted.member_no}",
                 f"no {wanted.id}"):
        assert [m.id for m in list_members(merchant, MemberFilter(q=text)).members] == [wanted.id], text
    assert list_members(merchant, MemberFilter(q="No.99999")).members == []
    delete_member(wanted, now=wanted.joined_at)
    assert list_members(merchant, MemberFilter(q=wanted.member_no)).members == []


def test_filters_combine(merchant, crowd):
    page = list_members(merchant, MemberFilter(tag="常客", birthday_month=4, sort="points"))
    expected = [m for m in crowd if m.id and "常客" in m.tag_names and m.birthday_month == 4]
    assert sorted(m.id for m in page.members) == sorted(m.id for m in expected) and expected


def test_opted_out_and_tier_filters(db, merchant, crowd, now):
    from mcrm.members.services import opt_out
    opt_out(crowd[5], now=now)
    db.session.commit()
    assert [m.id for m in list_members(merchant, MemberFilter(opted_out="yes")).members] == [crowd[5].id]
    assert len(list_members(merchant, MemberFilter(opted_out="no")).members) == 39
    assert len(list_members(merchant, MemberFilter(tier="贵宾卡")).members) == 40
    assert list_members(merchant, MemberFilter(tier="钻石卡")).members == []


def test_deleted_and_other_merchants_members_are_not_listed(db, merchant, make_merchant, make_member, crowd, now):
    other = make_merchant()
    make_member(merchant=other, msisdn="13900000001")
    delete_member(crowd[0], now=now)
    db.session.commit()
    ids = {m.id for m in iter_members(merchant, MemberFilter(), batch=6)}
    assert ids == {m.id for m in crowd[1:]}


def test_count_stops_at_the_cap(merchant, crowd):
    assert count_members(merchant, MemberFilter()) == 40
    assert count_members(merchant, MemberFilter(), cap=10) == 11
    assert COUNT_CAP >= 1000


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJuYW1lIiwwLCJ4Il0"])
def test_a_forged_cursor_is_a_clear_error(merchant, crowd, cursor):
    with pytest.raises(ValidationError, match="out of date"):
        list_members(merchant, MemberFilter(sort="points"), after=cursor)


@pytest.mark.parametrize("narrow", [False, True], ids=["common filters", "rare filters"])
def test_every_list_query_uses_an_index(db, merchant, crowd, monkeypatch, narrow):
    """No full scan of the members table, whatever the sort or filter.

    Common filters walk the sort's index (no sort step at all); rare ones (fewer than SMALL_SET
    matches: all of them in this small crowd) are found through the filter's own index and sorted.
    """
    from mcrm.members import queries
    monkeypatch.setattr(queries, "SMALL_SET", 10_000 if narrow else 0)
    captured = []

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM members" in statement:
            captured.append((statement, parameters))

    try:
        for sort in SORTS:
            for filters in (MemberFilter(sort=sort), MemberFilter(sort=sort, tier="贵宾卡"),
                            MemberFilter(sort=sort, tag="常客"), MemberFilter(sort=sort, opted_out="yes"),
                            MemberFilter(sort=sort, birthday_month=3), MemberFilter(q="0007", sort=sort),
                            MemberFilter(q="王", sort=sort), MemberFilter(q="wang", sort=sort),
                            MemberFilter(q="00000007", sort=sort)):
                page = list_members(merchant, filters, limit=5)
                list_members(merchant, filters, after=page.next_cursor, limit=5)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    conn = db.session.connection()
    for statement, parameters in captured:
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        assert "SEARCH members USING" in plan and "SCAN members" not in plan, (statement, plan)
        filtered = any(word in statement for word in ("tier =", "tag =", "opted_out =", "birthday_month ="))
        if narrow and filtered and "msisdn_rev >=" not in statement and "members.name_key >=" not in statement:
            # found through the filter's index, not by walking the sort's index and testing rows
            assert any(f"{word}=?" in plan for word in ("tier", "tag", "opted_out", "birthday_month")), plan
        else:
            assert "TEMP B-TREE" not in plan, (statement, plan)


def test_rare_and_common_filters_give_the_same_pages(db, merchant, crowd, monkeypatch):
    from mcrm.members import queries
    for sort in SORTS:
        for filters in (MemberFilter(sort=sort, tag="常客"), MemberFilter(sort=sort, birthday_month=3)):
            pages = {}
            for small_set in (0, 10_000):
                monkeypatch.setattr(queries, "SMALL_SET", small_set)
                first = list_members(merchant, filters, limit=3)
                second = list_members(merchant, filters, after=first.next_cursor, limit=3)
                back = list_members(merchant, filters, before=second.prev_cursor, limit=3)
                pages[small_set] = [[m.id for m in p.members] for p in (first, second, back)]
            assert pages[0] == pages[10_000] and pages[0][0] == pages[0][2], (sort, filters)
