"""Survey results of a saved segment's members (page, CSV and XLSX), and the XLSX export: the CSV's
columns, numbers masked for a clerk, texted formulas kept as text, another merchant's segment 404."""
import csv
import io
import re
import zipfile
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from mcrm.audit.models import AuditAction, AuditEntry
from mcrm.extensions import db
from mcrm.segments.services import save_segment
from mcrm.surveys import services

NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
FIRST, SECOND = "+8613800138001", "+8613800138002"


@pytest.fixture
def survey(merchant, make_member, now):
    made = services.create_survey(merchant, code="Q1", title="满意度", intro="调查", is_active=True)
    services.add_question(made, kind="single", text="1.菜品如何？A好吃 B一般 C难吃", options=["好吃", "一般", "难吃"],
                          branches="C=3")
    services.add_question(made, kind="rating5", text="2.服务打几分？1-5")
    services.add_question(made, kind="text", text="3.有什么建议？")
    make_member(msisdn=FIRST, gender="f")
    make_member(msisdn=SECOND, gender="m")
    for msisdn, replies in ((FIRST, ["A", "4", "=SUM(A1)"]), (SECOND, ["C", "<b>好</b>"]),
                            ("+8613800138003", [])):
        session, _resumed = services.start_survey(merchant, msisdn=msisdn, now=now, survey=made)
        for reply in replies:
            services.record_answer(session, reply, now=now)
    db.session.commit()
    return made


@pytest.fixture
def women(merchant, now):
    segment = save_segment(merchant.id, name="女士", now=now,
                           definition={"op": "and", "items": [{"type": "gender", "genders": ["f"]}]})
    db.session.commit()
    return segment


def sheet_rows(data: bytes) -> list[list]:
    """The first sheet's cells, row by row: texts as str, numbers as float, and whether any is a formula."""
    sheet = ElementTree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml"))
    assert sheet.find(".//x:f", NS) is None, "a cell is a formula"
    rows = []
    for row in sheet.iterfind(".//x:sheetData/x:row", NS):
        cells = {}
        for cell in row.iterfind("x:c", NS):
            column = ord(re.match(r"[A-Z]", cell.get("r")).group()) - ord("A")
            cells[column] = (cell.find("x:is/x:t", NS).text if cell.get("t") == "inlineStr"
                             else float(cell.find("x:v", NS).text))
        rows.append([cells.get(n, "") for n in range(max(cells) + 1)])
    return rows


def xlsx(client, url):
    """The response and its bytes; closed, as a server closes it, so its temporary file goes."""
    response = client.get(url)
    data = response.get_data()
    response.close()
    return response, data


def test_the_results_page_counts_the_segments_members_only(client, login, survey, women):
    login("owner")
    page = client.get(f"/surveys/{survey.id}/results?segment={women.id}").get_data(as_text=True)
    assert 'data-figure="started">1<' in page and 'data-figure="completed">1 (100.0%)' in page
    assert f'<option value="{women.id}" selected>' in page
    assert f"/surveys/{survey.id}/answers.xlsx?segment={women.id}" in page
    assert f"/surveys/{survey.id}/answers.csv?segment={women.id}" in page
    everyone = client.get(f"/surveys/{survey.id}/results").get_data(as_text=True)
    assert 'data-figure="started">3<' in everyone


def test_the_csv_of_a_segment_has_its_members_answers_only(client, login, survey, women):
    login("owner")
    response = client.get(f"/surveys/{survey.id}/answers.csv?segment={women.id}")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [(r[0], r[3], r[5]) for r in rows[1:]] == [(FIRST, "1", "A"), (FIRST, "2", "4"), (FIRST, "3", "'=SUM(A1)")]


@pytest.mark.parametrize("role", ["manager", "clerk"])
def test_the_exports_are_member_data_for_owners_only(client, login, survey, role):
    login(role)
    assert "answers.xlsx" not in client.get(f"/surveys/{survey.id}/results").get_data(as_text=True)
    for url in ("answers.csv", "answers.xlsx"):
        assert client.get(f"/surveys/{survey.id}/{url}").status_code == 403, url


def test_the_xlsx_has_the_csvs_columns_and_texts_never_run(client, login, survey):
    login("owner")
    first, second = FIRST, SECOND
    response, data = xlsx(client, f"/surveys/{survey.id}/answers.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename=survey-Q1-" in response.headers["Content-Disposition"]
    rows = sheet_rows(data)
    assert rows[0] == ["Mobile", "Started", "Completed", "Question", "Text sent", "Answer", "Received"]
    assert [(r[0], r[3], r[4], r[5]) for r in rows[1:]] == [
        (first, 1.0, "A", "A"), (first, 2.0, "4", "4"), (first, 3.0, "=SUM(A1)", "=SUM(A1)"),
        (second, 1.0, "C", "C"), (second, 3.0, "<b>好</b>", "<b>好</b>")]
    assert rows[1][1] == rows[1][6] == "2026-11-20 12:00"   # Shanghai time, as in the CSV
    assert [(e.action, e.target, e.details["file_format"]) for e in db.session.scalars(sa.select(AuditEntry))] == [
        (AuditAction.EXPORT_SURVEY_ANSWERS, f"survey {survey.id}", "xlsx")]


def test_the_xlsx_of_a_segment_and_another_merchants_segment(client, login, survey, women, make_merchant, now):
    login("owner")
    rows = sheet_rows(xlsx(client, f"/surveys/{survey.id}/answers.xlsx?segment={women.id}")[1])
    assert {r[0] for r in rows[1:]} == {FIRST}
    other = make_merchant(name="别家", sub_code="02")
    theirs = save_segment(other.id, name="全部", now=now, definition={"op": "and", "items": []})
    db.session.commit()
    for url in ("results", "answers.csv", "answers.xlsx"):
        assert client.get(f"/surveys/{survey.id}/{url}?segment={theirs.id}").status_code == 404, url


def test_the_results_of_a_segment_by_a_number_answer_to_another_survey(client, login, merchant, survey, now):
    """Those who said they buy at least 3 jin (a number question of another survey, where one
    answer is skipped, whose empty text is no number on either database) and their answers here."""
    weighed = services.create_survey(merchant, code="W1", title="斤数", intro="调查", is_active=True, max_reasks=0)
    services.add_question(weighed, kind="number", text="买几斤？")
    for msisdn, reply in ((FIRST, "2斤"), (SECOND, "3.5斤"), ("+8613800138003", "不知道")):
        session, _resumed = services.start_survey(merchant, msisdn=msisdn, now=now, survey=weighed)
        services.record_answer(session, reply, now=now)
    question = services.list_questions(weighed)[0]
    buyers = save_segment(merchant.id, name="买3斤以上", now=now, definition={
        "op": "and", "items": [{"type": "survey_number", "question_id": question.id, "min": 3}]})
    db.session.commit()
    login("owner")
    page = client.get(f"/surveys/{survey.id}/results?segment={buyers.id}").get_data(as_text=True)
    assert 'data-figure="started">1<' in page and 'data-figure="completed">1 (100.0%)' in page
    lines = client.get(f"/surveys/{survey.id}/answers.csv?segment={buyers.id}").get_data(as_text=True)
    assert {row[0] for row in list(csv.reader(io.StringIO(lines.lstrip("\ufeff"))))[1:]} == {SECOND}
