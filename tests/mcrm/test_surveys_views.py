"""The survey console over HTTP: building a survey and its questions (managers and owners), reading
its results and CSV (every role, numbers masked for a clerk), CSRF, and another merchant's surveys
(404 on every route, never shown)."""
import csv
import io

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.surveys import services
from mcrm.surveys.models import Survey, SurveyQuestion
from tests.conftest import csrf_token


def _survey(merchant, **fields):
    fields.setdefault("code", "Q1")
    fields.setdefault("title", "满意度")
    fields.setdefault("intro", "小馆满意度调查，3题。")
    survey = services.create_survey(merchant, **fields)
    services.add_question(survey, kind="single", text="1.菜品如何？A好吃 B一般 C难吃", options=["好吃", "一般", "难吃"],
                          branches="C=3")
    services.add_question(survey, kind="rating5", text="2.服务打几分？1-5")
    services.add_question(survey, kind="text", text="3.有什么建议？")
    db.session.commit()
    return survey


def _post(client, url, form_url=None, **data):
    data["csrf_token"] = csrf_token(client, form_url or url)
    return client.post(url, data=data)


def _positions(survey):
    return [(q.position, q.text[:2], q.branches) for q in services.list_questions(survey)]


def test_a_manager_builds_a_survey_with_its_questions_and_opens_it(client, login, merchant):
    login("manager")
    response = _post(client, "/surveys/new", code="q7", title="口味", intro="口味调查，2题。", thanks="谢谢！",
                     opens_at="2030-11-21T09:00", timeout_hours="12", max_reasks="1", reward_points="20",
                     extension="71")
    survey = db.session.scalars(sa.select(Survey)).one()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/surveys/{survey.id}")
    assert (survey.code, survey.timeout_hours, survey.max_reasks, survey.reward_points, survey.extension) == \
        ("q7", 12, 1, 20, "71")
    assert survey.opens_at.isoformat() == "2030-11-21T01:00:00+00:00"   # 09:00 in Shanghai
    url = f"/surveys/{survey.id}/questions/new"
    assert _post(client, url, kind="single", text="1.口味？A咸 B淡 C正好", options="咸\n淡\n正好\n",
                 branches="C=3").status_code == 302
    assert _post(client, url, kind="number", text="2.每月来几次？").status_code == 302
    assert _post(client, url, kind="text", text="3.建议？").status_code == 302
    assert _positions(survey) == [(1, "1.", {"C": 3}), (2, "2.", {}), (3, "3.", {})]
    first = services.list_questions(survey)[0]
    edit_url = f"/surveys/{survey.id}/questions/{first.id}"
    assert "咸\n淡\n正好" in client.get(edit_url).get_data(as_text=True)
    assert _post(client, edit_url, kind="multiple", text="1.喜欢？A咸 B淡", options="咸\n淡").status_code == 302
    db.session.refresh(first)
    assert (first.kind, first.options, first.branches) == ("multiple", ["咸", "淡"], {})
    page = client.get(f"/surveys/{survey.id}").get_data(as_text=True)
    assert "1.喜欢？A咸 B淡" in page and "2030-11-21T09:00" in page
    assert _post(client, f"/surveys/{survey.id}/state", f"/surveys/{survey.id}", active="1").status_code == 302
    db.session.refresh(survey)
    assert survey.is_active
    assert "DC q7" in client.get("/surveys/").get_data(as_text=True)


def test_a_code_shows_as_typed_and_matches_texts_in_any_case(client, login, merchant, now):
    login("manager")
    response = _post(client, "/surveys/new", code="Ｑ7a", title="口味", intro="口味调查")
    survey = db.session.scalars(sa.select(Survey)).one()
    assert "Survey Q7a created" in client.get(response.headers["Location"]).get_data(as_text=True)
    response = _post(client, f"/surveys/{survey.id}", code="Q7A", title="口味", intro="口味调查",
                     timeout_hours="24", max_reasks="2", reward_points="0")
    assert "Survey Q7A saved" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert "DC Q7A" in client.get("/surveys/").get_data(as_text=True)
    services.set_survey_active(survey, True)
    assert services.find_active_survey(merchant, "ｑ７ａ", now=now) == survey
    assert services.find_survey_by_code(merchant, "q7a") == survey
    with pytest.raises(ValidationError, match="already uses the code"):
        services.create_survey(merchant, code="q7A", title="又一个", intro="调查")


def test_questions_reorder_and_remove_with_their_branches(client, login, merchant):
    login("owner")
    survey = _survey(merchant)
    second, third = services.list_questions(survey)[1:]
    url = f"/surveys/{survey.id}"
    _post(client, f"{url}/questions/{third.id}/move", url, direction="up")
    assert _positions(survey) == [(1, "1.", {"C": 2}), (2, "3.", {}), (3, "2.", {})]
    _post(client, f"{url}/questions/{third.id}/delete", url)
    assert _positions(survey) == [(1, "1.", {"C": 2}), (2, "2.", {})]
    assert db.session.get(SurveyQuestion, third.id) is None and db.session.get(SurveyQuestion, second.id)


