"""An invitation campaign: a survey's opening follows the text, every recipient the message goes to
gets a session so that their reply is the first answer, the campaign rules still hold, and the report
counts responses and completions."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.campaigns.models import Campaign, CampaignStatus
from mcrm.core.errors import ValidationError
from mcrm.surveys.models import SurveySession
from mcrm.surveys.services import add_question, create_survey, set_survey_active
from tests.mcrm.campaigns.conftest import outbox
from tests.mcrm.keywords_support import phone  # noqa: F401  (fixture)

INTRO = "小馆调查，2题。"
Q1 = "1.菜品如何？A好吃 B一般"
Q2 = "2.会再来吗？A会 B不会"


@pytest.fixture
def survey(db, merchant):
    made = create_survey(merchant, code="Q1", title="满意度", intro=INTRO, thanks="谢谢！", is_active=True)
    add_question(made, kind="single", text=Q1, options=["好吃", "一般"])
    add_question(made, kind="single", text=Q2, options=["会", "不会"])
    db.session.commit()
    return made


def sessions(db):
    db.session.expire_all()
    return db.session.execute(sa.select(SurveySession.msisdn, SurveySession.occasion, SurveySession.finished_at)
                              .order_by(SurveySession.id)).all()


def test_the_invitation_carries_the_opening_and_the_reply_is_the_first_answer(db, merchant, make_member, launch,
                                                                              survey, phone, now):
    for n in range(2):
        make_member(msisdn=f"1380000000{n}", name=f"会员{n}")
    make_member(msisdn="13800000009", opted_out=True)
    campaign = launch("{name}您好，请参加调查", survey_id=survey.id)
    services.dispatch_due(now=now)
    sent = [(row.msisdn, row.text) for row in outbox(db, campaign) if row.suppressed_reason is None]
    assert sent == [(f"+86138000000{n:02d}", f"【小王烧烤】会员{n}您好，请参加调查\n{INTRO}\n{Q1}回T退订")
                    for n in range(2)]
    occasion = campaign.runs[0].occasion
    # the opted-out member got nothing, so no session either
    assert [(msisdn, of) for msisdn, of, _ in sessions(db)] == [("+8613800000000", occasion),
                                                                 ("+8613800000001", occasion)]

    assert phone.text("A", msisdn="13800000000", now=now + timedelta(minutes=5)) == [Q2]
    report = services.campaign_report(db.session.get(Campaign, campaign.id), now=now)
    assert (report.survey_invited, report.survey_responses, report.survey_completions) == (2, 1, 0)
    assert phone.text("会", msisdn="13800000000", now=now + timedelta(minutes=6)) == ["谢谢！"]
    report = services.campaign_report(db.session.get(Campaign, campaign.id), now=now)
    assert (report.survey_invited, report.survey_responses, report.survey_completions) == (2, 1, 1)


def test_the_invitation_ends_the_numbers_open_session_of_another_survey(db, merchant, make_member, launch,
                                                                        survey, phone, now):
    other = create_survey(merchant, code="Q2", title="口味", intro="口味调查", is_active=True)
    add_question(other, kind="text", text="想吃什么？")
    db.session.commit()
    make_member(msisdn="13800000000")
    phone.text("DC Q2", msisdn="13800000000", now=now - timedelta(minutes=1))
    launch("请参加调查", survey_id=survey.id)
    services.dispatch_due(now=now)
    first, invited = sessions(db)
    assert first.finished_at is not None and invited.finished_at is None and invited.occasion
    # the reply answers the invitation's question, not the other survey's
    assert phone.text("B", msisdn="13800000000", now=now + timedelta(minutes=1)) == [Q2]


def test_a_closed_survey_is_refused_at_launch_and_pauses_a_run_after_it(db, merchant, make_member, survey, now):
    make_member(msisdn="13800000000")
    set_survey_active(survey, False)
    figures = services.preview(merchant, body="请参加", survey_id=survey.id, now=now)
    assert [p.message for p in figures.problems] == [
        "The survey Q1 is not open: open it before inviting to it"]
    campaign = services.create_campaign(merchant, name="邀请", body="请参加", survey_id=survey.id, now=now)
    with pytest.raises(ValidationError, match="not open"):
        services.launch_campaign(campaign, now=now)

    set_survey_active(survey, True)
    services.launch_campaign(campaign, now=now)
    set_survey_active(survey, False)   # closed between the launch and the run
    db.session.commit()
    services.dispatch_due(now=now)
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.PAUSED
    assert outbox(db) == [] and sessions(db) == []


def test_another_merchants_survey_cannot_be_invited_to(db, merchant, make_merchant, survey, now):
    other = make_merchant(name="别家", sub_code="02")
    with pytest.raises(ValidationError, match="No such survey"):
        services.create_campaign(other, name="x", body="请参加", survey_id=survey.id, now=now)


def test_the_cli_invites_by_the_surveys_code(runner, db, merchant, make_member, survey):
    make_member(msisdn="13800000001")
    result = runner.invoke(args=["campaign", "create", "--merchant", "01", "--name", "邀请", "--text", "请参加",
                                 "--survey", "q1"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(Campaign.survey_id)) == survey.id
    unknown = runner.invoke(args=["campaign", "create", "--merchant", "01", "--name", "x", "--text", "请参加",
                                  "--survey", "ZZ"])
    assert unknown.exit_code == 2 and "No survey has the code ZZ" in unknown.output
