"""CSV import and export of members on the real database, through the service and the console."""
import csv
import io
import time

import pytest
import sqlalchemy as sa

from mcrm.core.clock import now_utc
from mcrm.members import csv_io
from mcrm.members.models import ImportStatus, Member, MemberImport, MemberImportError
from mcrm.points.models import PointsEntry
from mcrm.points.services import Actor
from tests.conftest import csrf_token

#: what an Excel user in China saves: GBK, Chinese headers, a bad phone, a bad date, a repeated number
GBK_FILE = "\r\n".join([
    "手机号,姓名,性别,生日,标签,积分,备注",
    "13800138000,张三,男,19900315,VIP,1200,靠窗",      # 2: new
    "12345,李四,女,,,,",                                # 3: invalid phone
    "13800138001,王五,女,19901345,,,",                  # 4: bad date
    "138 0013 8000,,,,常客,1500,",                      # 5: same number as line 2: a bad line
    "13900139000,老会员新名,,,,,",                       # 6: existing member: updated
    ",,,,,,",                                            # 7: blank line
    "13800138002,赵六,x,,,,",                            # 8: bad gender
    "13800138003,钱七,,农历0815,,0,",                     # 9: new
]).encode("gbk") + b"\r\n"

@pytest.fixture(autouse=True)
def english(client):
    """The assertions read English text, whatever the catalog translates."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"



def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _import(db, merchant, data, *, mapping=None, staff=None):
    job = csv_io.create_import(merchant, staff_id=staff.id if staff else None, filename="members.csv", data=data)
    csv_io.start_import(job, mapping or job.mapping)
    db.session.commit()
    csv_io.run_import(job, merchant, actor=Actor("test"), region="CN", clock=now_utc)
    return job


def _errors(db, job):
    return {e.line: e.reason for e in db.session.scalars(
        sa.select(MemberImportError).where(MemberImportError.import_id == job.id))}


def test_a_gbk_file_is_imported_with_every_line_accounted_for(db, merchant, make_member):
    existing = make_member(msisdn="13900139000", name="老会员", tags=["午餐"])
    job = _import(db, merchant, GBK_FILE, mapping={**csv_io.guess_mapping(
        ["手机号", "姓名", "性别", "生日", "标签", "积分", "备注"]), "6": "custom"})
    assert job.status == ImportStatus.DONE and job.encoding == "gb18030" and job.data is None
    assert (job.total_lines, job.imported, job.updated, job.failed) == (8, 2, 1, 5)
    assert job.imported + job.updated + job.failed == job.processed == job.total_lines
    errors = _errors(db, job)
    assert set(errors) == {3, 4, 5, 7, 8}
    assert "phone" in errors[3] and "date" in errors[4] and "Blank" in errors[7] and "Gender" in errors[8]
    assert errors[5] == "The number +8613800138000 is already on line 2 of this file"

    zhang = db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800138000"))
    assert (zhang.name, zhang.gender, zhang.birthday.isoformat()) == ("张三", "m", "1990-03-15")
    assert zhang.tag_names == ["VIP"]  # the repeated line changed nothing
    assert zhang.custom_fields == {"备注": "靠窗"} and zhang.source == "import"
    assert zhang.points_balance == 1200
    ledger = db.session.scalars(sa.select(PointsEntry.points).where(PointsEntry.member_id == zhang.id)).all()
    assert sum(ledger) == zhang.points_balance
    assert zhang.consent_channel == "import" and "line 2" in zhang.consent_detail

    db.session.refresh(existing)
    assert existing.name == "老会员新名" and existing.tag_names == ["午餐"] and existing.source != "import"
    assert db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800138003")).birthday_lunar_month == 8


def test_importing_the_same_file_twice_updates_and_adds_no_points(db, merchant):
    _import(db, merchant, GBK_FILE)
    again = _import(db, merchant, GBK_FILE)
    assert (again.imported, again.updated, again.failed) == (0, 3, 5)
    zhang = db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800138000"))
    assert zhang.points_balance == 1200
    assert db.session.scalar(sa.select(sa.func.sum(PointsEntry.points))
                             .where(PointsEntry.member_id == zhang.id)) == 1200


def test_a_number_repeated_in_a_later_batch_is_a_bad_line_naming_the_first(db, merchant, monkeypatch):
    monkeypatch.setattr(csv_io, "BATCH_SIZE", 3)
    rows = ["mobile,name,points"] + [f"1380000{i:04d},会员{i},{i}" for i in range(10)] + ["13800000001,改名,77"]
    job = _import(db, merchant, "\n".join(rows).encode())
    assert (job.imported, job.updated, job.failed, job.processed) == (10, 0, 1, 11)
    assert _errors(db, job) == {12: "The number +8613800000001 is already on line 3 of this file"}
    member = db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800000001"))
    assert (member.name, member.points_balance) == ("会员1", 1)


def test_an_import_opts_members_out_but_never_back_in(db, merchant, make_member, now):
    from mcrm.members.services import opt_out
    out = make_member(msisdn="13800138000")
    opt_out(out, now=now)
    db.session.commit()
    job = _import(db, merchant, "手机,退订\n13800138000,否\n13800138001,是\n".encode())
    assert (job.updated, job.imported) == (1, 1)
    assert db.session.get(Member, out.id).opted_out
    assert db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800138001")).opted_out_at is not None


def test_an_import_keeps_the_stop_of_a_number_that_was_no_member(db, merchant, now):
    from mcrm.members.services import opt_out_number
    opt_out_number(merchant, "13800138002", now=now, channel="sms")
    db.session.commit()
    job = _import(db, merchant, "手机,姓名,退订\n13800138002,赵六,否\n13800138003,钱七,否\n".encode())
    assert job.imported == 2
    stopped, other = (db.session.scalar(sa.select(Member).where(Member.msisdn == f"+86{n}"))
                      for n in ("13800138002", "13800138003"))
    assert stopped.opted_out and stopped.opted_out_at == now
    assert not other.opted_out


def test_a_mapping_without_the_number_column_is_refused(db, merchant):
    job = csv_io.create_import(merchant, staff_id=None, filename="x.csv", data="姓名\n张三\n".encode())
    with pytest.raises(csv_io.ValidationError, match="mobile number"):
        csv_io.start_import(job, {"0": "name"})


@pytest.mark.parametrize("language,invalid_number,headers", [("en", "Not a valid phone number", ["Line", "Reason"]),
                                                                ("zh", "不是有效的手机号码", ["行号", "原因"])])
def test_the_console_import_runs_in_the_background_and_reports_bad_lines(client, login, db, make_member, language,
                                                                         invalid_number, headers):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language  # the reasons are in the importer's language
    make_member(msisdn="13900139000")
    login("manager")
    response = client.post("/members/import", data={
        "csrf_token": csrf_token(client, "/members/import"), "file": (io.BytesIO(GBK_FILE), "会员.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    mapping_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<option value="msisdn" selected>' in mapping_page and "gb18030" in mapping_page
    job = db.session.scalar(sa.select(MemberImport))
    form = {f"column-{i}": field for i, field in job.mapping.items()} | {"column-6": "custom"}
    started = client.post(response.headers["Location"], data={"csrf_token": csrf_token(client, "/members/"), **form})
    assert started.status_code == 302

    def finished():
        status = client.get(f"/members/import/{job.id}/status").get_json()["status"]
        # the test's app context outlives requests: end its read so the import thread can write
        db.session.rollback()
        return status == "done"
    wait_until(finished)
    status = client.get(f"/members/import/{job.id}/status").get_json()
    assert (status["total"], status["imported"], status["updated"], status["failed"]) == (8, 2, 1, 5)
    page = client.get(f"/members/import/{job.id}").get_data(as_text=True)
    assert invalid_number in page

    report = client.get(f"/members/import/{job.id}/errors.csv")
    rows = list(csv.reader(io.StringIO(report.get_data().decode("gb18030"))))
    assert rows[0][:3] == [*headers, "手机号"]
    assert [r[0] for r in rows[1:]] == ["3", "4", "5", "7", "8"] and rows[1][2] == "12345"
    assert rows[1][1].startswith(invalid_number)


def test_an_upload_that_is_not_csv_text_is_refused_on_the_form(client, login):
    login("manager")
    response = client.post("/members/import", data={
        "csrf_token": csrf_token(client, "/members/import"), "file": (io.BytesIO(b"\x81\x30\xff\xff"), "x.xlsx")},
        content_type="multipart/form-data")
    assert response.status_code == 200 and "GBK" in response.get_data(as_text=True)


def test_a_clerk_cannot_import(client, login):
    login("clerk")
    response = client.post("/members/import", data={
        "csrf_token": csrf_token(client, "/members/"), "file": (io.BytesIO(GBK_FILE), "x.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 403


def test_export_streams_the_filtered_list_and_imports_back_unchanged(client, login, db, make_member, merchant):
    login("owner")
    for i in range(7):
        make_member(msisdn=f"1380000{i:04d}", name=f"=会员{i}", tags=["常客"] if i % 2 else [], points=i * 10)
    response = client.get("/members/export.csv?tag=常客&sort=points")
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf") and body.count(b"\xef\xbb\xbf") == 1
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Member number", "Mobile", "Name"]
    assert [r[1] for r in rows[1:]] == ["+8613800000005", "+8613800000003", "+8613800000001"]
    assert rows[1][2] == "'=会员5"  # no formula runs when Excel opens it

    gbk = client.get("/members/export.csv?encoding=gb18030").get_data()
    assert len(list(csv.reader(io.StringIO(gbk.decode("gb18030"))))) == 8

    job = _import(db, merchant, body)
    assert (job.imported, job.updated, job.failed) == (0, 3, 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                             .where(PointsEntry.kind == "adjust")) == 0


def test_an_imported_balance_never_overwrites_one_that_moved_meanwhile(db, merchant, make_member, now):
    from mcrm.core.errors import ConflictError
    from mcrm.points.services import import_balances
    member = make_member(points=100)
    with pytest.raises(ConflictError):
        import_balances(merchant, [(member.id, 50, 300)], reason="导入", actor=Actor("test"), now=now)
    db.session.rollback()
    assert db.session.get(Member, member.id).points_balance == 100
    assert import_balances(merchant, [(member.id, 100, 300)], reason="导入", actor=Actor("test"), now=now) == 1
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.sum(PointsEntry.points)).where(PointsEntry.member_id == member.id)) == 300
    db.session.refresh(member)
    assert member.points_balance == 300


def test_an_import_left_running_by_a_restart_says_how_to_finish_it(client, login, db, merchant):
    from datetime import timedelta
    login("manager")
    job = csv_io.create_import(merchant, staff_id=None, filename="x.csv", data=GBK_FILE)
    csv_io.start_import(job, job.mapping)
    db.session.commit()
    assert "data-stalled" not in client.get(f"/members/import/{job.id}").get_data(as_text=True)
    db.session.execute(sa.update(MemberImport).values(status=ImportStatus.RUNNING, processed=3,
                                                      updated_at=now_utc() - timedelta(minutes=11)))
    db.session.commit()
    page = client.get(f"/members/import/{job.id}").get_data(as_text=True)
    assert "data-stalled" in page and "Upload the same file again" in page


def test_a_line_that_would_give_a_member_too_many_tags_fails_alone(db, merchant, make_member):
    member = make_member(msisdn="13800138000", name="原名", tags=[f"t{i}" for i in range(19)])
    rows = ["手机,姓名,标签", "13800138000,新名,甲 乙", "13800138001,新会员,甲", "13800138001,,"
            + " ".join(f"x{i}" for i in range(20))]
    job = _import(db, merchant, "\n".join(rows).encode())
    assert (job.imported, job.updated, job.failed) == (1, 0, 2)
    assert set(_errors(db, job)) == {2, 4} and "20 tags" in _errors(db, job)[2]
    db.session.refresh(member)
    assert member.name == "原名" and len(member.tag_names) == 19


def _export(client, query=""):
    return client.get("/members/export.csv" + query).get_data()


def _rows(body):
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_export_imports_into_an_empty_merchant_and_exports_again_the_same(
        app, client, login, db, merchant, make_merchant, make_member, make_staff, now, language):
    from mcrm.members.services import opt_out, update_member
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    people = [("13800138000", "张三", "m", "19900315", ["VIP", "常客"], {"车牌": "沪A12345", "备注": "靠窗"}, 1200, True),
              ("13800138001", "=Zhang, \"Wei\"", "f", "农历0815", [], {"备注": "-辣"}, 0, False),
              ("13800138002", "", "u", "0229", ["午餐"], {}, 35, False),
              ("+447911123456", "Anna", "f", "", [], {"车牌": "粤B1"}, 7, True)]
    for msisdn, name, gender, birthday, tags, custom, points, opted_out in people:
        member = make_member(msisdn=msisdn, name=name, gender=gender, birthday=birthday or None, tags=tags,
                             custom_fields=custom, points=points)
        if opted_out:
            opt_out(member, now=now)
        update_member(member, total_spend=88)
    db.session.commit()
    login("owner")
    first = _export(client)

    empty = make_merchant()
    job = _import(db, empty, first)
    assert (job.imported, job.updated, job.failed) == (4, 0, 0)
    other = app.test_client()  # the empty merchant's owner
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    manager = make_staff("owner", merchant=empty)
    assert other.post("/login", data={"username": manager.username, "password": "correct-horse-1",
                                      "csrf_token": csrf_token(other)}).status_code == 302
    again = _export(other)

    before, after = _rows(first), _rows(again)
    assert before[0] == after[0] and len(before) == len(after) == 5
    # mcrm's own bookkeeping is the empty merchant's: member number, tier, spend, visits, joined
    own = {0, 7, 8, 9, 10}
    mine = lambda rows: sorted([cell for i, cell in enumerate(row) if i not in own] for row in rows[1:])  # noqa: E731
    assert mine(before) == mine(after)
    header = before[0]
    zhang = next(row for row in before[1:] if row[1] == "+8613800138000")
    if language == "zh":
        assert header[:7] == ["会员号", "手机号", "姓名", "性别", "生日", "标签", "积分"]
        assert "自定义：车牌" in header and (zhang[3], zhang[11]) == ("男", "是")
    else:
        assert header[:7] == ["Member number", "Mobile", "Name", "Gender", "Birthday", "Tags", "Points"]
        assert "Custom: 车牌" in header and (zhang[3], zhang[11]) == ("Male", "Yes")
    assert zhang[0] == db.session.scalar(sa.select(Member).where(Member.msisdn == "+8613800138000",
                                                                 Member.merchant_id == merchant.id)).member_no
    assert zhang[header.index("自定义：车牌" if language == "zh" else "Custom: 车牌")] == "沪A12345"


def test_a_file_without_a_header_line_is_noticed(db, merchant):
    data = "13800138000,张三\n13800138001,李四\n".encode()
    with pytest.raises(csv_io.ValidationError, match=r"looks like a member \(13800138000\), not column names"):
        csv_io.create_import(merchant, staff_id=None, filename="x.csv", data=data)
    job = csv_io.create_import(merchant, staff_id=None, filename="x.csv", data=data, header=False)
    assert job.headers == ["#1", "#2"] and job.total_lines == 2 and job.mapping == {"0": "msisdn", "1": "ignore"}
    csv_io.start_import(job, {"0": "msisdn", "1": "name"})
    db.session.commit()
    csv_io.run_import(job, merchant, actor=Actor("test"), region="CN", clock=now_utc)
    assert (job.imported, job.failed) == (2, 0)
    assert sorted(db.session.scalars(sa.select(Member.name))) == ["张三", "李四"]


def test_the_upload_page_offers_a_first_line_that_is_a_member(client, login, db):
    login("manager")
    data = "13800138000,张三\n".encode()
    refused = client.post("/members/import", data={"csrf_token": csrf_token(client, "/members/import"),
                                                   "file": (io.BytesIO(data), "x.csv")},
                          content_type="multipart/form-data")
    assert refused.status_code == 200 and "looks like a member" in refused.get_data(as_text=True)
    taken = client.post("/members/import", data={"csrf_token": csrf_token(client, "/members/import"),
                                                 "file": (io.BytesIO(data), "x.csv"), "first_line_is_data": "y"},
                        content_type="multipart/form-data")
    assert taken.status_code == 302
    assert db.session.scalar(sa.select(MemberImport.total_lines)) == 1


def test_a_line_with_a_nul_fails_alone_and_is_in_the_error_report(client, login, db, merchant):
    """PostgreSQL text refuses NUL: such a line failed its whole batch there (so the whole file)."""
    data = "手机,姓名,备注\n13800138000,张\x00三,\n13800138001,李四,靠\x1b窗\n13800138002,王五,常客\n".encode()
    job = _import(db, merchant, data, mapping={"0": "msisdn", "1": "name", "2": "custom"})
    assert (job.status, job.imported, job.failed) == (ImportStatus.DONE, 1, 2)
    assert set(_errors(db, job)) == {2, 3} and "control character" in _errors(db, job)[2]
    assert db.session.scalars(sa.select(Member.name)).all() == ["王五"]
    login("manager")
    report = client.get(f"/members/import/{job.id}/errors.csv").get_data().decode("utf-8-sig")
    reasons = _errors(db, job)
    assert list(csv.reader(io.StringIO(report)))[1:] == [["2", reasons[2], "13800138000", "张\ufffd三", ""],
                                                       ["3", reasons[3], "13800138001", "李四", "靠\ufffd窗"]]


@pytest.mark.parametrize("message, chinese", [
    (csv_io.DISCARDED_BY_ERASURE, "文件已丢弃：其中含有一位已应要求删除资料的会员的号码"),
    ("The import stopped on an unexpected error; the lines counted so far are in.", "导入因意外错误中止"),
])
def test_a_failed_imports_message_is_shown_in_the_readers_language(client, login, db, merchant, message, chinese):
    now = now_utc()
    job = MemberImport(merchant_id=merchant.id, encoding="utf-8", status=ImportStatus.FAILED, message=message,
                       created_at=now, updated_at=now, finished_at=now)
    db.session.add(job)
    db.session.commit()
    login("manager")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = client.get(f"/members/import/{job.id}").get_data(as_text=True)
    assert chinese in page and message not in page
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert message in client.get(f"/members/import/{job.id}").get_data(as_text=True)