def test_once_started_a_survey_keeps_its_questions_order_and_kinds(client, login, merchant, now):
    login("owner")
    survey = _survey(merchant, is_active=True)
    first, second, third = services.list_questions(survey)
    url = f"/surveys/{survey.id}"
    assert "↑" in client.get(url).get_data(as_text=True)
    services.start_survey(merchant, msisdn="+8613800138001", now=now, survey=survey)   # nothing answered yet
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert "People have started this survey" in page and "↑" not in page and "/delete" not in page
    for refused in ({"path": f"{url}/questions/{third.id}/move", "direction": "up"},
                    {"path": f"{url}/questions/{second.id}/delete"},
                    {"path": f"{url}/questions/{second.id}", "kind": "rating10", "text": second.text},
                    {"path": f"{url}/questions/{first.id}", "kind": "single", "text": first.text,
                     "options": "好吃\n一般"}):
        path = refused.pop("path")
        response = _post(client, path, url if "move" in path or "delete" in path else path, **refused)
        page = response.get_data(as_text=True) if response.status_code == 200 else client.get(url).get_data(
            as_text=True)
        assert "People have started this survey" in page, path
    assert _positions(survey) == [(1, "1.", {"C": 3}), (2, "2.", {}), (3, "3.", {})]
    assert [q.kind for q in services.list_questions(survey)] == ["single", "rating5", "text"]
    # rewording, a new option and a question at the end change no answer's meaning
    assert _post(client, f"{url}/questions/{first.id}", kind="single", text="1.菜品？A好吃 B一般 C难吃 D没吃",
                 options="好吃\n一般\n难吃\n没吃", branches="C=3").status_code == 302
    assert _post(client, f"{url}/questions/new", kind="number", text="4.几位？").status_code == 302
    assert _positions(survey) == [(1, "1.", {"C": 3}), (2, "2.", {}), (3, "3.", {}), (4, "4.", {})]


def test_a_move_that_would_branch_backwards_is_refused_and_changes_nothing(client, login, merchant):
    login("owner")
    survey = _survey(merchant)
    first, second = services.list_questions(survey)[:2]
    services.update_question(survey, first.id, kind="single", text=first.text, options=first.options, branches="C=2")
    db.session.commit()
    url = f"/surveys/{survey.id}"
    response = _post(client, f"{url}/questions/{second.id}/move", url, direction="up")
    assert response.status_code == 302
    assert "A branch would lead back to an earlier question" in client.get(url).get_data(as_text=True)
    assert _positions(survey) == [(1, "1.", {"C": 2}), (2, "2.", {}), (3, "3.", {})]


def test_bad_input_is_refused_with_why_and_keeps_what_was_typed(client, login, merchant):
    login("manager")
    _survey(merchant, code="Q1")
    page = _post(client, "/surveys/new", code="q1", intro="又一个调查").get_data(as_text=True)
    assert "Another survey already uses the code q1" in page and "又一个调查" in page
    assert db.session.scalar(sa.select(sa.func.count(Survey.id))) == 1
    survey = db.session.scalars(sa.select(Survey)).one()
    page = _post(client, f"/surveys/{survey.id}/questions/new", kind="single", text="4.再来？A会",
                 options="会").get_data(as_text=True)
    assert "A choice question needs 2 to 10 options" in page and "4.再来？A会" in page
    page = _post(client, f"/surveys/{survey.id}/questions/new", kind="single", text="4.再来？A会 B不会",
                 options="会\n不会", branches="A=2").get_data(as_text=True)
    assert "A branch must name an option and lead to a later question" in page
    assert len(services.list_questions(survey)) == 3


def test_the_forms_need_the_csrf_token(client, login, merchant):
    login("owner")
    survey = _survey(merchant)
    question = services.list_questions(survey)[0]
    for url in ("/surveys/new", f"/surveys/{survey.id}", f"/surveys/{survey.id}/state",
                f"/surveys/{survey.id}/questions/new", f"/surveys/{survey.id}/questions/{question.id}/delete"):
        assert client.post(url, data={"code": "Q9", "intro": "x", "active": "1", "kind": "text",
                                      "text": "x"}).status_code == 400, url
    db.session.refresh(survey)
    assert not survey.is_active and len(services.list_questions(survey)) == 3


def _routes(survey, question):
    base = f"/surveys/{survey.id}"
    gets = [base, f"{base}/results", f"{base}/answers.csv", f"{base}/questions/new",
            f"{base}/questions/{question.id}"]
    posts = [base, f"{base}/state", f"{base}/questions/new", f"{base}/questions/{question.id}",
             f"{base}/questions/{question.id}/delete", f"{base}/questions/{question.id}/move"]
    return gets, posts


def test_a_clerk_reads_results_but_builds_nothing(client, login, merchant):
    login("clerk")
    survey = _survey(merchant)
    question = services.list_questions(survey)[0]
    assert client.get("/surveys/").status_code == 200
    assert client.get(f"/surveys/{survey.id}/results").status_code == 200
    assert client.get(f"/surveys/{survey.id}/answers.csv").status_code == 403   # member data: owners
    gets, posts = _routes(survey, question)
    token = csrf_token(client, "/surveys/")
    assert client.get("/surveys/new").status_code == 403
    for url in gets[:1] + gets[3:]:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert client.post(url, data={"csrf_token": token, "active": "1"}).status_code == 403, url
    page = client.get("/surveys/").get_data(as_text=True)
    assert "/surveys/new" not in page and f"/surveys/{survey.id}/results" in page


def test_another_merchants_survey_is_not_found_on_every_route(client, login, merchant, make_merchant):
    other = make_merchant()
    survey = _survey(other, code="X1", title="别家调查")
    question = services.list_questions(survey)[0]
    login("owner")
    token = csrf_token(client, "/surveys/")
    gets, posts = _routes(survey, question)
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        response = client.post(url, data={"csrf_token": token, "active": "1", "code": "X2", "intro": "改了",
                                          "kind": "text", "text": "改了", "direction": "up"})
        assert response.status_code == 404, url
    assert "别家调查" not in client.get("/surveys/").get_data(as_text=True)
    db.session.refresh(survey)
    assert (survey.code, survey.is_active, len(services.list_questions(survey))) == ("X1", False, 3)
    # a question of another survey under one's own survey's address is not found either
    own = _survey(merchant)
    assert client.get(f"/surveys/{own.id}/questions/{question.id}").status_code == 404


def _answered(merchant, survey, now):
    for msisdn, replies in (("+8613800138001", ["A", "4", "=SUM(A1)"]), ("+8613800138002", ["C", "<b>好</b>"]),
                            ("+8613800138003", [])):
        session, _resumed = services.start_survey(merchant, msisdn=msisdn, now=now, survey=survey)
        for reply in replies:
            services.record_answer(session, reply, now=now)
    db.session.commit()


def test_the_results_page_shows_rates_charts_and_free_text(client, login, merchant, now):
    survey = _survey(merchant, is_active=True)
    _answered(merchant, survey, now)
    login("clerk")
    page = client.get(f"/surveys/{survey.id}/results").get_data(as_text=True)
    assert 'data-figure="started">3<' in page
    assert 'data-figure="answered">2 (66.7%)' in page and 'data-figure="completed">2 (66.7%)' in page
    assert page.count("<svg") == 2 and "<script" not in page.split("<main")[-1] and "cdn" not in page.lower()
    assert "A 好吃" in page and "&lt;b&gt;好&lt;/b&gt;" in page and "=SUM(A1)" in page


@pytest.mark.parametrize("role", ["manager", "clerk"])
def test_only_owners_download_the_answers(client, login, merchant, role):
    login(role)
    assert client.get(f"/surveys/{_survey(merchant).id}/answers.csv").status_code == 403


def test_the_answers_csv_streams_every_answer_and_is_audited(client, login, merchant, now, db):
    from mcrm.audit.models import AuditEntry
    survey = _survey(merchant, is_active=True)
    _answered(merchant, survey, now)
    owner = login("owner")
    shown = "+8613800138001"
    response = client.get(f"/surveys/{survey.id}/answers.csv")
    assert response.headers["Content-Disposition"].startswith(f"attachment; filename=survey-{survey.code}-")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["Mobile", "Started", "Completed", "Question", "Text sent", "Answer", "Received"]
    assert [(r[0], r[3], r[5]) for r in rows[1:]] == [
        (shown, "1", "A"), (shown, "2", "4"), (shown, "3", "'=SUM(A1)"),
        ("+8613800138002", "1", "C"), ("+8613800138002", "3", "<b>好</b>")]
    assert rows[1][1] == "2026-11-20 12:00"   # Shanghai time
    [entry] = db.session.query(AuditEntry).all()
    assert (entry.action, entry.staff_id, entry.target) == ("export.survey_answers", owner.id, f"survey {survey.id}")


def test_the_nav_links_the_surveys(client, login):
    login("clerk")
    assert 'href="/surveys/"' in client.get("/surveys/").get_data(as_text=True)


def test_the_builder_speaks_chinese_with_its_refusals(client, login, merchant):
    login("manager")
    client.post("/language/zh", data={"csrf_token": csrf_token(client, "/surveys/"), "next": "/surveys/"})
    _survey(merchant, code="Q1")
    page = _post(client, "/surveys/new", code="q1", intro="又一个调查").get_data(as_text=True)
    assert "另一份问卷已使用代码 q1" in page and "开场白" in page and ">问卷调查</a>" in page
